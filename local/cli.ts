/**
 * The `exodetect` command. Local commands run the whole workflow on this
 * machine (s3rver, local Step Functions, the real handlers, local SageMaker);
 * cloud commands talk to a deployed stack with the AWS SDK.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { ExodetectError } from '../lambdas/shared/errors.js';
import { PLAUSIBLE_NM_PER_PX } from '../lambdas/detect/calibration.js';
import { InputError } from './errors.js';
import { RESULT_FILES } from '../lambdas/shared/keys.js';
import { priorShare, THRESHOLD_PRIOR } from '../lambdas/evaluation/detection-metrics.js';
import { createS3Client } from '../lambdas/shared/s3-client.js';
import { batchStatus, cloudSettings, downloadResults, uploadBatch } from './commands/cloud.js';
import { batchManifest, parseScoreThreshold, parseSizeGate, type ManifestFlags } from './commands/batch-manifest.js';
import { badShareVerdict } from './commands/problems-report.js';
import { DEFAULT_DATA_DIR, dataDirFlag, describeBatchRun, runBatchLocally } from './commands/run.js';
import { progressBar, quietNodeVersionNotice } from './progress.js';
import { PortInUseError } from './s3-server.js';

/** "1,5" is a decimal comma: say so rather than only that it is not a number. */
function numberOrHint(name: string, raw: string): number {
  const value = Number(raw);
  if (Number.isFinite(value)) return value;
  if (/^\d+,\d+$/.test(raw.trim())) throw new InvalidArgumentError(`${name} takes a decimal point, not a comma: ${raw.trim().replace(',', '.')}`);
  throw new InvalidArgumentError(`${name} must be a number, got "${raw}"`);
}
const positiveNumber = (name: string) => (raw: string): number => {
  const value = numberOrHint(name, raw);
  if (!(value > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got "${raw}"`);
  return value;
};
/** A pixel size outside what TEM of vesicles uses is a typo (25 for 2.5): refused before anything is uploaded. */
const pixelSize = (name: string) => (raw: string): number => {
  const value = positiveNumber(name)(raw);
  const [lo, hi] = PLAUSIBLE_NM_PER_PX;
  if (value < lo || value > hi) {
    throw new InvalidArgumentError(`${name} ${raw} is outside ${lo}-${hi} nm/px, the range TEM of vesicles uses (a factor of 10: ${value > hi ? value / 10 : value * 10}?)`);
  }
  return value;
};
const positiveInteger = (name: string) => (raw: string): number => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${raw}"`);
  return value;
};
const port = (raw: string): number => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError(`port must be 0-65535, got "${raw}"`);
  return value;
};

const out = (line: string) => process.stdout.write(`${line}\n`);

export function buildProgram(): Command {
  const program = new Command('exodetect')
    .description('Find, count and size exosomes in TEM micrographs: locally, or against a deployed stack.')
    .showHelpAfterError('(exodetect <command> --help lists its options)');

  program
    .command('run')
    .description('Run a folder of micrographs through the local workflow (same state machine and handlers as in AWS).')
    .argument('<images-dir>', 'folder of .png/.jpg/.tif/.dm3/.dm4/.mrc micrographs (sub-folders too); a batch.json there is the batch manifest')
    .option('--nm-per-px <x>', 'scale for every image (overrides the files\' own calibration and batch.json)', pixelSize('--nm-per-px'))
    .option('--size-gate <min,max>', 'size gate in nm, e.g. 30,150: objects outside are marked and left out of the statistics', parseSizeGate)
    .option('--score-threshold <s>', 'detection score threshold in [0, 1] (default: the model\'s recommended one)', parseScoreThreshold)
    .option('--sample <text>', 'sample name, recorded with the batch')
    .option('--notes <text>', 'notes, recorded with the batch')
    .option('--model <m>', 'a .onnx file, a folder with model.onnx, or a model version in the local store (default: the local champion, else models/default)')
    .option('--out <dir>', 'where to copy the results (default: exodetect-results/<batch-id>)')
    .option('--batch <id>', 'batch id (default: folder name and time)')
    .option('--replace', 'replace an earlier batch with the same --batch id (its images and results) and the results in --out')
    .option('--tolerate-failed <percent>', 'the batch fails when more than this share of its images fail (default 10, as deployed)', (raw: string) => {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 0 || value > 100) throw new InvalidArgumentError(`--tolerate-failed must be a whole percentage 0-100, got "${raw}"`);
      return value;
    })
    .option('--data-dir <dir>', 'local S3 folder', DEFAULT_DATA_DIR)
    .option('--port <n>', 'local S3 port on 127.0.0.1 (0: any free port)', port, 0)
    .action(async (imagesDir: string, opts: ManifestFlags & { model?: string; out?: string; batch?: string; replace?: boolean; tolerateFailed?: number; dataDir: string; port: number }) => {
      const { manifest, file } = await batchManifest(imagesDir, opts);
      if (file) process.stderr.write(`Batch manifest: ${file}${Object.keys(manifest).length ? ` (${Object.keys(manifest).join(', ')})` : ''}\n`);
      const result = await runBatchLocally({
        imagesDir,
        manifest,
        // Given again on its own so the summary can say the flag, not batch.json, set the scale.
        nmPerPx: opts.nmPerPx,
        model: opts.model,
        outDir: opts.out,
        batchId: opts.batch,
        replace: Boolean(opts.replace),
        toleratedFailurePercentage: opts.tolerateFailed,
        dataDir: opts.dataDir,
        port: opts.port,
      });
      for (const line of await describeBatchRun(result)) out(line);
      out(`Results: ${result.outDir}`);
      if (existsSync(path.join(result.outDir, RESULT_FILES.report))) out(`Report:  ${path.join(result.outDir, RESULT_FILES.report)}`);
      if (result.outcome.status !== 'SUCCEEDED') process.exitCode = 1;
    });

  program
    .command('train')
    .description('Train locally through the training state machine (CPU PyTorch); ends with the model promoted (it beat the champion, or the bundled default model) or rejected.')
    .argument('[dataset-dir]', 'annotated images: YOLO txt (+ classes.txt), COCO json (one for the folder or several), VOC xml, makesense csv; optional dataset.json; with --annotations: the folder with the images it names')
    .option('--annotations <file>', "a reviewed COCO file (report.html's download): trains on it and the images it names, from the batch in the local store unless a folder is given")
    .option('--epochs <n>', 'training epochs (default: 40, or 80 from 100 labelled images)', positiveInteger('--epochs'))
    .option('--init-from <m>', 'start from: default (the bundled model), champion, a model version, a .pt file, or none (default: the champion if there is one, else the bundled model)')
    .option('--name <dataset>', 'dataset name under datasets/ (default: the folder name; with --annotations, <batch id>-reviewed)')
    .option('--batch-size <n>', 'images per step', positiveInteger('--batch-size'))
    .option('--nm-per-px <x>', 'scale of every image (else dataset.json, the COCO file, the files\' own calibration)', pixelSize('--nm-per-px'))
    .option('--validation-fraction <f>', 'held-out share for validation (default 0.2, and at least 10 images from 30 images on)', positiveNumber('--validation-fraction'))
    .option('--hyperparameter <k=v...>', 'more trainer hyperparameters (repeatable)')
    .option('--force', 'train even if the dataset did not change since the champion')
    .option('--out <dir>', 'where the run\'s problems.txt, model card and metrics go (default: exodetect-training/<dataset>-<run>)')
    .option('--json', 'print the state machine\'s output as JSON instead of the summary')
    .option('--data-dir <dir>', 'local S3 folder', DEFAULT_DATA_DIR)
    .option('--port <n>', 'local S3 port', port, 0)
    .action(async (datasetDir: string | undefined, opts: Record<string, unknown>) => {
      const { describeTraining, trainLocally } = await import('./commands/train.js');
      const result = await trainLocally({
        datasetDir,
        annotationsFile: opts.annotations as string | undefined,
        datasetName: opts.name as string | undefined,
        epochs: opts.epochs as number | undefined,
        batchSize: opts.batchSize as number | undefined,
        nmPerPx: opts.nmPerPx as number | undefined,
        validationFraction: opts.validationFraction as number | undefined,
        initFrom: opts.initFrom as string | undefined,
        hyperparameters: parsePairs((opts.hyperparameter as string[] | undefined) ?? []),
        force: Boolean(opts.force),
        outDir: opts.out as string | undefined,
        dataDir: opts.dataDir as string,
        port: opts.port as number,
        report: opts.json ? undefined : out,
      });
      const { outcome } = result;
      if (opts.json) out(JSON.stringify(outcome.output ?? { status: outcome.status, error: outcome.error, cause: outcome.cause }, null, 2));
      else for (const line of describeTraining(result)) out(line);
      if (outcome.status !== 'SUCCEEDED') process.exitCode = 1;
    });

  const models = program.command('models').description('The models in the local store and which one exodetect run uses (models [list] [--data-dir <dir>]; models use <version>).');
  models
    .command('list', { isDefault: true })
    .description('list the models with their validation figures')
    .option('--data-dir <dir>', 'local S3 folder', DEFAULT_DATA_DIR)
    .action(async (opts: { dataDir: string }) => {
      const { describeModels, listModels } = await import('./commands/models.js');
      for (const line of describeModels(await listModels(opts.dataDir))) out(line);
    });
  models
    .command('use')
    .description('make a model the one exodetect run uses (default: back to the bundled model)')
    .argument('<version>', 'a model version from exodetect models, or default')
    .option('--data-dir <dir>', 'local S3 folder', DEFAULT_DATA_DIR)
    .action(async (version: string, opts: { dataDir: string }) => {
      const { useModel } = await import('./commands/models.js');
      out(await useModel(version, opts.dataDir));
    });

  program
    .command('check')
    .description('What training would make of an annotated folder: labelled images, scales and their sources, every annotation problem with file and line.')
    .argument('<dataset-dir>', 'annotated images (any of the formats train reads)')
    .option('--nm-per-px <x>', 'scale of every image (else dataset.json, the COCO file, the files\' own calibration)', pixelSize('--nm-per-px'))
    .option('--truth-out <file>', 'write the canonical ground truth (truth.json: what the trainer, promotion and evaluate read)')
    .action(async (datasetDir: string, opts: { nmPerPx?: number; truthOut?: string }) => {
      const { checkDatasetFolder, describeCheck } = await import('./commands/check.js');
      const result = await checkDatasetFolder({ datasetDir, nmPerPx: opts.nmPerPx, truthOut: opts.truthOut });
      for (const line of describeCheck(result, datasetDir)) out(line);
      // Non-zero when training would stop on this folder: no usable image, or too many problems.
      const objects = result.ingested.images.reduce((n, i) => n + i.objects.length, 0);
      if (result.ingested.images.length === 0 || badShareVerdict(result.ingested.problems.length, objects).fails) process.exitCode = 1;
    });

  program
    .command('evaluate')
    .description('Score a model on an annotated folder (the folders train takes) through the production inference path; write predictions.coco.json and metrics.json.')
    .argument('[dataset-dir]', 'annotated micrographs: YOLO, COCO, VOC or makesense labels, dataset.json scales')
    .option('--images <dir>', 'the annotated folder (same as the argument)')
    .option('--annotations <path>', 'an annotation file or folder kept outside the images folder')
    .option('--model <m>', 'default (the bundled model), champion, a model version as results print it (<version>:validated: a refit model\'s validated run), a .onnx file or a folder with model.onnx (default: as run, the champion, else the bundled model)')
    .option('--out <dir>', 'output folder', 'exodetect-evaluation')
    .option('--nm-per-px <x>', 'scale of every image (else the dataset\'s, else the files\', else the model\'s)', pixelSize('--nm-per-px'))
    .option('--size-gate <min,max>', 'score only objects of this size in nm, e.g. 80,400 (true objects by their outline\'s diameter; a detection that found one goes with it, any other by its reported diameter)', parseSizeGate)
    .option('--score-threshold <s>', 'give precision, recall and F1 at this score (default: the model\'s recommended one)', parseScoreThreshold)
    .option('--data-dir <dir>', 'local S3 folder (for champion and version references)', DEFAULT_DATA_DIR)
    .option('--no-pictures', 'do not draw each image\'s outcome (found, false positives, missed) under <out>/pictures')
    .option('--held-out <split.json>', 'score only the images this training run held out (the split.json train writes beside the card); without --model, that run\'s model')
    .action(async (datasetArg: string | undefined, opts: { images?: string; annotations?: string; model?: string; out: string; nmPerPx?: number; dataDir: string; sizeGate?: [number, number]; scoreThreshold?: number; pictures: boolean; heldOut?: string }) => {
      const datasetDir = datasetArg ?? opts.images;
      if (!datasetDir) throw new InputError('give the annotated folder: exodetect evaluate <dataset-dir> (see exodetect evaluate --help)');
      const { evaluateLocally, sizingLines, OUTCOME_LEGEND } = await import('./commands/evaluate.js');
      const result = await evaluateLocally({
        datasetDir, annotations: opts.annotations, model: opts.model, outDir: opts.out, nmPerPx: opts.nmPerPx, dataDir: opts.dataDir,
        sizeGateNm: opts.sizeGate, scoreThreshold: opts.scoreThreshold, pictures: opts.pictures, heldOutFrom: opts.heldOut,
      });
      const m = result.metrics;
      const gate = opts.sizeGate ? ` of ${opts.sizeGate[0]}-${opts.sizeGate[1]} nm (--size-gate; detections and true objects outside it are not scored)` : '';
      out(`Model: ${result.model}; ${result.images} labelled images${opts.heldOut ? ` (those ${opts.heldOut} held out)` : ''}, ${m.n_objects} objects${gate}.`);
      out(
        `AP50 ${m.ap50.toFixed(4)}  AP50:95 ${m.ap50_95.toFixed(4)}  P ${m.precision.toFixed(4)}  R ${m.recall.toFixed(4)}  F1 ${m.f1.toFixed(4)}` +
          `  (threshold ${m.threshold})`,
      );
      if (result.trainedOnScored) {
        out(
          `Warning: ${result.trainedOnScored} of these ${result.images} images are ones this model trained on (its run ${result.trainedOnRun}): the figures here flatter it, and so would a threshold chosen on them. ` +
            'Score it on annotated images it never saw: another folder, or the ones its run held out (--held-out with the split.json `exodetect train` wrote beside the card).',
        );
      }
      const figures = (f: { precision: number; recall: number; f1: number }) => `P ${f.precision.toFixed(4)}  R ${f.recall.toFixed(4)}  F1 ${f.f1.toFixed(4)}`;
      const { atBestF1: best, atRecommended: recommended } = result;
      if (best.threshold !== m.threshold) out(`At ${best.threshold}, the threshold with the best F1 on these images (tuned on what it scores, so optimistic): ${figures(best)}.`);
      if (recommended.threshold !== m.threshold) {
        const use = result.heldOutCheck
          ? "a threshold of the validated model: the refit model, the one the run shipped, scores on its own scale, so this is no setting for it"
          : `exodetect run${dataDirFlag(opts.dataDir)}${opts.model ? ` --model ${opts.model}` : ''} --score-threshold ${recommended.threshold}${opts.sizeGate ? ` --size-gate ${opts.sizeGate[0]},${opts.sizeGate[1]}` : ''} uses it`;
        out(
          `At ${recommended.threshold}, the threshold these ${m.n_objects} objects recommend (the best-F1 one moved ${Math.round(100 * priorShare(m.n_objects))}% of the way toward ${THRESHOLD_PRIOR}, ` +
            `as the trainer chooses a model's: a threshold picked on few objects is noisy): ${figures(recommended)} (${use}).`,
        );
      }
      for (const line of sizingLines(m, result.outlineMethods)) out(line);
      if (result.assumedScale) out(`${result.assumedScale} image${result.assumedScale === 1 ? '' : 's'} had no scale in the dataset or the file: they were analysed at the model's scale (give dataset.json or --nm-per-px).`);
      for (const m of result.missingImages) out(`${m.file} names ${m.images} image${m.images === 1 ? '' : 's'} that are not in the folder: not scored.`);
      if (result.trainedOnLeftOut) out(`${result.trainedOnLeftOut} labelled image${result.trainedOnLeftOut === 1 ? '' : 's'} not scored: the run trained on ${result.trainedOnLeftOut === 1 ? 'it' : 'them'} (--held-out).`);
      if (result.pseudoLabelledLeftOut) out(`${result.pseudoLabelledLeftOut} pseudo-labelled image${result.pseudoLabelledLeftOut === 1 ? '' : 's'} under pseudo-labels/ not scored: their labels came from a model.`);
      if (result.problems.length) out(`${result.problems.length} annotation problem${result.problems.length === 1 ? '' : 's'} (skipped; listed in metrics.json), the first: ${result.problems[0]}`);
      if (result.failedImages.length) out(`${result.failedImages.length} image${result.failedImages.length === 1 ? '' : 's'} could not be analysed, the first: ${result.failedImages[0]!.file}: ${result.failedImages[0]!.error}`);
      const worst = result.reviews.filter((r) => r.falsePositives + r.missed > 0).slice(0, 3);
      if (worst.length) {
        const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
        out(`Most errors at the threshold: ${worst.map((r) => `${r.file} (${count(r.falsePositives, 'false positive')}, ${r.missed} missed)`).join(', ')}.`);
      }
      if (result.picturesDir) out(`Pictures of every image (${OUTCOME_LEGEND}): ${result.picturesDir}`);
      out(`Wrote ${result.predictionsFile} and ${result.metricsFile}`);
    });

  program
    .command('export-annotations')
    .description('Export a batch\'s detections as annotations for correction in an annotation tool (see --help of the exporter).')
    .allowUnknownOption(true)
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commands', 'export-annotations.ts');
      if (!existsSync(file)) throw new ExodetectError('export-annotations is not available in this build (local/commands/export-annotations.ts is missing)');
      const mod = (await import('./commands/export-annotations.js' as string)) as { main?: (argv: string[]) => Promise<unknown>; exportAnnotationsCli?: (argv: string[]) => Promise<unknown> };
      const entry = mod.main ?? mod.exportAnnotationsCli;
      if (!entry) throw new ExodetectError('local/commands/export-annotations.ts exports no main(argv)');
      await entry(args);
    });

  const cloud = (cmd: Command) =>
    cmd
      .option('--bucket <name>', 'the stack\'s data bucket (env EXODETECT_BUCKET)')
      .option('--region <region>', 'AWS region (env AWS_REGION)');

  cloud(
    program
      .command('upload')
      .description('Upload a batch to a deployed stack: the images, then batch.json (which starts the workflow). Resumable.')
      .argument('<images-dir>', 'folder of micrographs')
      .requiredOption('--batch <id>', 'batch id')
      .option('--nm-per-px <x>', 'scale for every image', pixelSize('--nm-per-px')),
  ).action(async (imagesDir: string, opts: { batch: string; bucket?: string; region?: string; nmPerPx?: number }) => {
    const s3 = new S3Client({ region: opts.region });
    let bar: ReturnType<typeof progressBar> | undefined;
    const result = await uploadBatch({
      s3,
      settings: cloudSettings(opts),
      imagesDir,
      batchId: opts.batch,
      manifest: (await batchManifest(imagesDir, { nmPerPx: opts.nmPerPx })).manifest,
      onProgress: (p) => {
        bar ??= progressBar({ label: 'Uploading', total: p.total });
        bar.update(p.done);
      },
    });
    bar?.stop();
    out(`Uploaded ${result.uploaded} images (${result.skipped} already there), then s3://${cloudSettings(opts).bucket}/${result.manifestKey}`);
  });

  cloud(
    program
      .command('upload-corrections')
      .description("Put a reviewed COCO file (report.html's download) and the images it names under datasets/<name>/<batch id>/ of a deployed stack, for the next training run.")
      .argument('<annotations-file>', 'the downloaded <batch>.reviewed.coco.json')
      .option('--name <dataset>', 'dataset name under datasets/ (default: <batch id>-reviewed; the stack\'s trainingDataset to join the scheduled runs)')
      .option('--images <dir>', "upload the images from this folder instead of copying them from the batch's images in the bucket"),
  ).action(async (file: string, opts: { name?: string; images?: string; bucket?: string; region?: string }) => {
    const { readReviewedAnnotations, stageCorrections } = await import('./commands/corrections.js');
    const { reviewedDatasetName } = await import('../lambdas/inference/report/review-page.js');
    const settings = cloudSettings(opts);
    const annotations = await readReviewedAnnotations(file);
    const name = opts.name ?? reviewedDatasetName(annotations.batchId ?? 'corrections');
    let bar: ReturnType<typeof progressBar> | undefined;
    const staged = await stageCorrections({
      // EXODETECT_S3_ENDPOINT (the local stand-in) is honoured like everywhere else; otherwise AWS.
      s3: createS3Client(process.env, opts.region ? { region: opts.region } : {}),
      bucket: settings.bucket,
      annotations,
      datasetName: name,
      imagesDir: opts.images,
      onProgress: (p) => {
        bar ??= progressBar({ label: opts.images ? 'Uploading images' : 'Copying images', total: p.total });
        bar.update(p.done);
      },
    });
    bar?.stop();
    const count = (n: number, word: string, plural: string): string => `${n} ${n === 1 ? word : plural}`;
    out(`Put ${count(annotations.boxes, 'box', 'boxes')} on ${count(staged.images, 'image', 'images')} under s3://${settings.bucket}/${staged.prefix} (${path.basename(file)} last).`);
    out(`Train on datasets/${name}/ now: aws stepfunctions start-execution --state-machine-arn <TrainingStateMachineArn> --input '{"dataset": "${name}"}'`);
  });

  cloud(
    program
      .command('status')
      .description('Status of a batch on a deployed stack.')
      .argument('<batch-id>')
      .option('--state-machine-arn <arn>', 'the inference state machine (env EXODETECT_INFERENCE_STATE_MACHINE_ARN)'),
  ).action(async (batchId: string, opts: { bucket?: string; region?: string; stateMachineArn?: string }) => {
    const status = await batchStatus({ s3: new S3Client({ region: opts.region }), sfn: new SFNClient({ region: opts.region }), settings: cloudSettings(opts), batchId });
    out(JSON.stringify(status, null, 2));
  });

  cloud(
    program
      .command('results')
      .description('Download a batch\'s results from a deployed stack.')
      .argument('<batch-id>')
      .requiredOption('--out <dir>', 'output folder'),
  ).action(async (batchId: string, opts: { bucket?: string; region?: string; out: string }) => {
    let bar: ReturnType<typeof progressBar> | undefined;
    const n = await downloadResults({
      s3: new S3Client({ region: opts.region }),
      settings: cloudSettings(opts),
      batchId,
      outDir: opts.out,
      onProgress: (p) => {
        bar ??= progressBar({ label: 'Downloading', total: p.total });
        bar.update(p.done);
      },
    });
    bar?.stop();
    out(`Downloaded ${n} files to ${opts.out}`);
  });

  return program;
}

function parsePairs(pairs: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`--hyperparameter expects key=value, got "${pair}"`);
    result[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return result;
}

const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a file where a folder was expected',
  EISDIR: 'a folder where a file was expected',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
};

/** Known problems print one line; anything else keeps its stack for a bug report. */
export function describeError(err: unknown): string {
  if (err instanceof ExodetectError || err instanceof PortInUseError || err instanceof InvalidArgumentError) return err.message;
  const system = err as NodeJS.ErrnoException;
  // A file the user named that is not there or not readable: the path and the reason, without a stack.
  if (system?.path && typeof system.code === 'string' && SYSTEM_ERRORS[system.code]) return `${system.path}: ${SYSTEM_ERRORS[system.code]}`;
  if (err instanceof Error && (err.name === 'CredentialsProviderError' || err.name === 'ExpiredToken')) return `AWS credentials: ${err.message}`;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

export async function main(argv: string[] = process.argv): Promise<void> {
  quietNodeVersionNotice();
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`exodetect: ${describeError(err)}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main();
}
