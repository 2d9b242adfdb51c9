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
import { ExodetectError } from '../lambdas/core/errors.js';
import { RESULT_FILES } from '../lambdas/core/keys.js';
import { batchStatus, cloudSettings, downloadResults, uploadBatch } from './commands/cloud.js';
import { batchManifest, parseScoreThreshold, parseSizeGate, type ManifestFlags } from './commands/batch-manifest.js';
import { DEFAULT_DATA_DIR, runBatchLocally } from './commands/run.js';
import { describeSummaryFile } from './commands/run-summary.js';
import { progressBar, quietNodeVersionNotice } from './progress.js';
import { PortInUseError } from './s3-server.js';

const positiveNumber = (name: string) => (raw: string): number => {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got "${raw}"`);
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
    .showHelpAfterError();

  program
    .command('run')
    .description('Run a folder of micrographs through the local workflow (same state machine and handlers as in AWS).')
    .argument('<images-dir>', 'folder of .png/.jpg/.tif/.dm3/.dm4/.mrc micrographs (sub-folders too); a batch.json there is the batch manifest')
    .option('--nm-per-px <x>', 'scale for every image (overrides the files\' own calibration and batch.json)', positiveNumber('--nm-per-px'))
    .option('--size-gate <min,max>', 'size gate in nm, e.g. 30,150: objects outside are marked and left out of the statistics', parseSizeGate)
    .option('--score-threshold <s>', 'detection score threshold in [0, 1] (default: the model\'s recommended one)', parseScoreThreshold)
    .option('--sample <text>', 'sample name, recorded with the batch')
    .option('--notes <text>', 'notes, recorded with the batch')
    .option('--model <m>', 'a .onnx file, a folder with model.onnx, or a model version in the local store (default: the local champion, else models/default)')
    .option('--out <dir>', 'where to copy the results (default: exodetect-results/<batch-id>)')
    .option('--batch <id>', 'batch id (default: folder name and time)')
    .option('--data-dir <dir>', 'local S3 folder', DEFAULT_DATA_DIR)
    .option('--port <n>', 'local S3 port on 127.0.0.1 (0: any free port)', port, 0)
    .action(async (imagesDir: string, opts: ManifestFlags & { model?: string; out?: string; batch?: string; dataDir: string; port: number }) => {
      const { manifest, file } = await batchManifest(imagesDir, opts);
      if (file) process.stderr.write(`Batch manifest: ${file}${Object.keys(manifest).length ? ` (${Object.keys(manifest).join(', ')})` : ''}\n`);
      const result = await runBatchLocally({
        imagesDir,
        manifest,
        model: opts.model,
        outDir: opts.out,
        batchId: opts.batch,
        dataDir: opts.dataDir,
        port: opts.port,
      });
      if (result.outcome.status !== 'SUCCEEDED') {
        process.exitCode = 1;
        return;
      }
      const s = result.summary;
      out(`Batch ${result.batchId}: ${s?.images ?? '?'} images, ${s?.failed ?? 0} failed, ${s?.detections ?? '?'} detections in ${result.seconds.toFixed(1)} s`);
      for (const line of await describeSummaryFile(path.join(result.outDir, RESULT_FILES.summary))) out(line);
      out(`Results: ${result.outDir}`);
      out(`Report:  ${path.join(result.outDir, RESULT_FILES.report)}`);
    });

  program
    .command('train')
    .description('Train locally through the training state machine (CPU PyTorch); ends with the model registered and promoted or rejected.')
    .argument('<dataset-dir>', 'annotated images (YOLO txt, COCO json, VOC xml or makesense csv; optional dataset.json)')
    .option('--epochs <n>', 'training epochs', positiveInteger('--epochs'))
    .option('--name <dataset>', 'dataset name under datasets/ (default: the folder name)')
    .option('--batch-size <n>', 'images per step', positiveInteger('--batch-size'))
    .option('--nm-per-px <x>', 'scale of the dataset images (else dataset.json)', positiveNumber('--nm-per-px'))
    .option('--validation-fraction <f>', 'held-out share for validation', positiveNumber('--validation-fraction'))
    .option('--hyperparameter <k=v...>', 'more trainer hyperparameters (repeatable)')
    .option('--force', 'train even if the dataset did not change since the champion')
    .option('--data-dir <dir>', 'local S3 folder', DEFAULT_DATA_DIR)
    .option('--port <n>', 'local S3 port', port, 0)
    .action(async (datasetDir: string, opts: Record<string, unknown>) => {
      const { trainLocally } = await import('./commands/train.js');
      const result = await trainLocally({
        datasetDir,
        datasetName: opts.name as string | undefined,
        epochs: opts.epochs as number | undefined,
        batchSize: opts.batchSize as number | undefined,
        nmPerPx: opts.nmPerPx as number | undefined,
        validationFraction: opts.validationFraction as number | undefined,
        hyperparameters: parsePairs((opts.hyperparameter as string[] | undefined) ?? []),
        force: Boolean(opts.force),
        dataDir: opts.dataDir as string,
        port: opts.port as number,
      });
      out(JSON.stringify(result.output ?? { status: result.status, error: result.error, cause: result.cause }, null, 2));
      if (result.status !== 'SUCCEEDED') process.exitCode = 1;
    });

  program
    .command('evaluate')
    .description('Run the production inference path over annotated images; write predictions.coco.json and metrics.json.')
    .requiredOption('--images <dir>', 'folder of annotated micrographs')
    .requiredOption('--annotations <path>', 'COCO json file, or a folder of YOLO txt labels')
    .option('--model <m>', 'a .onnx file or a folder with model.onnx (default: models/default)')
    .option('--out <dir>', 'output folder', 'exodetect-evaluation')
    .option('--nm-per-px <x>', 'scale of the images (else the files\', else the model\'s)', positiveNumber('--nm-per-px'))
    .action(async (opts: { images: string; annotations: string; model?: string; out: string; nmPerPx?: number }) => {
      const { evaluateLocally } = await import('./commands/evaluate.js');
      const result = await evaluateLocally({
        imagesDir: opts.images,
        annotations: opts.annotations,
        model: opts.model,
        outDir: opts.out,
        nmPerPx: opts.nmPerPx,
      });
      const m = result.metrics;
      out(
        `AP50 ${m.ap50.toFixed(4)}  AP50:95 ${m.ap50_95.toFixed(4)}  P ${m.precision.toFixed(4)}  R ${m.recall.toFixed(4)}  F1 ${m.f1.toFixed(4)}` +
          `  (threshold ${m.threshold}, ${m.n_images} images, ${m.n_objects} objects)`,
      );
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
      .option('--nm-per-px <x>', 'scale for every image', positiveNumber('--nm-per-px')),
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

/** Known problems print one line; anything else keeps its stack for a bug report. */
export function describeError(err: unknown): string {
  if (err instanceof ExodetectError || err instanceof PortInUseError) return err.message;
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
