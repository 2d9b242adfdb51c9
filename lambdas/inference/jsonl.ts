/**
 * analytics/detections/batch_id=<id>/detections.jsonl: one flat JSON object a
 * line, one line per detection, for a Glue table queried by Athena. Columns
 * are flat scalars (no nested boxes) with stable snake_case names. The batch
 * id is both a Hive partition (in the key) and a field, so a line read on its
 * own still says where it came from: a Glue table partitioned by batch_id
 * should not also declare it as a data column (the JSON SerDe skips it).
 */
import type { ImageResult } from '../shared/contracts.js';
import { imageFileName } from './paths.js';

/** The Hive partition key in analytics/detections/batch_id=<id>/ (Glue table and partition registration). */
export const ANALYTICS_PARTITION_COLUMN = 'batch_id';

/** The columns of every line, in order (for the Glue table definition). */
export const ANALYTICS_COLUMNS = {
  batch_id: 'string',
  image_key: 'string',
  image: 'string',
  detection_id: 'int',
  x1_px: 'double',
  y1_px: 'double',
  x2_px: 'double',
  y2_px: 'double',
  x1_nm: 'double',
  y1_nm: 'double',
  x2_nm: 'double',
  y2_nm: 'double',
  /** The outline's area-equivalent diameter (the size); box_diameter_nm: the box's sqrt(w*h). */
  diameter_nm: 'double',
  box_diameter_nm: 'double',
  area_nm2: 'double',
  feret_min_nm: 'double',
  feret_max_nm: 'double',
  roundness: 'double',
  /** model | image-fit | box (contracts.ts OutlineMethod). */
  outline_method: 'string',
  /** The outline as x0, y0, x1, y1, ... in the image's px; null when outline_method is box. */
  outline_px: 'array<double>',
  score: 'double',
  class_id: 'int',
  class_name: 'string',
  on_edge: 'boolean',
  in_size_range: 'boolean',
  nm_per_px: 'double',
  nm_per_px_source: 'string',
  image_width: 'int',
  image_height: 'int',
  model_version: 'string',
  score_threshold: 'double',
  created_at: 'string',
} as const;

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

export function detectionJsonLines(batchId: string, result: ImageResult): string {
  const image = imageFileName(batchId, result.image_key);
  let out = '';
  for (const d of result.detections) {
    out +=
      JSON.stringify({
        batch_id: batchId,
        image_key: result.image_key,
        image,
        detection_id: d.id,
        x1_px: round(d.box_px[0], 2),
        y1_px: round(d.box_px[1], 2),
        x2_px: round(d.box_px[2], 2),
        y2_px: round(d.box_px[3], 2),
        x1_nm: round(d.box_nm[0], 2),
        y1_nm: round(d.box_nm[1], 2),
        x2_nm: round(d.box_nm[2], 2),
        y2_nm: round(d.box_nm[3], 2),
        diameter_nm: round(d.diameter_nm, 2),
        box_diameter_nm: round(d.box_diameter_nm, 2),
        area_nm2: round(d.area_nm2, 1),
        feret_min_nm: round(d.feret_min_nm, 2),
        feret_max_nm: round(d.feret_max_nm, 2),
        roundness: round(d.roundness, 3),
        outline_method: d.outline_method,
        outline_px: d.outline_px,
        score: round(d.score, 4),
        class_id: d.class_id,
        class_name: d.class_name,
        on_edge: d.on_edge,
        in_size_range: d.in_size_range,
        nm_per_px: result.nm_per_px,
        nm_per_px_source: result.nm_per_px_source,
        image_width: result.width,
        image_height: result.height,
        model_version: result.model.version,
        score_threshold: result.thresholds.score,
        created_at: result.created_at,
      }) + '\n';
  }
  return out;
}
