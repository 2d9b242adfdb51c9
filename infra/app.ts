/**
 * `npx cdk synth|deploy`: the exodetect stack, configured by context
 * (`-c key=value` or cdk.json; keys in infra/context.ts and docs/deploy.md),
 * with cdk-nag AwsSolutions checks on every synthesis.
 *
 *   npx cdk deploy -c notificationEmail=a@b.org -c trainingDataset=visn -c useKmsKey=true
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackPropsFromContext } from './context.js';
import { ExodetectStack } from './exodetect-stack.js';

const app = new App();
const read = (key: string): unknown => app.node.tryGetContext(key);

new ExodetectStack(app, String(read('stackName') ?? 'Exodetect'), {
  description: 'exodetect: find, count and size exosomes in TEM micrographs (S3, Step Functions, Lambda, SageMaker)',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  ...stackPropsFromContext(read),
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
