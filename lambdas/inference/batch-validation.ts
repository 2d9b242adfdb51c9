/**
 * validate-batch's logic: the first state of the inference state machine.
 * Reads batches/<id>/batch.json, counts the images, picks the model, and
 * hands the Distributed Map everything it needs.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { BatchManifestSchema, type DetectParams } from '../shared/contracts.js';
import { BatchManifestError, ModelError } from '../shared/errors.js';
import {
  BATCH_ID_PATTERN,
  CHAMPION_KEY,
  DEFAULT_MODEL_VERSION,
  batchIdFromManifestKey,
  batchImagesPrefix,
  mapResultsPrefix,
  modelKey,
  resultsPrefix,
} from '../shared/keys.js';
import { readChampion } from '../training/champion.js';
import { EventShapeError } from '../shared/errors.js';
import { getObjectText, listAllObjects, objectExists } from '../shared/s3-objects.js';

export interface ValidateBatchInput {
  readonly bucket: string;
  readonly key: string;
}

export interface ValidatedBatch {
  readonly bucket: string;
  readonly batchId: string;
  readonly imagesPrefix: string;
  readonly imageCount: number;
  readonly modelKey: string;
  readonly modelVersion: string;
  /** Where the model choice came from. */
  readonly modelSource: 'manifest' | 'champion' | 'default';
  readonly params: DetectParams;
  readonly resultsPrefix: string;
  readonly mapResultsPrefix: string;
}

const InputSchema = z.object({ bucket: z.string().min(1), key: z.string().min(1) }).passthrough();

export function parseValidateBatchInput(event: unknown): ValidateBatchInput {
  const parsed = InputSchema.safeParse(event);
  if (!parsed.success) {
    throw new EventShapeError(`validate-batch expects {bucket, key} of a batch.json object: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export async function validateBatch(s3: S3Client, input: ValidateBatchInput): Promise<ValidatedBatch> {
  const { bucket, key } = input;
  const batchId = batchIdFromManifestKey(key);
  if (batchId === undefined) {
    throw new BatchManifestError(`${key}: not a batch manifest key (expected batches/<batch-id>/batch.json)`);
  }
  if (!BATCH_ID_PATTERN.test(batchId)) {
    throw new BatchManifestError(
      `${key}: batch id "${batchId}" must be 1-80 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }

  const text = await getObjectText(s3, bucket, key);
  if (text === undefined) throw new BatchManifestError(`${key}: not found in bucket ${bucket}`);
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw new BatchManifestError(`${key}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = BatchManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new BatchManifestError(`${key}: invalid batch manifest: ${z.prettifyError(parsed.error)}`);
  }
  const manifest = parsed.data;

  const imagesPrefix = batchImagesPrefix(batchId);
  const images = await listAllObjects(s3, bucket, imagesPrefix);
  if (images.length === 0) {
    throw new BatchManifestError(
      `${key}: no images under s3://${bucket}/${imagesPrefix}; upload the images first and batch.json last`,
    );
  }

  const model = await chooseModel(s3, bucket, key, manifest.model_version);
  const params: DetectParams = {
    ...(manifest.nm_per_px !== undefined && { nm_per_px: manifest.nm_per_px }),
    ...(manifest.score_threshold !== undefined && { score_threshold: manifest.score_threshold }),
    ...(manifest.size_gate_nm !== undefined && { size_gate_nm: manifest.size_gate_nm }),
  };
  return {
    bucket,
    batchId,
    imagesPrefix,
    imageCount: images.length,
    modelKey: model.key,
    modelVersion: model.version,
    modelSource: model.source,
    params,
    resultsPrefix: resultsPrefix(batchId),
    mapResultsPrefix: mapResultsPrefix(batchId),
  };
}

/** The manifest's model_version, else the champion, else the bundled default model. */
async function chooseModel(
  s3: S3Client,
  bucket: string,
  manifestKey: string,
  requested: string | undefined,
): Promise<{ key: string; version: string; source: ValidatedBatch['modelSource'] }> {
  if (requested !== undefined) {
    const key = modelKey(requested);
    if (!(await objectExists(s3, bucket, key))) {
      throw new BatchManifestError(`${manifestKey}: model_version "${requested}" has no model at s3://${bucket}/${key}`);
    }
    return { key, version: requested, source: 'manifest' };
  }
  const champion = await readChampion(s3, bucket);
  if (champion !== undefined) {
    if (!(await objectExists(s3, bucket, champion.model_key))) {
      throw new ModelError(`${CHAMPION_KEY} names model ${champion.model_key}, which does not exist in bucket ${bucket}`);
    }
    return { key: champion.model_key, version: champion.version, source: 'champion' };
  }
  const key = modelKey(DEFAULT_MODEL_VERSION);
  if (!(await objectExists(s3, bucket, key))) {
    throw new ModelError(`no model to run: neither ${CHAMPION_KEY} nor ${key} exists in bucket ${bucket}`);
  }
  return { key, version: DEFAULT_MODEL_VERSION, source: 'default' };
}
