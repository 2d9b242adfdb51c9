/**
 * Reading per-image result documents (ImageResult / ImageErrorRecord from
 * contracts.ts) defensively: a document that is not JSON or lacks what the
 * summary needs becomes a failure of that image, never of the batch.
 */
import { z } from 'zod';
import { ExodetectError } from '../core/errors.js';
import type { ImageErrorRecord, ImageRecord, ImageResult } from '../core/contracts.js';

/** A stored result document cannot be used. Recorded against its image. */
export class ResultDocumentError extends ExodetectError {
  constructor(
    readonly resultKey: string,
    message: string,
  ) {
    super(`${resultKey}: ${message}`);
  }
}

const finite = z.number().finite();
const box = z.tuple([finite, finite, finite, finite]);

const DetectionSchema = z.object({
  id: z.number().int().nonnegative(),
  box_px: box,
  box_nm: box,
  diameter_nm: finite.nonnegative(),
  score: finite,
  class_id: z.number().int().nonnegative(),
  class_name: z.string(),
  on_edge: z.boolean(),
  in_size_range: z.boolean(),
});

const ImageResultSchema = z.object({
  schema: z.literal('exodetect.image-result'),
  schema_version: z.string(),
  status: z.literal('ok'),
  tiles: z.number().int().positive().optional(),
  batch_id: z.string(),
  image_key: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  channels: z.number().int(),
  bit_depth: z.union([z.literal(8), z.literal(16)]),
  format: z.string(),
  pages: z.number().int(),
  nm_per_px: finite.positive(),
  // Schema 1.0 named the file's sources and the assumption differently.
  nm_per_px_source: z.preprocess(
    (v) => (v === 'tiff-resolution' || v === 'imagej' ? 'file' : v === 'model' ? 'assumed' : v),
    z.enum(['batch', 'file', 'scale-bar', 'assumed']),
  ),
  nm_per_px_detail: z.string().default(''),
  scale_bar: z
    .object({
      bar_px: finite,
      label: z.string(),
      label_nm: finite,
      nm_per_px: finite,
      confidence: finite,
      masked_px: z.array(box),
    })
    .nullable()
    .default(null),
  intensity: z.string().nullable().default(null),
  model: z.object({ key: z.string(), version: z.string(), sha256: z.string(), layout: z.string() }),
  thresholds: z.object({
    score: finite,
    score_source: z.enum(['batch', 'model', 'default']),
    iou_nms: finite,
    size_gate_nm: z.tuple([finite, finite]).nullable(),
  }),
  detections: z.array(DetectionSchema),
  counts: z.object({ total: z.number().int(), in_size_range: z.number().int(), on_edge: z.number().int() }),
  overlay_key: z.string(),
  preview_key: z.string().optional(),
  timings_ms: z.record(z.string(), z.number()),
  warnings: z.array(z.string()),
  created_at: z.string(),
});

const ImageErrorSchema = z.object({
  schema: z.literal('exodetect.image-result'),
  schema_version: z.string(),
  status: z.literal('error'),
  batch_id: z.string(),
  image_key: z.string().min(1),
  error: z.object({ code: z.string(), message: z.string() }),
  created_at: z.string(),
});

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(document)'}: ${issue.message}`)
    .join('; ');
}

/** Parse and check one stored document. Throws ResultDocumentError naming the key and the problem. */
export function parseImageRecord(text: string, resultKey: string): ImageRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ResultDocumentError(resultKey, `not valid JSON (${(err as Error).message})`);
  }
  const status = (json as { status?: unknown } | null)?.status;
  if (status === 'error') {
    const parsed = ImageErrorSchema.safeParse(json);
    if (!parsed.success) throw new ResultDocumentError(resultKey, `not an image error record: ${describeIssues(parsed.error)}`);
    return parsed.data as ImageErrorRecord;
  }
  const parsed = ImageResultSchema.safeParse(json);
  if (!parsed.success) throw new ResultDocumentError(resultKey, `not an image result: ${describeIssues(parsed.error)}`);
  return parsed.data as ImageResult;
}
