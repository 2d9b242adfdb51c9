/**
 * Reading per-image result documents (ImageResult / ImageErrorRecord from
 * contracts.ts) defensively: a document that is not JSON or lacks what the
 * summary needs becomes a failure of that image, never of the batch.
 */
import { z } from 'zod';
import { ExodetectError } from '../shared/errors.js';
import { DIAMETER_MEASURE, OUTLINE_METHODS, type Detection, type ImageErrorRecord, type ImageRecord, type ImageResult } from '../shared/contracts.js';
import { boxEllipseMeasures } from '../detect/outline.js';
import { countOutlineMethods } from '../detect/postprocess.js';

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

const round = (v: number, digits: number): number => Number(v.toFixed(digits));

/** Results before schema 1.2 were sized from the box: their measures are the box's inscribed ellipse, said as such. */
function sizedFromBox(d: { box_px: Detection['box_px']; box_nm: Detection['box_nm']; diameter_nm: number }) {
  const m = boxEllipseMeasures(d.box_nm);
  return {
    box_diameter_nm: d.diameter_nm,
    area_nm2: round(m.areaPx, 1),
    feret_min_nm: round(m.feretMinPx, 2),
    feret_max_nm: round(m.feretMaxPx, 2),
    roundness: round(m.roundness, 3),
    outline_px: null,
    outline_method: 'box' as const,
  };
}

const DetectionSchema = z
  .object({
    id: z.number().int().nonnegative(),
    box_px: box,
    box_nm: box,
    diameter_nm: finite.nonnegative(),
    box_diameter_nm: finite.nonnegative().optional(),
    area_nm2: finite.nonnegative().optional(),
    feret_min_nm: finite.nonnegative().optional(),
    feret_max_nm: finite.nonnegative().optional(),
    roundness: finite.nonnegative().optional(),
    outline_px: z.array(finite).nullable().optional(),
    outline_method: z.enum(OUTLINE_METHODS as [Detection['outline_method'], ...Detection['outline_method'][]]).optional(),
    score: finite,
    class_id: z.number().int().nonnegative(),
    class_name: z.string(),
    on_edge: z.boolean(),
    in_size_range: z.boolean(),
  })
  .transform((d): Detection => (d.outline_method === undefined ? { ...d, ...sizedFromBox(d) } : (d as Detection)));

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
  sizing: z
    .object({
      diameter: z.literal(DIAMETER_MEASURE),
      outline_source: z.enum(OUTLINE_METHODS as [Detection['outline_method'], ...Detection['outline_method'][]]),
      methods: z.object({ model: z.number().int(), 'image-fit': z.number().int(), box: z.number().int() }),
    })
    .optional(),
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
  const result = parsed.data;
  // Before schema 1.2 every size came from the box.
  const sizing = result.sizing ?? { diameter: DIAMETER_MEASURE, outline_source: 'box' as const, methods: countOutlineMethods(result.detections) };
  return { ...result, sizing } as ImageResult;
}
