/**
 * `exodetect run` and the demo: a folder of micrographs through the whole
 * local workflow (upload images, then batch.json; the event bridge starts the
 * inference state machine; results copied to a plain folder).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BatchManifest, SummarizeOutput } from '../../lambdas/shared/contracts.js';
import {
  analyticsPrefix,
  BATCH_FAILURE_FILE,
  BATCH_ID_PATTERN,
  batchImagesPrefix,
  batchPrefix,
  CHAMPION_KEY,
  DEFAULT_MODEL_VERSION,
  modelKey,
  modelRegistrationKey,
  RESULT_FILES,
  resultsPrefix,
} from '../../lambdas/shared/keys.js';
import { loadModel } from '../../lambdas/detect/model.js';
import { InputError } from '../errors.js';
import { describeSummaryFile } from './run-summary.js';
import { progressBar } from '../progress.js';
import type { S3EventRecord } from '../s3-server.js';
import type { ExecutionOutcome } from '../stepfunctions/runner.js';
import { listImages, LocalWorkflow, type LocalWorkflowProps } from '../workflow.js';
import type { SkippedPath } from '../files.js';
import { plural } from './wording.js';
import { scoreSourceWords } from '../../lambdas/shared/wording.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_DATA_DIR = '.exodetect/s3';

/** ` --data-dir <dir>` for a command the user is told to run next, when the store is not the default one; else ''. */
export function dataDirFlag(dataDir: string | undefined): string {
  return dataDir !== undefined && path.resolve(dataDir) !== path.resolve(DEFAULT_DATA_DIR) ? ` --data-dir ${dataDir}` : '';
}
export const DEFAULT_RESULTS_DIR = 'exodetect-results';
export const BUNDLED_MODEL_DIR = path.join(REPO_ROOT, 'models', DEFAULT_MODEL_VERSION);

export interface RunBatchOptions {
  readonly imagesDir: string;
  /** Default: the folder's name and the time, e.g. `grid3-20261125-0912`. */
  readonly batchId?: string;
  /** Written to batch.json: overrides the files' own calibration. */
  readonly nmPerPx?: number;
  /** A .onnx file, a folder holding model.onnx, or a model version already in the local store. Default: the champion, else models/default. */
  readonly model?: string;
  /** Default: exodetect-results/<batch-id>. */
  readonly outDir?: string;
  /** s3rver's folder. Default: .exodetect/s3. */
  readonly dataDir?: string;
  readonly port?: number;
  /** More batch.json fields (sample, notes, score_threshold, size_gate_nm). */
  readonly manifest?: BatchManifest;
  /**
   * Replace an earlier batch with the same id (its images and results in the local store) and the
   * results in `outDir`. Default false: both refuse, naming this option, so two runs never mix.
   */
  readonly replace?: boolean;
  /** Most failed images, in percent of the batch, before the batch fails. Default 10 (the stack's default). */
  readonly toleratedFailurePercentage?: number;
  /** Progress bars. Default: true. */
  readonly progress?: boolean;
  readonly workflowProps?: Partial<LocalWorkflowProps>;
}

export type BatchSummary = SummarizeOutput;

export interface RunBatchResult {
  readonly batchId: string;
  readonly outDir: string;
  readonly outcome: ExecutionOutcome;
  readonly summary?: BatchSummary;
  /** From the first upload to the results being in the output folder. */
  readonly seconds: number;
  /** The model the batch ran with, in words ("the champion 2026...", "the bundled default model"). */
  readonly model: string;
  /** Files of the folder that were not sent (not micrographs, broken links, loops), with why. */
  readonly skipped: SkippedPath[];
  readonly images: number;
  /** Where the batch's nm/px came from, when it gave one: the flag wins over batch.json. */
  readonly batchScaleFrom?: '--nm-per-px' | 'batch.json';
}

/** A batch id from a folder name: safe alphabet, plus the time so runs do not overwrite each other. */
export function defaultBatchId(imagesDir: string, now = new Date()): string {
  const base = path.basename(path.resolve(imagesDir)).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50) || 'batch';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${base}-${stamp}`;
}

/** Checks a model file early, so a bad --model fails before any upload with a clear message. */
export async function readModelFile(modelPath: string): Promise<Buffer> {
  let file = modelPath;
  try {
    if ((await stat(modelPath)).isDirectory()) file = path.join(modelPath, 'model.onnx');
  } catch {
    throw new InputError(`model ${modelPath} does not exist`);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new InputError(`cannot read model ${file}: ${(err as Error).message}`);
  }
  if (bytes.length === 0) throw new InputError(`model ${file} is empty`);
  try {
    // Load it as the detect Lambda would (session, layout, warm-up run): a file that merely parses as
    // protobuf must fail here, with its name, not after every image has been uploaded.
    const model = await loadModel(bytes, { key: file, intraOpThreads: 1 });
    await model.session.release();
  } catch (err) {
    throw new InputError(`model ${file} is not a readable ONNX model: ${(err as Error).message}`);
  }
  return bytes;
}

interface ModelChoice {
  readonly version?: string;
  readonly bytes?: Buffer;
}

async function chooseModel(model: string | undefined): Promise<ModelChoice> {
  if (model === undefined) return {};
  if (existsSync(model)) {
    const bytes = await readModelFile(model);
    // Content-addressed, so the same file is one version however often it is used.
    return { version: `local-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`, bytes };
  }
  if (/^[A-Za-z0-9._-]+$/.test(model) && !model.includes('/')) return { version: model };
  throw new InputError(`model ${model} is neither a file, a folder with model.onnx, nor a model version name`);
}

/**
 * Uploads the bundled default model (models/default/*) so a fresh store can
 * run batches; without it a model must be given (or be the local champion).
 */
export async function uploadBundledModel(workflow: LocalWorkflow, required: boolean): Promise<void> {
  if (!existsSync(path.join(BUNDLED_MODEL_DIR, 'model.onnx'))) {
    if (!required) return;
    throw new InputError(`the bundled model ${path.join(BUNDLED_MODEL_DIR, 'model.onnx')} is missing: pass --model or train one with \`exodetect train\``);
  }
  await readModelFile(BUNDLED_MODEL_DIR);
  await workflow.uploadDirectory(BUNDLED_MODEL_DIR, `models/${DEFAULT_MODEL_VERSION}/`);
}

/** Said wherever the bundled model is used: it has never seen a real micrograph. */
export const BUNDLED_MODEL_CAVEAT = 'trained on synthetic micrographs only: look at the overlays before trusting the counts; `exodetect train` on a few annotated images of yours does better';

/** Which model a run uses, in words: what validate-batch will pick for this manifest. */
async function describeModelChoice(workflow: LocalWorkflow, requested: string | undefined, choice: ModelChoice): Promise<string> {
  if (choice.bytes) return `${requested} (stored as model ${choice.version})`;
  if (choice.version === DEFAULT_MODEL_VERSION) return `the bundled default model (${BUNDLED_MODEL_CAVEAT})`;
  if (choice.version) {
    // Named by the user: say what it is, since it need not be the one run uses by default.
    const registration = await workflow.getJson<{ dataset?: string }>(modelRegistrationKey(choice.version)).catch(() => undefined);
    return `version ${choice.version}${registration?.dataset ? `, trained on dataset ${registration.dataset}` : ''}`;
  }
  if ((await workflow.listKeys(CHAMPION_KEY)).length === 0) return `the bundled default model, as no model has been trained and promoted here (${BUNDLED_MODEL_CAVEAT})`;
  const champion = await workflow.getJson<{ version: string; dataset?: string }>(CHAMPION_KEY);
  return `the champion ${champion.version}${champion.dataset ? `, trained on dataset ${champion.dataset}` : ''} (--model default runs the bundled one)`;
}

/** Files that mark a folder as one exodetect wrote results into (the only kind `--replace` empties). */
const RESULT_MARKERS: string[] = [RESULT_FILES.summary, RESULT_FILES.report, BATCH_FAILURE_FILE];

/** Refuses to mix a new run's results into a folder that holds files, unless told to replace exodetect results there. */
export async function checkOutDir(outDir: string, replace: boolean): Promise<'empty' | 'replace'> {
  let entries: string[];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'empty';
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new InputError(`--out ${outDir} is a file, not a folder`);
    throw err;
  }
  if (entries.length === 0) return 'empty';
  if (!replace) {
    throw new InputError(
      `${outDir} already holds ${entries.length === 1 ? '1 file or folder' : `${entries.length} files or folders`}: this run's results would mix with them. Choose another --out, or pass --replace to replace the results there`,
    );
  }
  if (!entries.some((name) => RESULT_MARKERS.includes(name))) {
    throw new InputError(`--replace only empties a folder of exodetect results (with ${RESULT_MARKERS.join(', ')}); ${outDir} holds other files: choose another --out`);
  }
  return 'replace';
}

/** Refuses to reuse a batch id that the local store already holds, unless told to replace that batch. */
async function checkBatchId(workflow: LocalWorkflow, batchId: string, replace: boolean): Promise<string[]> {
  const prefixes = [batchPrefix(batchId), resultsPrefix(batchId), analyticsPrefix(batchId)];
  const held = (await Promise.all(prefixes.map((p) => workflow.listKeys(p)))).map((keys) => keys.length);
  if (held.every((n) => n === 0)) return [];
  if (!replace) {
    const images = (await workflow.listKeys(batchImagesPrefix(batchId))).length;
    throw new InputError(
      `batch "${batchId}" already exists in the local store (${images} images, ${held[1]} result files): a second run under this id would mix with it. ` +
        'Choose another --batch (the default is the folder name and the time), or pass --replace to replace its images and results',
    );
  }
  return prefixes;
}

export async function runBatchLocally(options: RunBatchOptions): Promise<RunBatchResult> {
  const { images, skipped } = await listImages(options.imagesDir);
  const batchId = options.batchId ?? defaultBatchId(options.imagesDir);
  if (!BATCH_ID_PATTERN.test(batchId)) throw new InputError(`batch id "${batchId}" must be 1-80 characters of letters, digits, '.', '_' or '-'`);
  if (options.nmPerPx !== undefined && !(options.nmPerPx > 0 && options.nmPerPx <= 1000)) {
    throw new InputError(`--nm-per-px must be a number in (0, 1000], got ${options.nmPerPx}`);
  }
  const tolerated = options.toleratedFailurePercentage;
  if (tolerated !== undefined && !(Number.isInteger(tolerated) && tolerated >= 0 && tolerated <= 100)) {
    throw new InputError(`--tolerate-failed must be a whole percentage 0-100, got ${tolerated}`);
  }
  const model = await chooseModel(options.model);
  const outDir = path.resolve(options.outDir ?? path.join(DEFAULT_RESULTS_DIR, batchId));
  const replace = options.replace ?? false;
  const workflow = await LocalWorkflow.start({
    dataDir: path.resolve(options.dataDir ?? DEFAULT_DATA_DIR),
    port: options.port,
    // Failed images are printed at the end, grouped by reason: per-image warnings would only repeat them.
    logLevel: 'ERROR',
    ...options.workflowProps,
    ...(options.toleratedFailurePercentage !== undefined && {
      settings: { ...options.workflowProps?.settings, ToleratedFailurePercentage: String(options.toleratedFailurePercentage) },
    }),
  });
  try {
    // The batch id first: a re-used id is what a second run into its default folder usually means.
    const replacedPrefixes = await checkBatchId(workflow, batchId, replace);
    const outDirState = await checkOutDir(outDir, replace);
    // Both checks passed: only now is anything removed.
    for (const prefix of replacedPrefixes) await workflow.deletePrefix(prefix);
    if (outDirState === 'replace') await rm(outDir, { recursive: true, force: true });
    const hasChampion = (await workflow.listKeys(CHAMPION_KEY)).length > 0;
    await uploadBundledModel(workflow, model.version === undefined && !hasChampion);
    if (model.bytes && model.version) await workflow.putObject(modelKey(model.version), model.bytes);
    if (model.version && !model.bytes && (await workflow.listKeys(modelKey(model.version))).length === 0) {
      throw new InputError(`model version "${model.version}" is not in the local store (${modelKey(model.version)})`);
    }
    const modelUsed = await describeModelChoice(workflow, options.model, model);
    const manifest: BatchManifest = {
      ...options.manifest,
      ...(options.nmPerPx !== undefined && { nm_per_px: options.nmPerPx }),
      ...(model.version && { model_version: model.version }),
    };

    const started = Date.now();
    const showProgress = options.progress ?? true;
    const upload = showProgress ? progressBar({ label: 'Uploading', total: images.length }) : undefined;
    let processing: ReturnType<typeof progressBar> | undefined;
    let processed = 0;
    const resultPrefix = `${resultsPrefix(batchId)}images/`;
    const onObject = (record: S3EventRecord) => {
      if (!record.eventName.startsWith('ObjectCreated') || !decodeURIComponent(record.s3.object.key).startsWith(resultPrefix)) return;
      processing?.update(++processed);
    };
    workflow.server.events.on('object', onObject);
    const onStarted = () => {
      upload?.stop();
      if (showProgress) processing = progressBar({ label: 'Detecting', total: images.length });
    };
    workflow.bridge.once('started', onStarted);
    let outcome: ExecutionOutcome;
    try {
      ({ outcome } = await workflow.submitBatch(options.imagesDir, batchId, manifest, (p) => upload?.update(p.done)));
    } finally {
      workflow.server.events.off('object', onObject);
      upload?.stop();
      processing?.stop();
    }

    // A failed batch's results (summary, report, error records, failure.json) are copied too: they say why.
    await workflow.downloadPrefix(resultsPrefix(batchId), outDir);
    const summary = (outcome.output as { summary?: { Payload?: BatchSummary } } | null)?.summary?.Payload;
    const batchScaleFrom = options.nmPerPx !== undefined ? '--nm-per-px' : options.manifest?.nm_per_px !== undefined ? 'batch.json' : undefined;
    return { batchId, outDir, outcome, summary, seconds: (Date.now() - started) / 1000, model: modelUsed, skipped, images: images.length, ...(batchScaleFrom && { batchScaleFrom }) };
  } finally {
    await workflow.close();
  }
}

/** What a person reads after a run: counts, failed images grouped by reason with a few examples, and the batch's fate. */
export async function describeBatchRun(result: RunBatchResult): Promise<string[]> {
  const summary = await readJsonFile<{
    images: { total: number; failed: number };
    detections: { total: number };
    failures: { file: string; code: string; message: string }[];
    failure_codes: Record<string, number>;
    outcome?: { within_tolerance: boolean; reason: string | null };
    thresholds?: { score: number; score_source: string; images: number }[];
  }>(path.join(result.outDir, RESULT_FILES.summary));
  const lines: string[] = [`Model: ${result.model}`];
  if (result.skipped.length > 0) {
    lines.push(`Skipped ${result.skipped.length === 1 ? '1 file' : `${result.skipped.length} files`} of the folder:`);
    for (const s of result.skipped.slice(0, MAX_FAILURE_EXAMPLES)) lines.push(`  ${s.path}: ${s.reason}`);
    if (result.skipped.length > MAX_FAILURE_EXAMPLES) lines.push(`  ... and ${result.skipped.length - MAX_FAILURE_EXAMPLES} more`);
  }
  if (summary) {
    lines.push(
      `Batch ${result.batchId}: ${plural(summary.images.total, 'image')}, ${summary.images.failed} failed, ${summary.detections.total} detections in ${result.seconds.toFixed(1)} s` +
        scoreThresholdsUsed(summary.thresholds ?? []),
    );
    // The sizes, where each image's scale came from, and loudly any image sized at an assumed scale.
    lines.push(...(await describeSummaryFile(path.join(result.outDir, RESULT_FILES.summary), { batchScaleFrom: result.batchScaleFrom })));
    if (summary.images.failed > 0) {
      const byCode = Object.entries(summary.failure_codes).sort((a, b) => b[1] - a[1]);
      lines.push(`Failed images by reason: ${byCode.map(([code, n]) => `${n} ${code}`).join(', ')}`);
      // The message starts with the object's key in the store; the file name is already at the front.
      for (const f of summary.failures.slice(0, MAX_FAILURE_EXAMPLES)) lines.push(`  ${f.file}: ${f.code}: ${f.message.replace(/^batches\/[^/]+\/images\/[^:]*: /, '')}`);
      if (summary.failures.length > MAX_FAILURE_EXAMPLES) {
        lines.push(`  ... and ${summary.failures.length - MAX_FAILURE_EXAMPLES} more (all in ${path.join(result.outDir, RESULT_FILES.summary)})`);
      }
    }
  }
  if (result.outcome.status !== 'SUCCEEDED') {
    const failure = await readJsonFile<{ error?: string; cause?: string; message?: string }>(path.join(result.outDir, BATCH_FAILURE_FILE));
    const reason = failure?.cause ?? failure?.message ?? result.outcome.cause ?? '';
    const error = failure?.error ?? result.outcome.error ?? 'error';
    lines.push(`Batch ${result.batchId} FAILED: ${error}: ${reason}`.trim());
    if (error === 'TooManyImagesFailed' && summary && summary.images.total > 0) {
      // The failures are listed above; the images that worked have results. Say how to accept this share.
      const share = Math.ceil((100 * summary.images.failed) / summary.images.total);
      lines.push(
        `Results for the ${plural(summary.images.total - summary.images.failed, 'image')} that worked are in ${result.outDir}. If these failures are expected, \`--tolerate-failed ${share}\` lets a batch with this share of failed images succeed.`,
      );
    }
  }
  return lines;
}

const MAX_FAILURE_EXAMPLES = 5;

/** ", score threshold 0.4785 (from the model's recommended threshold)": the threshold(s) the counts are at, and whose. */
function scoreThresholdsUsed(thresholds: readonly { score: number; score_source: string; images: number }[]): string {
  // The batch manifest's threshold is --score-threshold's when run locally.
  const whose = (source: string) => `from ${scoreSourceWords(source)}${source === 'batch' ? ': --score-threshold' : ''}`;
  const distinct = [...new Map(thresholds.map((t) => [`${t.score} ${t.score_source}`, t])).values()];
  if (distinct.length === 0) return '';
  if (distinct.length === 1) return `, score threshold ${distinct[0]!.score} (${whose(distinct[0]!.score_source)})`;
  return `, score thresholds ${distinct.map((t) => `${t.score} (${whose(t.score_source)}, ${plural(t.images, 'image')})`).join(', ')}`;
}

async function readJsonFile<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
