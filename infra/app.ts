/**
 * `npx cdk synth|deploy`: the exodetect stack, configured by context
 * (`-c key=value` or cdk.json), with cdk-nag AwsSolutions checks on.
 *
 *   -c stackName=Exodetect -c notificationEmail=a@b.org,c@d.org -c useKmsKey=true
 *   -c mapMaxConcurrency=50 -c toleratedFailurePercentage=10 -c detectItemsPerBatch=8 -c detectMemoryMb=3538
 *   -c trainingDataset=visn -c trainingSchedule="cron(0 3 ? * SUN *)" -c trainingScheduleEnabled=true
 *   -c trainingInstanceType=ml.g4dn.xlarge -c trainingMaxRuntimeHours=4 -c trainingMaxWaitHours=8
 *   -c trainingHyperparameters='{"epochs":"60"}'
 */
import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ExodetectStack } from './exodetect-stack.js';
import { PropsError } from './validation.js';

const app = new App();
const ctx = (key: string): string | undefined => {
  const value = app.node.tryGetContext(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
};
const num = (key: string): number | undefined => {
  const raw = ctx(key);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new PropsError(`context ${key} must be a number, got ${JSON.stringify(raw)}`);
  return value;
};
const bool = (key: string): boolean | undefined => {
  const raw = ctx(key);
  if (raw === undefined) return undefined;
  if (raw !== 'true' && raw !== 'false') throw new PropsError(`context ${key} must be true or false, got ${JSON.stringify(raw)}`);
  return raw === 'true';
};
const json = (key: string): Record<string, string> | undefined => {
  const raw = app.node.tryGetContext(key);
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = typeof raw === 'string' ? JSON.parse(raw) : raw;
  if (typeof value !== 'object' || Array.isArray(value)) throw new PropsError(`context ${key} must be a JSON object of strings, got ${JSON.stringify(raw)}`);
  return value as Record<string, string>;
};
const hours = (key: string): Duration | undefined => {
  const h = num(key);
  return h === undefined ? undefined : Duration.minutes(Math.round(h * 60));
};

new ExodetectStack(app, ctx('stackName') ?? 'Exodetect', {
  description: 'exodetect: find, count and size exosomes in TEM micrographs (S3, Step Functions, Lambda, SageMaker)',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  useKmsKey: bool('useKmsKey'),
  notificationEmails: ctx('notificationEmail')?.split(',').map((e) => e.trim()).filter(Boolean),
  mapMaxConcurrency: num('mapMaxConcurrency'),
  toleratedFailurePercentage: num('toleratedFailurePercentage'),
  detectItemsPerBatch: num('detectItemsPerBatch'),
  detectMemoryMb: num('detectMemoryMb'),
  detectReservedConcurrency: num('detectReservedConcurrency'),
  trainingDataset: ctx('trainingDataset'),
  trainingSchedule: ctx('trainingSchedule'),
  trainingScheduleEnabled: bool('trainingScheduleEnabled'),
  trainingInstanceType: ctx('trainingInstanceType'),
  trainingMaxRuntime: hours('trainingMaxRuntimeHours'),
  trainingMaxWait: hours('trainingMaxWaitHours'),
  trainingHyperparameters: json('trainingHyperparameters'),
  trainingImageUri: ctx('trainingImageUri'),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
