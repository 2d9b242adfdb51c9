/**
 * register-model's logic: unpack the training job's model.tar.gz and file its
 * model under models/<version>/ (model.onnx, metrics.json, card.md,
 * registration.json). Registration does not make a model the champion.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { modelCardKey, modelHeldOutCheckKey, modelKey, modelMetricsKey, modelRegistrationKey, modelWeightsKey } from '../shared/keys.js';
import { EvaluationSchema } from './champion.js';
import { ModelArtifactError } from './errors.js';
import { getObjectBytes, parseS3Uri, putJson } from '../shared/s3-objects.js';
import { readTarGz, type TarEntry } from './tar.js';

export const MetricsSchema = z
  .object({
    format: z.literal('exodetect-metrics'),
    version: z.number(),
    model_version: z.string().optional(),
    /** The trainer's fingerprint of the data it read (not the dataset listing's: see champion.json). */
    dataset_fingerprint: z.string().optional(),
    epochs: z.number().optional(),
    score_threshold: z.number().optional(),
    nm_per_px: z.number().optional(),
    validation: EvaluationSchema,
    test: EvaluationSchema.optional(),
    /** Present when the model was refit on train and validation together after the validated run (the trainer's `refit`). */
    refit: z
      .object({ images: z.number(), objects: z.number().optional(), epochs: z.number().optional(), held_out_check_model: z.string() })
      .passthrough()
      .nullable()
      .optional(),
    annotations: z
      .object({ images: z.number().optional(), objects: z.number().optional(), skipped: z.number().optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type ModelMetrics = z.infer<typeof MetricsSchema>;

export interface RegisterModelInput {
  readonly bucket: string;
  readonly dataset: string;
  readonly runId: string;
  readonly modelVersion: string;
  /** check-dataset's fingerprint of the datasets/ listing. */
  readonly fingerprint: string;
  readonly trainingJobName: string;
  /** s3:// URI of model.tar.gz. */
  readonly modelArtifacts: string;
  readonly split?: unknown;
}

/** What register-model returns and promote-model is given: one schema for both (the state passes it through). */
export const RegisteredModelSchema = z.object({
  version: z.string().min(1),
  modelKey: z.string().min(1),
  metricsKey: z.string().min(1),
  cardKey: z.string().min(1),
  registrationKey: z.string().min(1),
  /** models/<version>/model.pt (the torch weights a later run can fine-tune from), or null when the archive has none. */
  weightsKey: z.string().nullable(),
  /**
   * models/<version>/validated.onnx when the model was refit on every labelled image: the validated run's model,
   * which stands in for it on the held-out images (the head-to-head). Null (or absent) otherwise.
   */
  heldOutCheckKey: z.string().nullable().optional(),
  validation: EvaluationSchema,
  test: EvaluationSchema.nullable(),
  scoreThreshold: z.number().nullable(),
  /** The fingerprint of the datasets/ listing the model was trained on (compared by check-dataset). */
  datasetFingerprint: z.string(),
  dataset: z.string(),
});
export type RegisteredModel = Readonly<z.infer<typeof RegisteredModelSchema>>;

export interface RegisterProps {
  /** Refuse archives larger than this (bytes). Default 256 MiB: a model is a few MB, and the archive is gunzipped in a 1 GB function. */
  readonly maxArchiveBytes?: number;
}

const MODEL_VERSION_PATTERN = /^[A-Za-z0-9._-]+$/;

function findEntry(entries: readonly TarEntry[], name: string): TarEntry | undefined {
  // At the archive root; a single sub-folder (e.g. model/model.onnx) is accepted too.
  return entries.find((e) => e.path === name) ?? entries.find((e) => e.path.split('/').length === 2 && e.path.endsWith(`/${name}`));
}

export function parseMetrics(text: string, source: string): ModelMetrics {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelArtifactError(`${source}: metrics.json is not valid JSON (${(error as Error).message})`);
  }
  const parsed = MetricsSchema.safeParse(json);
  if (!parsed.success) throw new ModelArtifactError(`${source}: metrics.json is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

const fmt = (value: number | null | undefined, digits = 3): string =>
  value === undefined || value === null ? 'n/a' : value.toFixed(digits);

/** A model card for archives that carry none. */
export function generatedCard(input: RegisterModelInput, metrics: ModelMetrics): string {
  const v = metrics.validation;
  return [
    `# exodetect model ${input.modelVersion}`,
    '',
    `Trained by SageMaker job \`${input.trainingJobName}\` on dataset \`${input.dataset}\` (listing fingerprint \`${input.fingerprint.slice(0, 16)}\`).`,
    '',
    '## Validation (held-out split)',
    '',
    '| precision | recall | F1 | AP50 | AP50:95 | diameter median abs. error (nm) | images | objects |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${fmt(v.precision)} | ${fmt(v.recall)} | ${fmt(v.f1)} | ${fmt(v.ap50)} | ${fmt(v.ap50_95)} | ${fmt(v.diameter_median_abs_error_nm, 1)} | ${v.n_images ?? 'n/a'} | ${v.n_objects ?? 'n/a'} |`,
    '',
    `Recommended score threshold: ${fmt(metrics.score_threshold)}; training scale: ${metrics.nm_per_px ?? 'n/a'} nm/px; epochs: ${metrics.epochs ?? 'n/a'}.`,
    '',
  ].join('\n');
}

export async function registerModel(s3: S3Client, input: RegisterModelInput, props: RegisterProps = {}): Promise<RegisteredModel> {
  const maxArchiveBytes = props.maxArchiveBytes ?? 256 * 1024 ** 2;
  if (!MODEL_VERSION_PATTERN.test(input.modelVersion)) {
    throw new ModelArtifactError(`model version "${input.modelVersion}" must be letters, digits, '.', '_' or '-'`);
  }
  let artifact: { bucket: string; key: string };
  try {
    artifact = parseS3Uri(input.modelArtifacts);
  } catch (error) {
    throw new ModelArtifactError((error as Error).message);
  }
  if (artifact.key === '') throw new ModelArtifactError(`"${input.modelArtifacts}" names a bucket, not the model archive`);
  const archive = await getObjectBytes(s3, artifact.bucket, artifact.key);
  if (archive === undefined) throw new ModelArtifactError(`${input.modelArtifacts}: not found`);
  if (archive.length > maxArchiveBytes) {
    throw new ModelArtifactError(`${input.modelArtifacts}: ${archive.length} bytes exceeds the ${maxArchiveBytes}-byte limit`);
  }
  let entries: TarEntry[];
  try {
    entries = readTarGz(archive);
  } catch (error) {
    throw new ModelArtifactError(`${input.modelArtifacts}: ${(error as Error).message}`, { cause: error });
  }
  const onnx = findEntry(entries, 'model.onnx');
  const metricsEntry = findEntry(entries, 'metrics.json');
  const missing = [!onnx && 'model.onnx', !metricsEntry && 'metrics.json'].filter(Boolean);
  if (missing.length > 0) {
    throw new ModelArtifactError(
      `${input.modelArtifacts}: missing ${missing.join(' and ')} (archive holds: ${entries.map((e) => e.path).join(', ') || 'nothing'})`,
    );
  }
  if (onnx!.data.length === 0) throw new ModelArtifactError(`${input.modelArtifacts}: model.onnx is empty`);
  const metrics = parseMetrics(metricsEntry!.data.toString('utf8'), input.modelArtifacts);
  const card = findEntry(entries, 'card.md')?.data.toString('utf8') ?? generatedCard(input, metrics);
  const weights = findEntry(entries, 'model.pt');
  const heldOutCheck = metrics.refit ? findEntry(entries, metrics.refit.held_out_check_model) : undefined;
  if (metrics.refit && !heldOutCheck) {
    throw new ModelArtifactError(`${input.modelArtifacts}: metrics.json says the model was refit, but the archive has no ${metrics.refit.held_out_check_model} (the validated model its figures describe)`);
  }

  const version = input.modelVersion;
  const keys = {
    model: modelKey(version),
    metrics: modelMetricsKey(version),
    card: modelCardKey(version),
    registration: modelRegistrationKey(version),
    weights: modelWeightsKey(version),
    heldOutCheck: modelHeldOutCheckKey(version),
  };
  await s3.send(new PutObjectCommand({ Bucket: input.bucket, Key: keys.model, Body: onnx!.data, ContentType: 'application/octet-stream' }));
  await s3.send(new PutObjectCommand({ Bucket: input.bucket, Key: keys.metrics, Body: metricsEntry!.data, ContentType: 'application/json' }));
  await s3.send(new PutObjectCommand({ Bucket: input.bucket, Key: keys.card, Body: card, ContentType: 'text/markdown; charset=utf-8' }));
  if (weights) {
    await s3.send(new PutObjectCommand({ Bucket: input.bucket, Key: keys.weights, Body: weights.data, ContentType: 'application/octet-stream' }));
  }
  if (heldOutCheck) {
    await s3.send(new PutObjectCommand({ Bucket: input.bucket, Key: keys.heldOutCheck, Body: heldOutCheck.data, ContentType: 'application/octet-stream' }));
  }
  await putJson(s3, input.bucket, keys.registration, {
    format: 'exodetect-registration',
    version,
    dataset: input.dataset,
    dataset_listing_fingerprint: input.fingerprint,
    run_id: input.runId,
    training_job_name: input.trainingJobName,
    model_artifacts: input.modelArtifacts,
    split: input.split ?? null,
    registered_at: new Date().toISOString(),
  });

  return {
    version,
    modelKey: keys.model,
    metricsKey: keys.metrics,
    cardKey: keys.card,
    registrationKey: keys.registration,
    weightsKey: weights ? keys.weights : null,
    heldOutCheckKey: heldOutCheck ? keys.heldOutCheck : null,
    validation: metrics.validation,
    test: metrics.test ?? null,
    scoreThreshold: metrics.score_threshold ?? null,
    datasetFingerprint: input.fingerprint,
    dataset: input.dataset,
  };
}
