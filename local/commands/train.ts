/**
 * `exodetect train`: an annotated folder becomes datasets/<name>/ in the local
 * S3 (mirrored: files removed from the folder are removed there), then the
 * training state machine runs (check, split with the dataset ingestion, the
 * trainer as the local SageMaker job, register, promote by the same rule as
 * in AWS: the candidate must beat the champion, or the bundled default model
 * while there is none). The result says what changed, what was skipped and
 * why, and which model `exodetect run` uses now. With `--annotations` (the
 * report's review download), that file and the images it names are the
 * dataset instead: the images from the batch in the local store, or from the
 * folder given.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { CHAMPION_KEY, DEFAULT_MODEL_VERSION, PREFIX, trainingRunKeys } from '../../lambdas/shared/keys.js';
import type { ChannelCounts, SplitResult } from '../../lambdas/training/dataset-split.js';
import { isAnnotationFile, PSEUDO_LABEL_FOLDER } from '../../lambdas/training/dataset-files.js';
import { readableCause } from '../../lambdas/shared/step-functions-cause.js';
import { DEFAULT_MIN_VALIDATION_OBJECTS, type PromotionResult } from '../../lambdas/training/promotion.js';
import { validationFigureLines } from '../../lambdas/training/promotion-words.js';
import { InputError } from '../errors.js';
import type { ExecutionOutcome } from '../stepfunctions/runner.js';
import { reviewedDatasetName } from '../../lambdas/inference/report/review-page.js';
import { listImages, LocalWorkflow, type LocalWorkflowProps, type SyncReport } from '../workflow.js';
import { walkFolder } from '../files.js';
import { annotationsStem, readReviewedAnnotations, stageCorrections, type ReviewedAnnotations } from './corrections.js';
import { checkDatasetName, datasetNameFrom } from './dataset-name.js';
import { problemLines } from './problems-report.js';
import { BUNDLED_MODEL_DIR, DEFAULT_DATA_DIR, dataDirFlag, uploadBundledModel } from './run.js';
import { plural, percent } from './wording.js';
import { THRESHOLD_PRIOR } from '../../lambdas/evaluation/detection-metrics.js';

/** The signals that stop `exodetect train` (Ctrl-C, a closed terminal, `kill`): each stops the trainer and cleans up. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** SIGTERM to a process that may have ended already (Ctrl-C reaches the trainer by itself). */
function stopProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // gone already
  }
}

export interface TrainLocallyOptions {
  /** The annotated folder; with annotationsFile, the folder with the images it names (default: the batch in the local store). */
  readonly datasetDir?: string;
  /** A reviewed COCO file (report.html's download): it and its images are the dataset. */
  readonly annotationsFile?: string;
  /** Name under datasets/. Default: the folder's name; with annotationsFile, "<batch id>-reviewed". */
  readonly datasetName?: string;
  readonly epochs?: number;
  readonly batchSize?: number;
  /** nm/px of every image (overrides dataset.json, COCO scales and the files' calibration). */
  readonly nmPerPx?: number;
  readonly validationFraction?: number;
  /**
   * Weights to start from: 'default' (the bundled model), 'champion', a model version in the local store,
   * a .pt file, or 'none' (from scratch). Default: the champion when there is one, else the bundled model.
   */
  readonly initFrom?: string;
  /** More trainer hyperparameters (strings, as SageMaker passes them). */
  readonly hyperparameters?: Readonly<Record<string, string>>;
  /** Train even when the dataset did not change since the champion. */
  readonly force?: boolean;
  readonly dataDir?: string;
  readonly port?: number;
  /** Where the run's record goes (problems.txt, and the model card and metrics when a model was trained). Default: exodetect-training/<dataset>-<runId>/. */
  readonly outDir?: string;
  /** Lines for a person as the run goes (the dataset's changes, the split and its problems, one per epoch). Default: none. */
  readonly report?: (line: string) => void;
  /** Every trainer log line. Default: none (the progress bar only). */
  readonly onLog?: (line: string) => void;
  readonly workflowProps?: Partial<LocalWorkflowProps>;
}

export interface TrainLocallyResult {
  readonly outcome: ExecutionOutcome;
  readonly dataset: string;
  readonly sync: SyncReport;
  /** What the run started from, in words. */
  readonly initFrom: string;
  /** How many of the initial weights the trainer loaded, in words, when it fine-tuned. */
  readonly initLoaded?: string;
  readonly runId?: string;
  readonly split?: SplitResult;
  readonly promotion?: PromotionResult;
  /** Local copies: problems.txt, and card.md / metrics.json of the trained model. */
  readonly outDir?: string;
  /** The model `exodetect run` uses after this run, in words. */
  readonly modelInUse: string;
  /** The local store as given (commands told to run next name it when it is not the default). */
  readonly dataDir?: string;
  /** Set when the trainer refit on train and validation together after the validated run (hyperparameter refit). */
  readonly refit?: { readonly images: number };
  /** The validated run's score threshold and the shipped model's (the refit's, matched to it; else the same), as the trainer logged them. */
  readonly thresholds?: { readonly validated: number; readonly shipped: number };
  /** Set when the exported model flip-averages each image (hyperparameter tta, auto on small sets). */
  readonly tta?: boolean;
  /** Set when the exported model also runs each image at half size (hyperparameter half_scale_pass). */
  readonly halfScalePass?: boolean;
  /** Seconds from the dataset's upload to the promotion decision. */
  readonly elapsedSeconds?: number;
}

export const DEFAULT_TRAINING_DIR = 'exodetect-training';

/** What goes under datasets/<name>/, checked before the local S3 starts. */
async function datasetSource(options: TrainLocallyOptions): Promise<{ dataset: string; annotations?: ReviewedAnnotations }> {
  if (options.annotationsFile) {
    const annotations = await readReviewedAnnotations(options.annotationsFile);
    if (options.datasetDir && !(await stat(options.datasetDir).then((s) => s.isDirectory(), () => false))) throw new InputError(`${options.datasetDir} is not a folder`);
    const dataset = options.datasetName ?? reviewedDatasetName(annotations.batchId ?? annotationsStem(options.annotationsFile));
    return { dataset, annotations };
  }
  if (!options.datasetDir) throw new InputError('give the annotated folder, or --annotations with a reviewed COCO file');
  const { images } = await listImages(options.datasetDir);
  // Said here, about the user's folder, before anything is copied into the store.
  const { files } = await walkFolder(options.datasetDir);
  if (!files.some((f) => isAnnotationFile(path.relative(options.datasetDir!, f).split(path.sep).join('/')))) {
    throw new InputError(
      `${options.datasetDir} holds ${plural(images.length, 'image')} but no annotation files (YOLO .txt, COCO .json, VOC .xml, makesense .csv): export labels into it from an annotation tool (makesense.ai, CVAT), or correct a run's detections in its report's review view and train on the file it saves (--annotations); \`exodetect run ${options.datasetDir}\` detects without training`,
    );
  }
  return { dataset: options.datasetName ?? datasetNameFrom(options.datasetDir) };
}

/** The dataset becomes exactly the reviewed file and its images: anything an earlier upload left there goes. */
async function stageReviewed(workflow: LocalWorkflow, dataset: string, annotations: ReviewedAnnotations, imagesDir: string | undefined): Promise<SyncReport> {
  const prefix = `${PREFIX.datasets}${dataset}/`;
  const before = await workflow.listKeys(prefix);
  await workflow.deletePrefix(prefix);
  const staged = await stageCorrections({ s3: workflow.s3, bucket: workflow.bucket, annotations, datasetName: dataset, imagesDir });
  const after = await workflow.listKeys(prefix);
  return {
    added: after.filter((k) => !before.includes(k)).map((k) => k.slice(prefix.length)),
    changed: after.filter((k) => before.includes(k)).map((k) => k.slice(prefix.length)),
    removed: before.filter((k) => !after.includes(k)).map((k) => k.slice(prefix.length)),
    unchanged: 0,
    skipped: [],
    ...(staged.source === 'bucket' && { note: `the images come from batch ${annotations.batchId} in the local store` }),
  };
}

/** The request's initFrom (a version in the store) for what the user asked; a .pt file is stored as models/local-<hash>/model.pt first. */
async function resolveInitFrom(workflow: LocalWorkflow, requested: string | undefined): Promise<{ version?: string; description: string }> {
  const hasChampion = (await workflow.listKeys(CHAMPION_KEY)).length > 0;
  const choice = requested ?? (hasChampion ? 'champion' : existsSync(path.join(BUNDLED_MODEL_DIR, 'model.pt')) ? DEFAULT_MODEL_VERSION : 'none');
  if (choice === 'none' || choice === 'scratch') return { description: 'from scratch' };
  if (choice === 'champion') {
    if (!hasChampion) throw new InputError('--init-from champion: there is no trained champion yet; use --init-from default (the bundled model) or none');
    const champion = await workflow.getJson<{ version: string }>(CHAMPION_KEY);
    return { version: 'champion', description: `fine-tuned from the champion ${champion.version}${requested ? '' : ' (the default while there is one)'}` };
  }
  if (choice === DEFAULT_MODEL_VERSION) {
    return { version: DEFAULT_MODEL_VERSION, description: `fine-tuned from the bundled default model${requested ? '' : ' (the default while there is no champion)'}` };
  }
  if (choice.endsWith('.pt') || existsSync(choice)) {
    if (!existsSync(choice)) throw new InputError(`--init-from ${choice}: the file does not exist`);
    const bytes = await readFile(choice);
    const version = `local-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
    await workflow.putObject(`${PREFIX.models}${version}/model.pt`, bytes);
    return { version, description: `fine-tuned from ${choice}` };
  }
  if (!/^[A-Za-z0-9._-]+$/.test(choice)) throw new InputError(`--init-from ${choice}: not default, champion, none, a model version or a .pt file`);
  if ((await workflow.listKeys(`${PREFIX.models}${choice}/model.pt`)).length === 0) {
    throw new InputError(`--init-from ${choice}: the local store has no models/${choice}/model.pt (see \`exodetect models\`)`);
  }
  return { version: choice, description: `fine-tuned from model ${choice}` };
}

/** Which model `exodetect run` picks now: the champion, else the bundled default. */
export async function modelInUse(workflow: LocalWorkflow): Promise<string> {
  if ((await workflow.listKeys(CHAMPION_KEY)).length === 0) return 'the bundled default model (models/default)';
  const champion = await workflow.getJson<{ version: string; promoted_at?: string; dataset?: string }>(CHAMPION_KEY);
  return `the champion ${champion.version}${champion.dataset ? ` (trained on ${champion.dataset}` : ''}${champion.promoted_at ? `, promoted ${champion.promoted_at.slice(0, 16).replace('T', ' ')} UTC)` : champion.dataset ? ')' : ''}`;
}

export async function trainLocally(options: TrainLocallyOptions): Promise<TrainLocallyResult> {
  const { dataset, annotations } = await datasetSource(options);
  checkDatasetName(dataset);
  if (options.validationFraction !== undefined && !(options.validationFraction > 0 && options.validationFraction < 1)) {
    throw new InputError(`--validation-fraction must be between 0 and 1, got ${options.validationFraction}`);
  }
  if (options.nmPerPx !== undefined && !(options.nmPerPx > 0 && options.nmPerPx <= 1000)) {
    throw new InputError(`--nm-per-px must be a number in (0, 1000], got ${options.nmPerPx}`);
  }
  const hyperparameters: Record<string, string> = {
    ...(options.epochs !== undefined && { epochs: String(options.epochs) }),
    ...(options.batchSize !== undefined && { batch_size: String(options.batchSize) }),
    ...options.hyperparameters,
  };
  const report = options.report ?? (() => undefined);
  const started = performance.now();
  const workflow = await LocalWorkflow.start({ dataDir: path.resolve(options.dataDir ?? DEFAULT_DATA_DIR), port: options.port, ...options.workflowProps });
  let epochs = Number(hyperparameters.epochs ?? 0); // the trainer says the number when it resolves an auto value
  const epochSeconds: number[] = [];
  let lastEpoch = 0;
  let initLoaded: string | undefined;
  let refit: { images: number } | undefined;
  let thresholds: { validated: number; shipped: number } | undefined;
  let tta = false;
  let halfScalePass = false;
  const onLog = (line: string) => {
    const schedule = trainerSchedule(line);
    if (schedule) {
      epochs = schedule.epochs;
      if (schedule.auto) report(`Training for ${epochs} epochs (${schedule.auto}; --epochs sets it).`);
    }
    // Said when the first epoch starts (the images are loaded by then): the first epoch's line can be a minute away.
    const crops = /^crops: (\d+) per image per epoch, (\d+) per epoch/.exec(line);
    if (crops) {
      const validationImages = split?.counts.validation?.images;
      report(
        `Each epoch trains on ${crops[2]} random crops (${crops[1]} a training image)${validationImages ? ` and scores the ${plural(validationImages, 'validation image')}` : ''}; a line follows each one.`,
      );
    }
    // The trainer's per-epoch line: `epoch=3 train_loss=0.1234 val_ap50=0.8100 val_f1=0.7700 lr=... epoch_time_s=12.3`.
    const epoch = /^epoch=(\d+) train_loss=(\S+) val_ap50=(\S+) val_f1=(\S+) .*epoch_time_s=(\S+)/.exec(line);
    if (epoch) {
      lastEpoch = Number(epoch[1]);
      epochSeconds.push(Number(epoch[5]));
      const left = timeLeft(epochSeconds, epochs - Number(epoch[1]));
      report(`  epoch ${epoch[1]}/${epochs}: loss ${epoch[2]}, validation AP50 ${Number(epoch[3]).toFixed(3)}, F1 ${Number(epoch[4]).toFixed(3)} (${epoch[5]} s${left})`);
    }
    // After the validated run, the refit (trainer hyperparameter refit): its start in the trainer's words, then its epochs.
    const refitStart = /^refit: (training again on all (\d+) images.*)$/.exec(line);
    if (refitStart) {
      refit = { images: Number(refitStart[2]) };
      report(`Refit: ${refitStart[1]}.`);
      epochSeconds.length = 0; // its epochs skip the validation, so they run at a pace of their own
    }
    const refitEpoch = /^refit_epoch=(\d+) refit_loss=(\S+) .*epoch_time_s=(\S+)/.exec(line);
    if (refitEpoch) {
      epochSeconds.push(Number(refitEpoch[3]));
      report(`  refit epoch ${refitEpoch[1]}/${epochs}: loss ${refitEpoch[2]} (${refitEpoch[3]} s${timeLeft(epochSeconds, epochs - Number(refitEpoch[1]))})`);
    }
    if (line.startsWith('tta: ')) tta = true;
    if (line.startsWith('half_scale_pass: ')) halfScalePass = true;
    // The validated run's threshold ("validated threshold" when a refit follows and gets its own, matched to it).
    const threshold = /^(validated )?threshold: ([\d.]+) (.*)$/.exec(line);
    if (threshold) {
      thresholds = { validated: Number(threshold[2]), shipped: Number(threshold[2]) };
      report(`${threshold[1] ? "The validated run's score threshold" : 'Score threshold'}: ${threshold[2]} ${threshold[3]}.`);
    }
    const refitThreshold = /^refit threshold: ([\d.]+) (.*)$/.exec(line);
    if (refitThreshold) {
      if (thresholds) thresholds = { ...thresholds, shipped: Number(refitThreshold[1]) };
      report(`The refit model's score threshold, the one it ships with: ${refitThreshold[1]} ${refitThreshold[2]}.`);
    }
    // How much of the starting model fitted this run's network (a different width loads little).
    const init = /^init_from .*: (\d+) tensors loaded, (\d+) re-initialised/.exec(line);
    if (init && !initLoaded) {
      // Said as it happens, before the first epoch: the Split line said where training started.
      initLoaded = `${init[1]} of ${Number(init[1]) + Number(init[2])} weight tensors loaded`;
      report(`Initial weights: ${initLoaded}.`);
    }
    options.onLog?.(line);
  };
  const outputs = new Map<string, unknown>();
  let outDir: string | undefined;
  let split: SplitResult | undefined;
  let runId: string | undefined;
  const pending: Promise<void>[] = [];
  const onTask = (t: { stateName: string; output: unknown }) => {
    const output = (t.output as { Payload?: unknown })?.Payload ?? t.output;
    outputs.set(t.stateName, output);
    if (t.stateName === 'CheckDataset') runId = (output as { runId?: string }).runId;
    if (t.stateName === 'SplitDataset' && runId) {
      split = output as SplitResult;
      outDir = path.resolve(options.outDir ?? path.join(DEFAULT_TRAINING_DIR, `${dataset}-${runId}`));
      // Said before the (long) training starts: what it trains on and what it skipped.
      const minValidationObjects = Number(process.env.PROMOTION_MIN_VALIDATION_OBJECTS ?? DEFAULT_MIN_VALIDATION_OBJECTS);
      for (const line of describeSplit(split, init.description, path.join(outDir, 'problems.txt'), minValidationObjects)) report(line);
      pending.push(writeProblems(workflow, split, outDir), writeSplitRecord(workflow, runId, outDir));
    }
  };
  // Ctrl-C, a closed terminal or `kill`: the trainer is stopped too (Ctrl-C reaches it through the terminal's process
  // group, the others would not), the run's copies of the training data are removed (the trainer's scratch folder,
  // the store's training/<run>/), and the user told what became of the run.
  let workDir: string | undefined;
  let trainerPid: number | undefined;
  const onJob = (job: { workDir?: string; pid?: number }) => {
    if (job.workDir) workDir = job.workDir;
    if (job.pid) trainerPid = job.pid;
  };
  let running: Promise<unknown> | undefined; // the training execution, once started
  let stopping = false;
  const onStop = async (signal: NodeJS.Signals) => {
    stopping = true;
    if (trainerPid) stopProcess(trainerPid);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    // The execution ends as failed once its trainer is gone; its last writes land before the run's copies go.
    if (running) await Promise.race([running.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    const removed = [workDir && `the trainer's scratch folder ${workDir}`, runId && (await removeRunCopies(workflow, runId, outDir))].filter(Boolean);
    process.stderr.write(
      `\n${signal === 'SIGINT' ? 'Interrupted' : `Stopped (${signal})`}${lastEpoch ? ` after epoch ${lastEpoch} of ${epochs}` : ''}: no model was registered or promoted` +
        `${removed.length ? `, and this run's copies of the data were removed (${removed.join('; ')})` : ''}. The dataset stays in the store; the same command trains again from the start.\n`,
    );
    process.exit(128 + osConstants.signals[signal]);
  };
  const onSignal = (signal: NodeJS.Signals) => void onStop(signal);
  workflow.trainingEvents.on('log', onLog);
  workflow.trainingEvents.on('job', onJob);
  for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  workflow.sfn.events.on('task-succeeded', onTask);
  let init: { version?: string; description: string } = { description: '' };
  try {
    // The bundled model is what a new model must beat while there is no champion, and the default start.
    await uploadBundledModel(workflow, false);
    const sync = annotations
      ? await stageReviewed(workflow, dataset, annotations, options.datasetDir)
      : await workflow.syncDirectory(options.datasetDir!, `${PREFIX.datasets}${dataset}/`);
    for (const line of describeSync(dataset, sync)) report(line);
    init = await resolveInitFrom(workflow, options.initFrom);
    const execution = workflow.training.startExecution({
      dataset,
      force: options.force ?? false,
      hyperparameters,
      ...(options.nmPerPx !== undefined && { nmPerPx: options.nmPerPx }),
      ...(init.version !== undefined && { initFrom: init.version }),
      split: { by: 'image', ...(options.validationFraction !== undefined && { validationFraction: options.validationFraction }), testFraction: 0, seed: 42 },
    });
    running = execution.done;
    const outcome = await execution.done;
    if (stopping) await new Promise(() => undefined); // onStop reports, cleans up and exits; nothing more to write
    await Promise.all(pending);
    const promotion = outputs.get('PromoteModel') as PromotionResult | undefined;
    if (outDir) {
      const registered = outputs.get('RegisterModel') as { metricsKey?: string; cardKey?: string } | undefined;
      for (const key of [registered?.metricsKey, registered?.cardKey]) {
        if (key) await writeFile(path.join(outDir, path.posix.basename(key)), await workflow.getText(key));
      }
      if (outcome.status !== 'SUCCEEDED') await writeFile(path.join(outDir, 'failure.txt'), `${outcome.error}: ${readableCause(outcome.cause ?? '')}\n`);
    }
    const elapsedSeconds = Math.round((performance.now() - started) / 1000);
    return { outcome, dataset, sync, initFrom: init.description, initLoaded, runId, split, promotion, outDir, modelInUse: await modelInUse(workflow), dataDir: options.dataDir, refit, thresholds, tta, halfScalePass, elapsedSeconds };
  } finally {
    workflow.trainingEvents.off('log', onLog);
    workflow.trainingEvents.off('job', onJob);
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    workflow.sfn.events.off('task-succeeded', onTask);
    await workflow.close();
  }
}

/** What a stopped run leaves: its split channels in the store (training/<run>/) and the split record and problems
 * written beside the card. Removed, and said as "the store's training/<run>/ (N files)[; <out>]". */
async function removeRunCopies(workflow: LocalWorkflow, runId: string, outDir: string | undefined): Promise<string> {
  const root = trainingRunKeys(runId).root;
  const count = await workflow.deletePrefix(root);
  const said = [`the store's ${root} (${plural(count, 'file')})`];
  if (outDir) {
    for (const name of ['split.json', 'problems.txt']) rmSync(path.join(outDir, name), { force: true });
    if (existsSync(outDir) && readdirSync(outDir).length === 0) {
      rmSync(outDir, { recursive: true });
      said.push(outDir);
    }
  }
  return said.join('; ');
}

async function writeProblems(workflow: LocalWorkflow, split: SplitResult, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const problems = await workflow.getJson<{ problems: { file: string; line: number | null; problem: string }[] }>(split.problems.key);
  if (problems.problems.length === 0) return; // no empty file that reads like a missing report
  await writeFile(path.join(outDir, 'problems.txt'), problems.problems.map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.problem}\n`).join(''));
}

/** The split's record (which images trained, which were held out), beside the card: what to score a model on that it never saw. */
async function writeSplitRecord(workflow: LocalWorkflow, runId: string, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'split.json'), await workflow.getText(trainingRunKeys(runId).split));
}

const list = (names: readonly string[]) => (names.length <= 5 ? names.join(', ') : `${names.slice(0, 4).join(', ')} and ${names.length - 4} more`);

export function describeSync(dataset: string, sync: SyncReport): string[] {
  const changes = [
    sync.added.length && `${sync.added.length} added (${list(sync.added)})`,
    sync.changed.length && `${sync.changed.length} changed (${list(sync.changed)})`,
    sync.removed.length && `${sync.removed.length} removed (${list(sync.removed)})`,
  ].filter(Boolean);
  return [
    `Dataset ${dataset}: ${changes.length ? changes.join(', ') : 'no file changed'}; ${plural(sync.unchanged, 'file')} unchanged${sync.note ? ` (${sync.note})` : ''}.`,
    ...sync.skipped.map((s) => `  skipped ${s.path}: ${s.reason}`),
  ];
}

/** Images no source gave a scale (a scale bar whose label did not read, no metadata): trained at an assumed one, said by name. */
function unscaledNote(split: SplitResult): string[] {
  const channels = (['train', 'validation', 'test'] as const).map((c) => split.counts[c]?.unscaled).filter((u) => u && u.images > 0);
  const n = channels.reduce((sum, u) => sum + u!.images, 0);
  if (!n) return [];
  const named = channels.flatMap((u) => u!.first);
  const more = n > named.length ? ` and ${n - named.length} more` : '';
  return [
    `Note: no scale for ${plural(n, 'image')} (${named.join(', ')}${more}): not in dataset.json, the annotation files or the image (no metadata, no scale bar that read), ` +
      `so the trainer takes ${n === 1 ? 'it' : 'them'} to be at its training scale: if ${n === 1 ? 'it is' : 'they are'} not, ${n === 1 ? 'its' : 'their'} particles are learnt at the wrong size. Give dataset.json or --nm-per-px; exodetect check lists each image's scale.`,
  ];
}

/** "--validation-fraction 0.25 holds out about 5 of 20 images, ~34 objects at this set's density; or ": a value to try, or "" when none would do. */
function enoughValidation(split: SplitResult, minValidationObjects: number): string {
  const c = split.counts;
  const images = (c.train?.images ?? 0) + (c.validation?.images ?? 0);
  const objects = (c.train?.objects ?? 0) + (c.validation?.objects ?? 0);
  if (!images || !objects) return '';
  // Objects are spread unevenly over images; at the set's mean density, this many images hold the objects needed.
  const needed = Math.ceil((minValidationObjects * images) / objects);
  if (needed >= images / 2) return '';
  const fraction = Math.ceil((100 * needed) / images) / 100;
  return `--validation-fraction ${fraction} holds out about ${needed} of ${images} images, ~${Math.round((objects * needed) / images)} objects at this set's density; or `;
}

export function describeSplit(split: SplitResult, start: string, problemsFile: string, minValidationObjects = DEFAULT_MIN_VALIDATION_OBJECTS): string[] {
  const c = split.counts;
  const validationObjects = c.validation?.objects ?? 0;
  // Said before the training rather than after it: the held-out figures and the promotion depend on it.
  const thin =
    validationObjects < minValidationObjects
      ? [
          `Note: validation holds ${plural(validationObjects, 'annotated object')}, fewer than the ${minValidationObjects} a promotion is decided on: ` +
            `its figures will be rough and the model will not replace the one run uses (${enoughValidation(split, minValidationObjects)}annotate more images).`,
        ]
      : [];
  return [
    `Split: train ${plural(c.train?.images ?? 0, 'image')} (${c.train?.objects ?? 0} objects${pseudoNote(c.train)}), validation ${plural(c.validation?.images ?? 0, 'image')} (${validationObjects} objects${raisedNote(split)}); ${start}.`,
    ...thin,
    ...unscaledNote(split),
    ...problemLines(split.problems, problemsFile),
  ];
}

/** Why validation holds more than --validation-fraction's share: the split's minimum when the fraction is left out. */
function raisedNote(split: SplitResult): string {
  const raised = split.counts.validationRaised;
  if (!raised) return '';
  const unit = split.counts.by === 'group' ? 'folders' : 'images';
  return `: at least ${raised.minimum} ${unit} are held out when --validation-fraction is left out, as the fraction's ${raised.fraction} would hold out ${raised.byFraction}, too few to choose the best epoch and the threshold on`;
}

function pseudoNote(train: ChannelCounts | undefined): string {
  const pseudo = train?.pseudoLabelled;
  return pseudo?.images ? `; ${pseudo.images} of the images and ${pseudo.objects} of the objects pseudo-labelled, under ${PSEUDO_LABEL_FOLDER}/` : '';
}

/** "8 min 31 s", "45 s". */
function formatDuration(seconds: number): string {
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
}

/** The start of the few-objects warning: which threshold (the shipped model's, and the validated one it is matched to). */
function thresholdChosenOn(thresholds: TrainLocallyResult['thresholds'], refit: boolean): string {
  if (!thresholds) return 'Its score threshold was chosen on';
  return refit
    ? `The score threshold it ships with, ${thresholds.shipped}, is matched to the validated run's, ${thresholds.validated}, which was chosen on`
    : `Its score threshold, ${thresholds.shipped}, was chosen on`;
}

/** `; ~12 min left` for the epochs still to run of this phase (the run, or the refit after it), at the pace of the last
 * five: the host's load changes the pace, so the recent epochs are the better guide. Empty after the last epoch. */
export function timeLeft(epochSeconds: readonly number[], epochsLeft: number): string {
  const recent = epochSeconds.slice(-5);
  if (epochsLeft <= 0 || recent.length === 0) return '';
  const minutes = (epochsLeft * recent.reduce((a, b) => a + b, 0)) / recent.length / 60;
  return minutes < 1 ? '; under a minute left' : `; ~${Math.round(minutes)} min left`;
}

/** The trainer's schedule line (train.py `resolve_epochs`): `epochs: 80 (auto: 200 labelled images, at least 100)`
 * or `epochs: 12 (epochs=12)`. `auto` holds the reason when the trainer chose the number. */
export function trainerSchedule(line: string): { epochs: number; auto?: string } | undefined {
  const m = /^epochs: (\d+) \((.*)\)$/.exec(line);
  if (!m) return undefined;
  const why = m[2] ?? '';
  return { epochs: Number(m[1]), ...(why.startsWith('auto: ') && { auto: why }) };
}

/** Below this many labelled images the trainer turns refit, tta and half_scale_pass on by itself (hyperparams.py). */
const AUTO_SWITCHES_MAX_IMAGES = 100;

/**
 * How the shipped model differs from the plain network the per-epoch lines measured (refit, tta, the half-size
 * pass, a moving average of the weights), in one line; which of them the set's size turned on, and how to turn
 * them off. Undefined when none applies.
 */
export function shippedAsLine(result: TrainLocallyResult): string | undefined {
  const hp = result.split?.hyperparameters ?? {};
  const parts: string[] = [];
  const auto: string[] = [];
  const add = (name: string, on: boolean | undefined, what: string) => {
    if (!on) return;
    parts.push(what);
    if (hp[name] === undefined) auto.push(name);
  };
  const t = result.thresholds;
  add(
    'refit',
    result.refit !== undefined,
    `refit on all ${result.refit?.images} labelled images (the figures above are its validated run's, trained without the held-out images${t ? `; its threshold, ${t.shipped}, is matched to that run's ${t.validated}` : ''})`,
  );
  add('tta', result.tta, 'averaging each image with its three mirror images (tta: 4x the time per image)');
  add('half_scale_pass', result.halfScalePass, 'a second pass at half size for large particles (half_scale_pass: about 1.25x the network time per image)');
  if (Number(hp.ema_half_life_epochs) > 0) parts.push(`a moving average of the weights (ema_half_life_epochs=${hp.ema_half_life_epochs}: every epoch's figures and the kept epoch are the average's)`);
  if (parts.length === 0) return undefined;
  const passes = result.tta || result.halfScalePass ? ' The figures are with the extra passes, the per-epoch lines without.' : '';
  const why =
    auto.length > 0
      ? ` ${auto.join(', ')}: on by default below ${AUTO_SWITCHES_MAX_IMAGES} labelled images (a small set gains from them); --hyperparameter ${auto.map((n) => `${n}=false`).join(' ')} turns ${auto.length > 1 ? 'them' : 'it'} off.`
      : '';
  return `Shipped as: ${parts.join('; ')}.${passes}${why}`;
}

/**
 * What a person reads when `exodetect train` ends (the dataset and split lines came before the training): the
 * verdict first (promoted or not, and which model \`exodetect run\` uses now), then why, the figures, how the model
 * is built and where its record is, indented under it.
 */
export function describeTraining(result: TrainLocallyResult): string[] {
  const { promotion, outcome } = result;
  const lines: string[] = [];
  if (outcome.status === 'SUCCEEDED') {
    const output = outcome.output as { status?: string; reason?: string } | null;
    if (output?.status === 'unchanged') {
      lines.push(`Not trained: ${output.reason} (--force trains anyway).`);
    } else if (promotion) {
      const version = promotion.candidate.version;
      if (result.elapsedSeconds !== undefined) lines.push(`Trained in ${formatDuration(result.elapsedSeconds)}${result.refit ? ' (the validated run and the refit)' : ''}.`);
      lines.push(
        promotion.promoted
          ? `PROMOTED: model ${version} is the champion now; \`exodetect run\` uses it.`
          : `NOT PROMOTED: \`exodetect run\` keeps using ${result.modelInUse}. Model ${version} stays in the store: \`exodetect models use ${version}${dataDirFlag(result.dataDir)}\` runs it anyway.`,
      );
      const details: string[] = [`Why: ${promotion.promoted ? promotion.reason : promotion.reason.replace(/^not promoted: /, '')}.`];
      details.push(...validationFigureLines(promotion, result.refit !== undefined));
      const shipped = shippedAsLine(result);
      if (shipped) details.push(shipped);
      const validationObjects = promotion.candidate.validation.n_objects;
      if (typeof validationObjects === 'number' && validationObjects < DEFAULT_MIN_VALIDATION_OBJECTS) {
        details.push(
          `${thresholdChosenOn(result.thresholds, result.refit !== undefined)} ${plural(validationObjects, 'annotated object')}, so it leans on the prior of ${THRESHOLD_PRIOR} and may be off for your images. Before trusting counts, score the model on other annotated images (\`exodetect evaluate <folder> --model ${version}${dataDirFlag(result.dataDir)}\`): it prints the threshold those images recommend, which \`run --score-threshold\` takes.`,
        );
      }
      if (result.outDir) {
        details.push(`Model card and metrics: ${result.outDir}`);
        const heldOut = `\`exodetect evaluate <dataset> --held-out ${path.join(result.outDir, 'split.json')}${dataDirFlag(result.dataDir)}\``;
        details.push(
          result.refit
            ? `The held-out images these figures are on: ${path.join(result.outDir, 'split.json')} (channels.validation). ${heldOut} scores the validated model on them again; to score the refit model, use a folder of annotated images it never saw.`
            : `The held-out images these figures are on: ${path.join(result.outDir, 'split.json')} (channels.validation); the model trained on the rest. Score it on images it never saw: ${heldOut} (its model is the default there), or a folder of other annotated images.`,
        );
      }
      lines.push(...details.map((line) => `  ${line}`));
      return lines;
    }
  } else {
    // The first line of the reason: the problems it lists were shown above; the whole of it is in failure.txt.
    const reason = readableCause(outcome.cause ?? '').split('\n')[0]!.replace(/:$/, '');
    lines.push(`Training FAILED: ${reason}`);
    if (result.outDir) lines.push(`The trainer's whole message: ${path.join(result.outDir, 'failure.txt')}`);
  }
  lines.push(`exodetect run uses ${result.modelInUse}.`);
  return lines;
}
