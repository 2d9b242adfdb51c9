/**
 * Local SageMaker: the `sagemaker:createTrainingJob.sync` Task runs the
 * training container's entry point (`python -m exodetect_train`) on this
 * machine against a temporary /opt/ml-style tree (SM_BASE_DIR) built from the
 * task's parameters, then uploads model.tar.gz where SageMaker would and
 * answers like DescribeTrainingJob.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listAllKeys, parseS3Uri, type S3Location } from '../lambdas/shared/s3-objects.js';
import { LOCAL_ACCOUNT, LOCAL_REGION, type JsonObject, type JsonValue } from './stepfunctions/definition.js';
import { StatesError } from './stepfunctions/errors.js';
import type { ServiceIntegration } from './stepfunctions/runner.js';

export const CREATE_TRAINING_JOB_SYNC = 'arn:aws:states:::sagemaker:createTrainingJob.sync';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface LocalSageMakerProps {
  readonly s3: S3Client;
  /** Python with torch. Default: /usr/bin/python3 (the only one that sees Debian's torch). */
  readonly python?: string;
  /** The training container's source (cwd and PYTHONPATH). Default: <repo>/training-container. */
  readonly trainingDir?: string;
  /** Where job trees are made. Default: the OS temp folder. */
  readonly workRoot?: string;
  /** Keep the job tree after the job (for debugging). Default: false. */
  readonly keepWorkDir?: boolean;
  /** Extra environment for the trainer (e.g. thread counts). */
  readonly env?: Readonly<Record<string, string>>;
  /** Receives 'log' (line), 'metric' ({name, value, line}) and 'job' ({name, status}; with workDir when it starts, pid once the trainer runs) events. */
  readonly events?: EventEmitter;
}

/** An S3 URI of the job's parameters; a bad one fails as CreateTrainingJob's validation does. */
function jobS3Uri(uri: string): S3Location {
  try {
    return parseS3Uri(uri);
  } catch {
    throw new StatesError('SageMaker.AmazonSageMakerException', `ValidationException: "${uri}" is not an s3:// URI`);
  }
}

export interface Channel {
  readonly ChannelName: string;
  readonly DataSource: { readonly S3DataSource: { readonly S3DataType: string; readonly S3Uri: string } };
}

interface TrainingJobParameters {
  readonly TrainingJobName: string;
  readonly AlgorithmSpecification?: { readonly MetricDefinitions?: { Name: string; Regex: string }[] } & JsonObject;
  readonly InputDataConfig?: Channel[];
  readonly OutputDataConfig: { readonly S3OutputPath: string };
  readonly HyperParameters?: Record<string, string>;
  readonly StoppingCondition?: { readonly MaxRuntimeInSeconds?: number };
  readonly CheckpointConfig?: { readonly S3Uri: string };
  readonly [key: string]: JsonValue | undefined | object;
}

function validate(params: JsonValue): TrainingJobParameters {
  const p = params as Partial<TrainingJobParameters> | null;
  const fail = (why: string) => {
    throw new StatesError('SageMaker.AmazonSageMakerException', `ValidationException: ${why}`);
  };
  if (!p || typeof p !== 'object') fail('CreateTrainingJob parameters must be an object');
  if (typeof p!.TrainingJobName !== 'string' || !/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(p!.TrainingJobName)) {
    fail(`TrainingJobName "${String(p!.TrainingJobName)}" must be 1-63 characters of letters, digits and hyphens`);
  }
  if (typeof p!.OutputDataConfig?.S3OutputPath !== 'string') fail('OutputDataConfig.S3OutputPath is required');
  for (const [k, v] of Object.entries(p!.HyperParameters ?? {})) {
    if (typeof v !== 'string') fail(`HyperParameters.${k} must be a string, got ${JSON.stringify(v)}`);
  }
  return p as TrainingJobParameters;
}

async function download(s3: S3Client, from: S3Location, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  const object = await s3.send(new GetObjectCommand({ Bucket: from.bucket, Key: from.key }));
  await pipeline(object.Body as Readable, createWriteStream(to));
}


/** Relative paths must stay inside the channel folder. */
function safeJoin(root: string, relative: string): string {
  const target = path.resolve(root, relative);
  if (!target.startsWith(path.resolve(root) + path.sep)) throw new StatesError('States.TaskFailed', `manifest entry "${relative}" leaves its channel`);
  return target;
}

/** Downloads a channel as SageMaker's File mode does: S3Prefix keeps paths below the prefix; ManifestFile lists them. */
export async function downloadChannel(s3: S3Client, channel: Channel, dir: string): Promise<number> {
  const source = channel.DataSource?.S3DataSource;
  if (!source) throw new StatesError('SageMaker.AmazonSageMakerException', `ValidationException: channel ${channel.ChannelName} has no S3DataSource`);
  const location = jobS3Uri(source.S3Uri);
  let files: { from: S3Location; relative: string }[];
  if (source.S3DataType === 'S3Prefix') {
    const keys = await listAllKeys(s3, location.bucket, location.key);
    // A prefix that is not a "folder" keeps the part after the last slash of the prefix, as SageMaker does.
    const base = location.key.endsWith('/') || location.key === '' ? location.key : location.key.slice(0, location.key.lastIndexOf('/') + 1);
    files = keys.map((key) => ({ from: { bucket: location.bucket, key }, relative: key.slice(base.length) }));
  } else if (source.S3DataType === 'ManifestFile') {
    const object = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    const manifest = JSON.parse(await object.Body!.transformToString()) as [{ prefix: string }, ...string[]];
    const [head, ...entries] = manifest;
    if (!head || typeof head.prefix !== 'string') {
      throw new StatesError('SageMaker.AmazonSageMakerException', `ValidationException: manifest ${source.S3Uri} must start with {"prefix": "s3://..."}`);
    }
    const prefix = jobS3Uri(head.prefix);
    files = entries.map((relative) => ({ from: { bucket: prefix.bucket, key: `${prefix.key}${relative}` }, relative }));
  } else {
    throw new StatesError('SageMaker.AmazonSageMakerException', `ValidationException: S3DataType ${source.S3DataType} is not supported locally`);
  }
  if (files.length === 0) {
    throw new StatesError('States.TaskFailed', `channel ${channel.ChannelName}: no objects at ${source.S3Uri}`);
  }
  for (const file of files) await download(s3, file.from, safeJoin(dir, file.relative));
  return files.length;
}

async function uploadTree(s3: S3Client, dir: string, to: S3Location): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, file).split(path.sep).join('/');
    await s3.send(new PutObjectCommand({ Bucket: to.bucket, Key: `${to.key.replace(/\/?$/, '/')}${relative}`, Body: await readFile(file) }));
  }
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; onLine: (line: string) => void; onSpawn?: (pid: number) => void },
): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, options.timeoutMs);
    let pending = '';
    const feed = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pending) options.onLine(pending);
      resolve({ code, timedOut });
    });
  });
}

async function tarGz(dir: string, out: string): Promise<void> {
  const entries = await readdir(dir);
  if (entries.length === 0) throw new StatesError('States.TaskFailed', `the trainer wrote nothing to ${dir}`);
  const result = await run('tar', ['-czf', out, '-C', dir, ...entries.sort()], { cwd: dir, env: process.env, timeoutMs: 600_000, onLine: () => undefined });
  if (result.code !== 0) throw new StatesError('States.TaskFailed', `tar of ${dir} failed`);
}

/** Builds the createTrainingJob.sync stand-in. */
export function localTrainingJobIntegration(props: LocalSageMakerProps): ServiceIntegration {
  const python = props.python ?? '/usr/bin/python3';
  const trainingDir = props.trainingDir ?? path.join(REPO_ROOT, 'training-container');
  return async (parameters) => {
    const job = validate(parameters);
    const created = Date.now();
    const base = await mkdtemp(path.join(props.workRoot ?? os.tmpdir(), `sm-${job.TrainingJobName}-`));
    const events = props.events;
    const metrics = new Map<string, { value: number; at: number }>();
    const definitions = (job.AlgorithmSpecification?.MetricDefinitions ?? []).map((d) => ({ name: d.Name, regex: new RegExp(d.Regex) }));
    const describe = (status: 'Completed' | 'Failed' | 'Stopped', extra: JsonObject): JsonObject => ({
      TrainingJobName: job.TrainingJobName,
      TrainingJobArn: `arn:aws:sagemaker:${LOCAL_REGION}:${LOCAL_ACCOUNT}:training-job/${job.TrainingJobName.toLowerCase()}`,
      TrainingJobStatus: status,
      SecondaryStatus: status === 'Stopped' ? 'MaxRuntimeExceeded' : status,
      AlgorithmSpecification: (job.AlgorithmSpecification ?? {}) as JsonObject,
      HyperParameters: job.HyperParameters ?? {},
      InputDataConfig: (job.InputDataConfig ?? []) as unknown as JsonValue,
      OutputDataConfig: job.OutputDataConfig,
      StoppingCondition: (job.StoppingCondition ?? {}) as JsonObject,
      CreationTime: created,
      TrainingStartTime: created,
      TrainingEndTime: Date.now(),
      TrainingTimeInSeconds: Math.round((Date.now() - created) / 1000),
      BillableTimeInSeconds: Math.round((Date.now() - created) / 1000),
      FinalMetricDataList: [...metrics].map(([MetricName, m]) => ({ MetricName, Value: m.value, Timestamp: m.at })),
      ...extra,
    });
    events?.emit('job', { name: job.TrainingJobName, status: 'InProgress', workDir: base });
    try {
      const channelsDir = path.join(base, 'input', 'data');
      for (const channel of job.InputDataConfig ?? []) {
        const n = await downloadChannel(props.s3, channel, path.join(channelsDir, channel.ChannelName));
        events?.emit('log', `channel ${channel.ChannelName}: ${n} files`);
      }
      const configDir = path.join(base, 'input', 'config');
      await mkdir(configDir, { recursive: true });
      await writeFile(path.join(configDir, 'hyperparameters.json'), JSON.stringify(job.HyperParameters ?? {}, null, 2));
      await writeFile(
        path.join(configDir, 'inputdataconfig.json'),
        JSON.stringify(Object.fromEntries((job.InputDataConfig ?? []).map((c) => [c.ChannelName, { TrainingInputMode: 'File' }]))),
      );
      await writeFile(path.join(configDir, 'resourceconfig.json'), JSON.stringify({ current_host: 'algo-1', hosts: ['algo-1'] }));
      for (const sub of ['model', 'output', 'checkpoints']) await mkdir(path.join(base, sub), { recursive: true });
      const checkpoint = job.CheckpointConfig?.S3Uri ? jobS3Uri(job.CheckpointConfig.S3Uri) : undefined;
      if (checkpoint) {
        for (const key of await listAllKeys(props.s3, checkpoint.bucket, checkpoint.key)) {
          await download(props.s3, { bucket: checkpoint.bucket, key }, safeJoin(path.join(base, 'checkpoints'), key.slice(checkpoint.key.replace(/\/?$/, '/').length)));
        }
      }

      const maxRuntime = job.StoppingCondition?.MaxRuntimeInSeconds ?? 86_400;
      const { code, timedOut } = await run(python, ['-m', 'exodetect_train'], {
        cwd: trainingDir,
        // Who stops the command stops the trainer too: a signal to the command alone would leave it running.
        onSpawn: (pid) => events?.emit('job', { name: job.TrainingJobName, status: 'InProgress', workDir: base, pid }),
        timeoutMs: maxRuntime * 1000,
        env: {
          ...process.env,
          ...props.env,
          SM_BASE_DIR: base,
          PYTHONPATH: [trainingDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
          PYTHONUNBUFFERED: '1',
          TRAINING_JOB_NAME: job.TrainingJobName,
        },
        onLine: (line) => {
          events?.emit('log', line);
          for (const d of definitions) {
            const m = d.regex.exec(line);
            const value = m?.[1] !== undefined ? Number(m[1]) : NaN;
            if (!Number.isNaN(value)) {
              metrics.set(d.name, { value, at: Date.now() });
              events?.emit('metric', { name: d.name, value, line });
            }
          }
        },
      });
      if (checkpoint) await uploadTree(props.s3, path.join(base, 'checkpoints'), checkpoint);

      const failureFile = path.join(base, 'output', 'failure');
      if (timedOut || code !== 0) {
        const reason = timedOut
          ? `MaxRuntimeExceeded: the job ran longer than MaxRuntimeInSeconds ${maxRuntime}`
          : existsSync(failureFile) && (await stat(failureFile)).size > 0
            ? `AlgorithmError: ${(await readFile(failureFile, 'utf8')).trim().slice(0, 1024)}`
            : `AlgorithmError: the training process exited with code ${String(code)} and wrote no ${failureFile}`;
        const status = timedOut ? 'Stopped' : 'Failed';
        events?.emit('job', { name: job.TrainingJobName, status, reason });
        // As Step Functions reports a .sync job that ends Failed/Stopped: States.TaskFailed, the description as Cause.
        throw new StatesError('States.TaskFailed', JSON.stringify(describe(status, { FailureReason: reason })));
      }

      const output = jobS3Uri(job.OutputDataConfig.S3OutputPath);
      const artifactKey = `${output.key.replace(/\/?$/, '/').replace(/^\/$/, '')}${job.TrainingJobName}/output/model.tar.gz`;
      const archive = path.join(base, 'model.tar.gz');
      await tarGz(path.join(base, 'model'), archive);
      await props.s3.send(new PutObjectCommand({ Bucket: output.bucket, Key: artifactKey, Body: await readFile(archive) }));
      events?.emit('job', { name: job.TrainingJobName, status: 'Completed' });
      return describe('Completed', { ModelArtifacts: { S3ModelArtifacts: `s3://${output.bucket}/${artifactKey}` } });
    } finally {
      if (!props.keepWorkDir) await rm(base, { recursive: true, force: true });
    }
  };
}


