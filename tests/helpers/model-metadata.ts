/**
 * The metadata_props of a model from our own exporter, for the small models
 * tests build: the format and its version always (as export.py writes them),
 * the other keys only when a test gives them, so a test can also leave one out.
 */
import { MODEL_FORMAT_NAME, MODEL_METADATA_KEYS } from '../../lambdas/shared/contracts.js';

export interface ExodetectMetadataFields {
  readonly formatVersion?: string;
  readonly classNames?: readonly string[];
  readonly nmPerPx?: number;
  readonly scoreThreshold?: number;
  readonly tileSize?: number;
  readonly modelVersion?: string;
  readonly datasetFingerprint?: string;
  readonly inputChannels?: number;
  /** What the model's outline output holds (format 2). */
  readonly outline?: string;
}

export function exodetectMetadata(fields: ExodetectMetadataFields = {}): Record<string, string> {
  const out: Record<string, string> = {
    [MODEL_METADATA_KEYS.format]: MODEL_FORMAT_NAME,
    [MODEL_METADATA_KEYS.formatVersion]: fields.formatVersion ?? '1',
  };
  if (fields.classNames) out[MODEL_METADATA_KEYS.classNames] = JSON.stringify(fields.classNames);
  if (fields.nmPerPx !== undefined) out[MODEL_METADATA_KEYS.nmPerPx] = String(fields.nmPerPx);
  if (fields.scoreThreshold !== undefined) out[MODEL_METADATA_KEYS.scoreThreshold] = String(fields.scoreThreshold);
  if (fields.tileSize !== undefined) out[MODEL_METADATA_KEYS.tileSize] = String(fields.tileSize);
  if (fields.modelVersion !== undefined) out[MODEL_METADATA_KEYS.modelVersion] = fields.modelVersion;
  if (fields.datasetFingerprint !== undefined) out[MODEL_METADATA_KEYS.datasetFingerprint] = fields.datasetFingerprint;
  if (fields.inputChannels !== undefined) out[MODEL_METADATA_KEYS.inputChannels] = String(fields.inputChannels);
  if (fields.outline !== undefined) out[MODEL_METADATA_KEYS.outline] = fields.outline;
  return out;
}
