/**
 * models/champion.json: the model inference uses when a batch names none, and
 * the baseline a new training run must beat. Written only by promote-model.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { CHAMPION_KEY } from '../shared/keys.js';
import { ChampionRecordError } from './errors.js';
import { getObjectText, putJson } from '../shared/s3-objects.js';

/** The validation (or test) block of metrics.json; only the fields promotion and messages use are required. */
export const EvaluationSchema = z
  .object({
    precision: z.number().optional(),
    recall: z.number().optional(),
    f1: z.number(),
    ap50: z.number(),
    ap50_95: z.number().optional(),
    diameter_median_abs_error_nm: z.number().nullable().optional(),
    n_images: z.number().optional(),
    n_objects: z.number().optional(),
    threshold: z.number().optional(),
  })
  .passthrough();
export type Evaluation = z.infer<typeof EvaluationSchema>;

export const ChampionRecordSchema = z
  .object({
    format: z.literal('exodetect-champion').optional(),
    version: z.string().regex(/^[A-Za-z0-9._-]+$/),
    model_key: z.string().min(1),
    metrics_key: z.string().optional(),
    /** models/<version>/model.pt, for fine-tuning (initFrom: "champion"). */
    weights_key: z.string().nullable().optional(),
    metrics: z.object({ validation: EvaluationSchema.optional(), test: EvaluationSchema.optional() }).passthrough().optional(),
    dataset: z.string().optional(),
    /** Fingerprint of the datasets/<name>/ listing (check-dataset): what decides whether a new run is worth it. */
    dataset_listing_fingerprint: z.string().optional(),
    /** Records written before the rename call the listing fingerprint this (metrics.json's is the trainer's, of its data). */
    dataset_fingerprint: z.string().optional(),
    run_id: z.string().optional(),
    training_job_name: z.string().optional(),
    promoted_at: z.string().optional(),
    previous_version: z.string().nullable().optional(),
  })
  .passthrough();
export type ChampionRecord = z.infer<typeof ChampionRecordSchema>;

/** The current champion, or undefined when none was ever promoted. */
export async function readChampion(s3: S3Client, bucket: string): Promise<ChampionRecord | undefined> {
  const text = await getObjectText(s3, bucket, CHAMPION_KEY);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ChampionRecordError(`${CHAMPION_KEY}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = ChampionRecordSchema.safeParse(json);
  if (!parsed.success) {
    throw new ChampionRecordError(`${CHAMPION_KEY}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export async function writeChampion(s3: S3Client, bucket: string, record: ChampionRecord): Promise<void> {
  await putJson(s3, bucket, CHAMPION_KEY, { format: 'exodetect-champion', ...record });
}
