/**
 * Generates per-image result documents (the shape detect writes) for tests
 * and the benchmark: known diameters, some edge and out-of-gate objects, and
 * optional error records.
 */
import type { Box, Detection, ImageErrorRecord, ImageResult } from '../../lambdas/shared/contracts.js';
import { DIAMETER_MEASURE, IMAGE_RESULT_SCHEMA_VERSION } from '../../lambdas/shared/contracts.js';
import { inscribedEllipse, measureOutline, roundPolygon } from '../../lambdas/detect/outline.js';
import { countOutlineMethods } from '../../lambdas/detect/postprocess.js';
import { batchImagesPrefix, imageResultKey, overlayKey } from '../../lambdas/shared/keys.js';
import { createRandom, sampleNormal } from '../../lambdas/inference/random.js';

export interface GeneratedImageProps {
  readonly batchId: string;
  readonly file: string;
  readonly detections: number;
  readonly seed: number;
  readonly width?: number;
  readonly height?: number;
  readonly nmPerPx?: number;
  /** Diameters ~ Normal(mean, sd) nm, truncated at 5 nm. */
  readonly meanNm?: number;
  readonly sdNm?: number;
  readonly sizeGateNm?: [number, number] | null;
  readonly classNames?: readonly string[];
}

const round = (x: number, d = 3): number => Number(x.toFixed(d));

/** What a box's detection says about its size: an outline (the inscribed ellipse shrunk by `inset`, as boxes drawn with a margin) and its measures. */
export function sizeFields(box: Box, nmPerPx: number, inset = 0.8): Pick<Detection, 'diameter_nm' | 'box_diameter_nm' | 'area_nm2' | 'feret_min_nm' | 'feret_max_nm' | 'roundness' | 'outline_px' | 'outline_method'> {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const hw = ((box[2] - box[0]) / 2) * inset;
  const hh = ((box[3] - box[1]) / 2) * inset;
  const outline = roundPolygon(inscribedEllipse([cx - hw, cy - hh, cx + hw, cy + hh], 24), 1);
  const m = measureOutline(outline);
  return {
    diameter_nm: round(m.diameterPx * nmPerPx, 2),
    box_diameter_nm: round(Math.sqrt((box[2] - box[0]) * (box[3] - box[1])) * nmPerPx, 2),
    area_nm2: round(m.areaPx * nmPerPx * nmPerPx, 1),
    feret_min_nm: round(m.feretMinPx * nmPerPx, 2),
    feret_max_nm: round(m.feretMaxPx * nmPerPx, 2),
    roundness: round(m.roundness, 3),
    outline_px: outline,
    outline_method: 'image-fit',
  };
}

export function generateImageResult(props: GeneratedImageProps): ImageResult {
  const random = createRandom(props.seed);
  const width = props.width ?? 1024;
  const height = props.height ?? 1024;
  const nmPerPx = props.nmPerPx ?? 0.8;
  const gate = props.sizeGateNm === undefined ? ([30, 200] as [number, number]) : props.sizeGateNm;
  const classNames = props.classNames ?? ['exosome'];
  const imageKey = `${batchImagesPrefix(props.batchId)}${props.file}`;
  const detections: Detection[] = [];
  for (let i = 0; i < props.detections; i++) {
    // The outline (the box's inscribed ellipse at 0.8) gets the drawn diameter; the box is larger by its margin.
    const diameter = Math.max(5, (props.meanNm ?? 90) + (props.sdNm ?? 20) * sampleNormal(random)) / 0.8;
    const aspect = 0.85 + 0.3 * random();
    const wPx = (diameter * Math.sqrt(aspect)) / nmPerPx;
    const hPx = diameter / Math.sqrt(aspect) / nmPerPx;
    const cx = random() * width;
    const cy = random() * height;
    const x1 = Math.max(0, cx - wPx / 2);
    const y1 = Math.max(0, cy - hPx / 2);
    const x2 = Math.min(width, cx + wPx / 2);
    const y2 = Math.min(height, cy + hPx / 2);
    const boxPx: Box = [round(x1), round(y1), round(x2), round(y2)];
    const size = sizeFields(boxPx, nmPerPx);
    const d = size.diameter_nm;
    const classId = Math.floor(random() * classNames.length);
    detections.push({
      id: i,
      box_px: boxPx,
      box_nm: [round(x1 * nmPerPx), round(y1 * nmPerPx), round(x2 * nmPerPx), round(y2 * nmPerPx)],
      ...size,
      score: round(0.99 - (0.6 * i) / Math.max(1, props.detections), 4),
      class_id: classId,
      class_name: classNames[classId]!,
      on_edge: x1 <= 0 || y1 <= 0 || x2 >= width || y2 >= height,
      in_size_range: gate ? d >= gate[0] && d <= gate[1] : true,
    });
  }
  return {
    schema: 'exodetect.image-result',
    schema_version: IMAGE_RESULT_SCHEMA_VERSION,
    status: 'ok',
    batch_id: props.batchId,
    image_key: imageKey,
    width,
    height,
    channels: 1,
    bit_depth: 8,
    format: 'tiff',
    pages: 1,
    nm_per_px: nmPerPx,
    nm_per_px_source: 'file',
    nm_per_px_detail: 'TIFF XResolution',
    scale_bar: null,
    intensity: null,
    model: { key: 'models/default/model.onnx', version: 'default', sha256: 'ab'.repeat(32), layout: 'exodetect' },
    thresholds: { score: 0.35, score_source: 'model', iou_nms: 0.5, size_gate_nm: gate },
    detections,
    counts: {
      total: detections.length,
      in_size_range: detections.filter((d) => d.in_size_range).length,
      on_edge: detections.filter((d) => d.on_edge).length,
    },
    sizing: { diameter: DIAMETER_MEASURE, outline_source: 'image-fit', methods: countOutlineMethods(detections) },
    overlay_key: overlayKey(props.batchId, imageKey),
    timings_ms: { decode: 12, infer: 30 },
    warnings: [],
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

export function generateErrorRecord(batchId: string, file: string, code: string, message: string): ImageErrorRecord {
  return {
    schema: 'exodetect.image-result',
    schema_version: IMAGE_RESULT_SCHEMA_VERSION,
    status: 'error',
    batch_id: batchId,
    image_key: `${batchImagesPrefix(batchId)}${file}`,
    error: { code, message },
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

export const resultKeyFor = (batchId: string, file: string): string => imageResultKey(batchId, `${batchImagesPrefix(batchId)}${file}`);
