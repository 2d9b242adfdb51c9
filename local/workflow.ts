/**
 * The whole exodetect workflow on one machine: s3rver, the local event
 * bridge, local Step Functions running statemachines/*.asl.json with the real
 * handlers, and local SageMaker. Used by `npm start`, the `exodetect` command
 * and the end-to-end tests.
 */
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listAllKeys, listAllObjects } from '../lambdas/shared/s3-objects.js';
import { Upload } from '@aws-sdk/lib-storage';
import type { BatchManifest } from '../lambdas/shared/contracts.js';
import { BATCH_ID_PATTERN, batchImagesPrefix, batchManifestKey } from '../lambdas/shared/keys.js';
import { isMicrograph, MICROGRAPH_EXTENSIONS } from '../lambdas/shared/image-files.js';
import { stopTesseract } from '../lambdas/detect/scale-bar/ocr.js';
import { createS3Client } from '../lambdas/shared/s3-client.js';
import { BatchManifestBridge } from './eventbridge.js';
import { startLocalS3Server, type LocalS3Server } from './s3-server.js';
import { CREATE_TRAINING_JOB_SYNC, localTrainingJobIntegration } from './sagemaker.js';
import { loadDefinitionFile } from './stepfunctions/definition.js';
import type { HandlerResolver } from './stepfunctions/lambda.js';
import { LocalStepFunctions, type ExecutionOutcome, type LocalStateMachine } from './stepfunctions/runner.js';
import { InputError } from './errors.js';
import { walkFolder, type SkippedPath } from './files.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LOCAL_BUCKET = 'exodetect-data';
/** Extensions uploaded as micrographs; the detect function checks the bytes themselves. */


/** Local values of the ASL substitutions (statemachines/README.md). Strings, as CloudFormation passes them. */
export interface LocalSettings {
  readonly MapMaxConcurrency: string;
  readonly ToleratedFailurePercentage: string;
  readonly DetectItemsPerBatch: string;
  readonly TrainingImageUri: string;
  readonly SageMakerRoleArn: string;
  readonly TrainingInstanceType: string;
  readonly TrainingMaxRuntimeSeconds: string;
  readonly TrainingMaxWaitSeconds: string;
  readonly TrainingVolumeSizeGb: string;
}

export const DEFAULT_LOCAL_SETTINGS: LocalSettings = {
  MapMaxConcurrency: '2',
  ToleratedFailurePercentage: '10',
  DetectItemsPerBatch: '4',
  TrainingImageUri: 'local/exodetect-train:latest',
  SageMakerRoleArn: 'arn:aws:iam::000000000000:role/local',
  TrainingInstanceType: 'local',
  TrainingMaxRuntimeSeconds: '86400',
  TrainingMaxWaitSeconds: '86400',
  TrainingVolumeSizeGb: '30',
};

export interface LocalWorkflowProps {
  /** s3rver's folder. */
  readonly dataDir: string;
  /** Port on 127.0.0.1. Default: 0 (a free port). */
  readonly port?: number;
  /** Default: exodetect-data. */
  readonly bucket?: string;
  readonly settings?: Partial<LocalSettings>;
  /** Lambda handlers. Default: the modules in lambdas/. */
  readonly handlers?: HandlerResolver;
  /** Distributed Map children at once. Default: 2 (detect itself uses every core). */
  readonly concurrencyCap?: number;
  /** Retry waits in ms by state name (for tests). Default: the ASL's own. */
  readonly retryIntervalOverrides?: Readonly<Record<string, number | number[]>>;
  /** Handler log level (Powertools). Default: WARN. */
  readonly logLevel?: string;
  /** The training container's source. Default: <repo>/training-container. */
  readonly trainingDir?: string;
  readonly python?: string;
  /** Folder with the ASL files. Default: <repo>/statemachines. */
  readonly stateMachinesDir?: string;
}

/**
 * The handlers read their environment once, at import, like a Lambda cold
 * start; so one process serves one local S3 endpoint.
 */
function configureHandlerEnvironment(endpoint: string, logLevel: string): void {
  const current = process.env.EXODETECT_S3_ENDPOINT;
  if (current && current !== endpoint && (globalThis as { __exodetectHandlersLoaded?: boolean }).__exodetectHandlersLoaded) {
    throw new Error(`this process already runs handlers against ${current}; start one local workflow per process`);
  }
  process.env.EXODETECT_S3_ENDPOINT = endpoint;
  // Locally a notification is only logged: never publish to a real topic from a developer's shell.
  process.env.NOTIFY_TOPIC_ARN = '';
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
  process.env.POWERTOOLS_LOG_LEVEL ??= logLevel;
  process.env.POWERTOOLS_SERVICE_NAME ??= 'exodetect-local';
}

/** What a sync changed, by path below the prefix. */
export interface SyncReport {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
  unchanged: number;
  /** Broken links and loops in the folder. */
  readonly skipped: SkippedPath[];
  /** Where the files came from, when not the folder itself. */
  readonly note?: string;
}

async function md5Of(file: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export interface UploadProgress {
  readonly file: string;
  readonly done: number;
  readonly total: number;
}

export class LocalWorkflow {
  readonly bucket: string;
  readonly sfn: LocalStepFunctions;
  readonly inference: LocalStateMachine;
  readonly training: LocalStateMachine;
  readonly bridge: BatchManifestBridge;
  /** Local SageMaker's 'log', 'metric' and 'job' events. */
  readonly trainingEvents: EventEmitter;
  /** Top-level outcomes by execution name, for duplicate uploads that arrive after the first run ended. */
  private readonly executionOutcomes = new Map<string, ExecutionOutcome>();

  private constructor(
    readonly server: LocalS3Server,
    readonly s3: S3Client,
    parts: { sfn: LocalStepFunctions; inference: LocalStateMachine; training: LocalStateMachine; bucket: string; trainingEvents: EventEmitter },
  ) {
    this.bucket = parts.bucket;
    this.sfn = parts.sfn;
    this.inference = parts.inference;
    this.training = parts.training;
    this.trainingEvents = parts.trainingEvents;
    this.bridge = new BatchManifestBridge({ objectEvents: server.events, bucket: this.bucket, inference: this.inference });
    this.bridge.on('finished', (o: ExecutionOutcome) => this.executionOutcomes.set(o.name, o));
  }

  static async start(props: LocalWorkflowProps): Promise<LocalWorkflow> {
    const bucket = props.bucket ?? LOCAL_BUCKET;
    const server = await startLocalS3Server({ directory: props.dataDir, buckets: [bucket], port: props.port ?? 0 });
    try {
      configureHandlerEnvironment(server.endpoint, props.logLevel ?? 'WARN');
      const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
      const trainingEvents = new EventEmitter();
      const sfn = new LocalStepFunctions({
        s3,
        handlers: props.handlers,
        concurrencyCap: props.concurrencyCap ?? 2,
        retryIntervalOverrides: props.retryIntervalOverrides,
        integrations: {
          [CREATE_TRAINING_JOB_SYNC]: localTrainingJobIntegration({ s3, events: trainingEvents, trainingDir: props.trainingDir, python: props.python }),
        },
      });
      const substitutions = { ...DEFAULT_LOCAL_SETTINGS, ...props.settings, DataBucket: bucket };
      const dir = props.stateMachinesDir ?? path.join(REPO_ROOT, 'statemachines');
      const inference = sfn.createStateMachine('exodetect-inference', await loadDefinitionFile(path.join(dir, 'inference.asl.json'), substitutions));
      const training = sfn.createStateMachine('exodetect-training', await loadDefinitionFile(path.join(dir, 'training.asl.json'), substitutions));
      (globalThis as { __exodetectHandlersLoaded?: boolean }).__exodetectHandlersLoaded = true;
      return new LocalWorkflow(server, s3, { sfn, inference, training, bucket, trainingEvents });
    } catch (err) {
      await server.close();
      throw err;
    }
  }

  async putObject(key: string, body: string | Uint8Array): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  /** Streams a file up; large files go multipart (lib-storage). */
  async uploadFile(file: string, key: string): Promise<void> {
    await new Upload({ client: this.s3, params: { Bucket: this.bucket, Key: key, Body: createReadStream(file) }, partSize: 8 * 1024 * 1024 }).done();
  }

  /** Uploads every file of a folder under a prefix (e.g. models/default/). */
  async uploadDirectory(dir: string, prefix: string): Promise<number> {
    const files = await listFiles(dir);
    for (const file of files) await this.uploadFile(file, `${prefix}${toKeyPath(path.relative(dir, file))}`);
    return files.length;
  }

  /**
   * Uploads a batch as a facility would: the images, then batch.json (the
   * commit marker that the event bridge turns into an inference execution).
   * Resolves with the execution's outcome.
   */
  async submitBatch(
    imagesDir: string,
    batchId: string,
    manifest: BatchManifest = {},
    onUpload?: (p: UploadProgress) => void,
  ): Promise<{ outcome: ExecutionOutcome; executionName: string; duplicate: boolean }> {
    if (!BATCH_ID_PATTERN.test(batchId)) throw new InputError(`batch id "${batchId}" must be 1-80 characters of letters, digits, '.', '_' or '-'`);
    const images = await findImages(imagesDir);
    let done = 0;
    for (const file of images) {
      await this.uploadFile(file, `${batchImagesPrefix(batchId)}${toKeyPath(path.relative(imagesDir, file))}`);
      onUpload?.({ file, done: ++done, total: images.length });
    }
    return this.commitBatch(batchId, manifest);
  }

  /** Writes batch.json and waits for the execution the bridge starts (or learns it was a duplicate). */
  async commitBatch(batchId: string, manifest: BatchManifest = {}): Promise<{ outcome: ExecutionOutcome; executionName: string; duplicate: boolean }> {
    const key = batchManifestKey(batchId);
    const started = new Promise<{ outcome: Promise<ExecutionOutcome>; executionName: string; duplicate: boolean }>((resolve, reject) => {
      const onStarted = (s: { key: string; execution: { name: string; done: Promise<ExecutionOutcome> } }) => {
        if (s.key !== key) return;
        cleanup();
        resolve({ outcome: s.execution.done, executionName: s.execution.name, duplicate: false });
      };
      const onDuplicate = (d: { key: string; executionName: string }) => {
        if (d.key !== key) return;
        cleanup();
        const previous = this.inference.describeExecution(d.executionName);
        resolve({ outcome: this.outcomeOf(d.executionName, previous?.executionArn ?? ''), executionName: d.executionName, duplicate: true });
      };
      const onFailed = (f: { key: string; error: Error }) => {
        if (f.key !== key) return;
        cleanup();
        reject(f.error);
      };
      const cleanup = () => {
        this.bridge.off('started', onStarted);
        this.bridge.off('duplicate', onDuplicate);
        this.bridge.off('start-failed', onFailed);
      };
      this.bridge.on('started', onStarted);
      this.bridge.on('duplicate', onDuplicate);
      this.bridge.on('start-failed', onFailed);
    });
    await this.putObject(key, JSON.stringify(manifest, null, 2));
    const result = await started;
    return { outcome: await result.outcome, executionName: result.executionName, duplicate: result.duplicate };
  }

  private outcomeOf(name: string, executionArn: string): Promise<ExecutionOutcome> {
    const finished = this.executionOutcomes.get(name);
    if (finished) return Promise.resolve(finished);
    return new Promise((resolve) => {
      const listener = (o: ExecutionOutcome) => {
        if (o.executionArn !== executionArn) return;
        this.sfn.events.off('execution-finished', listener);
        resolve(o);
      };
      this.sfn.events.on('execution-finished', listener);
    });
  }

  async getText(key: string): Promise<string> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return object.Body!.transformToString();
  }

  async getJson<T>(key: string): Promise<T> {
    return JSON.parse(await this.getText(key)) as T;
  }

  async listKeys(prefix: string): Promise<string[]> {
    return listAllKeys(this.s3, this.bucket, prefix);
  }

  /**
   * Makes a prefix mirror a folder (following links): new and changed files are uploaded, files no
   * longer in the folder are deleted. Unchanged files (same size and MD5 as the object's ETag) are not sent again.
   */
  async syncDirectory(dir: string, prefix: string): Promise<SyncReport> {
    const { files, skipped } = await walkFolder(dir);
    const remote = new Map((await listAllObjects(this.s3, this.bucket, prefix)).map((o) => [o.key, o]));
    const report: SyncReport = { added: [], changed: [], removed: [], unchanged: 0, skipped };
    const wanted = new Set<string>();
    for (const file of files) {
      const relative = toKeyPath(path.relative(dir, file));
      const key = `${prefix}${relative}`;
      wanted.add(key);
      const existing = remote.get(key);
      if (existing) {
        const info = await stat(file);
        if (info.size === existing.size && existing.etag === (await md5Of(file))) {
          report.unchanged++;
          continue;
        }
      }
      await this.uploadFile(file, key);
      (existing ? report.changed : report.added).push(relative);
    }
    const stale = [...remote.keys()].filter((key) => !wanted.has(key));
    for (let i = 0; i < stale.length; i += 1000) {
      await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: stale.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
    report.removed.push(...stale.map((key) => key.slice(prefix.length)));
    return report;
  }

  /** Deletes every object under a prefix; returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    const keys = await this.listKeys(prefix);
    // DeleteObjects takes at most 1,000 keys per request.
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      const result = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
      if (result.Errors?.length) throw new Error(`could not delete ${result.Errors.length} objects under ${prefix}: ${result.Errors[0]?.Key} ${result.Errors[0]?.Message}`);
    }
    return keys.length;
  }

  /** Copies every object under a prefix into a folder, keeping the paths below the prefix. */
  async downloadPrefix(prefix: string, outDir: string): Promise<number> {
    const keys = await this.listKeys(prefix);
    for (const key of keys) {
      const target = path.join(outDir, ...key.slice(prefix.length).split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      await pipeline(object.Body as Readable, createWriteStream(target));
    }
    return keys.length;
  }

  async close(): Promise<void> {
    this.bridge.close();
    await this.bridge.idle();
    await this.server.close();
    // The in-process detect handler's OCR worker (scale-bar labels) would keep this process alive.
    await stopTesseract();
  }
}

const toKeyPath = (relative: string): string => relative.split(path.sep).join('/');

async function listFiles(dir: string): Promise<string[]> {
  return (await walkFolder(dir)).files;
}

export interface ImageListing {
  /** Absolute paths, sorted. */
  readonly images: string[];
  /** Files that are not micrographs, broken links, loops: said, not silently dropped. */
  readonly skipped: SkippedPath[];
}

/** The micrographs in a folder (recursively, following links) and what was skipped; clear errors for a missing folder or one without images. */
export async function listImages(dir: string): Promise<ImageListing> {
  const { files, skipped } = await walkFolder(dir);
  const images = files.filter(isMicrograph);
  // batch.json at the top is the batch's manifest, not a stray file.
  const manifest = path.join(dir, 'batch.json');
  const others = files
    .filter((f) => !isMicrograph(f) && path.resolve(f) !== path.resolve(manifest))
    .map((f) => ({ path: f, reason: `not a micrograph file (${MICROGRAPH_EXTENSIONS.join(', ')})` }));
  if (images.length === 0) {
    throw new InputError(`no images found in ${dir} (looked for ${MICROGRAPH_EXTENSIONS.join(', ')}, in sub-folders too)`);
  }
  return { images, skipped: [...skipped, ...others] };
}

export async function findImages(dir: string): Promise<string[]> {
  return (await listImages(dir)).images;
}
