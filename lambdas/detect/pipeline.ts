/**
 * One image, end to end and without I/O: bytes in, an ImageResult document,
 * the overlay JPEG and (when asked for) the preview JPEG out. Decode, calibrate, resample to the model's scale,
 * detect (tiled when large), map back, outline (the model's outlines, or fitted in the image), measure, draw.
 * Throws ImageError for anything wrong with the image itself.
 */
import {
  DIAMETER_MEASURE,
  IMAGE_RESULT_SCHEMA_VERSION,
  type DetectParams,
  type ImageResult,
  type ScaleSource,
  type Thresholds,
} from '../shared/contracts.js';
import { ConfigError, ImageError } from '../shared/errors.js';
import { calibrateDecoded } from './image-calibration.js';
import { sizePlausibility } from './size-plausibility.js';
import { centredInMask, maskImage } from './scale-bar/mask.js';
import type { LabelOcr } from './scale-bar/ocr.js';
import { detectTiled, type TileRunner } from './detector.js';
import { onnxTileRunner } from './onnx-runner.js';
import { DEFAULT_MAX_PIXELS, decodeImage, type DecodeProps } from './image-decode.js';
import type { LoadedModel } from './model.js';
import { fitOutline, type OutlineFitProps } from './outline-fit.js';
import { detectionKey, renderOverlayPictures } from './overlay.js';
import { countOutlineMethods, DEFAULT_OUTLINE_PREFERENCE, toDetections, type OutlinePreference } from './postprocess.js';
import { resampleImage } from './preprocess.js';

export interface PipelineConfig {
  /** Decoder limits. Default: decodeImage's defaults. */
  readonly decode?: DecodeProps;
  /** Tile overlap at the model's scale, in px. Default a quarter of the tile. */
  readonly tileOverlap?: number;
  /** NMS IoU for YOLO layouts. Default 0.45. */
  readonly iouNms?: number;
  /** Score threshold when neither the batch nor the model gives one. Default 0.25. */
  readonly defaultScoreThreshold?: number;
  /** Longest overlay edge in px. Default 2048. */
  readonly overlayMaxEdge?: number;
  /** JPEG quality of the overlay. Default 80. */
  readonly overlayQuality?: number;
  /** Look for a burned-in scale bar (calibration when nothing else gives one; masked out of detection). Default true. */
  readonly readScaleBar?: boolean;
  /** OCR for scale-bar labels. Default: the process's shared tesseract worker. */
  readonly ocr?: LabelOcr;
  /** The image fit of outlines. Default: OUTLINE_FIT_DEFAULTS. */
  readonly outlineFit?: OutlineFitProps;
  /** For models with an outline output: which outline comes first, the other being the fallback. Default DEFAULT_OUTLINE_PREFERENCE ('image-fit', measured better on real micrographs). */
  readonly outlinePreference?: OutlinePreference;
}

export interface ProcessImageProps {
  readonly bytes: Uint8Array;
  readonly imageKey: string;
  readonly batchId: string;
  /** Where the overlay will be written; recorded in the result. */
  readonly overlayKey: string;
  /** Where the preview (the micrograph without boxes, for the report's review view) will be written. Default: no preview. */
  readonly previewKey?: string;
  readonly model: LoadedModel;
  readonly params?: DetectParams;
  readonly config?: PipelineConfig;
  /** Replaces the ONNX session (tests). Default: onnxTileRunner(model). */
  readonly runner?: TileRunner;
  /** Default: new Date(). */
  readonly now?: () => Date;
}

export interface ProcessedImage {
  readonly result: ImageResult;
  readonly overlay: Buffer;
  /** Present when previewKey was given. */
  readonly preview?: Buffer;
}

export function resolveThresholds(model: LoadedModel, params: DetectParams | undefined, config: PipelineConfig | undefined): Thresholds {
  const iou = config?.iouNms ?? 0.45;
  if (!(iou > 0 && iou <= 1)) throw new ConfigError(`iouNms must be in (0, 1], got ${iou}`);
  const gate = params?.size_gate_nm;
  if (gate && !(gate[0] >= 0 && gate[1] > gate[0])) throw new ConfigError(`size_gate_nm must be [min, max] with 0 <= min < max, got [${gate.join(', ')}]`);
  const base = { iou_nms: iou, size_gate_nm: gate ? ([gate[0], gate[1]] as [number, number]) : null };
  if (params?.score_threshold !== undefined) return { score: params.score_threshold, score_source: 'batch', ...base };
  if (model.scoreThreshold !== undefined) return { score: model.scoreThreshold, score_source: 'model', ...base };
  return { score: config?.defaultScoreThreshold ?? 0.25, score_source: 'default', ...base };
}

/** Where the overlay's caption says the scale came from. */
const SCALE_SOURCE_CAPTIONS: Readonly<Record<ScaleSource, string>> = {
  batch: '(set for the batch)',
  file: '(from the file)',
  'scale-bar': '(from its scale bar)',
  assumed: "ASSUMED (the model's scale: no calibration found)",
};

const ms = (t: number): number => Math.round(t * 10) / 10;

export async function processImage(props: ProcessImageProps): Promise<ProcessedImage> {
  const { model, imageKey, config } = props;
  const started = performance.now();
  const thresholds = resolveThresholds(model, props.params, config);

  const decoded = await decodeImage(props.bytes, imageKey, config?.decode);
  const decodedAt = performance.now();

  const { calibration, scaleBar, mask } = await calibrateDecoded(decoded, {
    nmPerPx: props.params?.nm_per_px,
    modelNmPerPx: model.nmPerPx,
    readScaleBar: config?.readScaleBar,
    ocr: config?.ocr,
  });
  const calibratedAt = performance.now();
  if (!calibration) {
    throw new ImageError(
      imageKey,
      'NO_SCALE',
      'no nm/px: the batch sets none, the file carries none, and the model has no training scale; set nm_per_px in batch.json',
    );
  }
  // No training scale (foreign models): detect at the image's own scale.
  const factor = model.nmPerPx ? calibration.nmPerPx / model.nmPerPx : 1;
  const maxPixels = config?.decode?.maxPixels ?? DEFAULT_MAX_PIXELS;
  const resampledPixels = Math.round(decoded.width * factor) * Math.round(decoded.height * factor);
  if (resampledPixels > maxPixels) {
    throw new ImageError(
      imageKey,
      'TOO_LARGE',
      `at the model's ${model.nmPerPx} nm/px this ${calibration.nmPerPx} nm/px image would be ${Math.round(decoded.width * factor)}x${Math.round(decoded.height * factor)} px, above the limit of ${maxPixels} pixels; check nm_per_px`,
    );
  }
  // Burned-in text must never be a vesicle: the bar and its label are blanked before the model looks.
  const resampled = await resampleImage(maskImage(decoded, mask), factor);
  const resampledAt = performance.now();

  const runner = props.runner ?? onnxTileRunner(model, { scoreThreshold: thresholds.score, iouThreshold: thresholds.iou_nms });
  const tileOverlap = config?.tileOverlap ?? Math.round(model.tileSize / 4);
  const detected = await detectTiled(resampled.image, model, runner, { overlap: tileOverlap });
  const detectedAt = performance.now();

  const outlinePreference = config?.outlinePreference ?? DEFAULT_OUTLINE_PREFERENCE;
  const measured = toDetections(detected.boxes, {
    width: decoded.width,
    height: decoded.height,
    scaleX: resampled.scaleX,
    scaleY: resampled.scaleY,
    nmPerPx: calibration.nmPerPx,
    sizeGateNm: thresholds.size_gate_nm ?? undefined,
    classNames: model.classNames,
    // The outline fitted in the original image, inside each box: every box of a box-only model, and for a
    // model with outlines first or as the fallback, by outlinePreference.
    fitOutline: (box) => fitOutline(decoded, box, config?.outlineFit)?.polygon ?? null,
    outlinePreference,
  });
  const detections = mask.length ? measured.filter((d) => !centredInMask(d.box_px, mask)).map((d, id) => ({ ...d, id })) : measured;
  const postprocessedAt = performance.now();

  const caption = `${imageKey.slice(imageKey.lastIndexOf('/') + 1)} \u00b7 model ${model.version} \u00b7 ${calibration.nmPerPx.toPrecision(3)} nm/px ${SCALE_SOURCE_CAPTIONS[calibration.source]}`;
  const { overlay, preview } = await renderOverlayPictures(decoded, detections, {
    nmPerPx: calibration.nmPerPx,
    maxEdge: config?.overlayMaxEdge,
    quality: config?.overlayQuality,
    preview: props.previewKey !== undefined,
    below: (width, scaleBar) => detectionKey(width, detections, { scoreThreshold: thresholds.score, sizeGateNm: thresholds.size_gate_nm, caption, scaleBar }),
  });
  const finished = performance.now();

  const warnings = [...decoded.warnings, ...calibration.warnings, ...sizePlausibility(detections, calibration)];
  if (detected.saturatedTiles > 0) {
    const where = detected.tiles > 1 ? `${detected.saturatedTiles} of ${detected.tiles} tiles` : 'the image';
    warnings.push(
      `the model reported as many objects as it can in one run in ${where}: more may be there, so the count is a lower bound (a model exported with more detections, max_detections, lifts the limit)`,
    );
  }
  const result: ImageResult = {
    schema: 'exodetect.image-result',
    schema_version: IMAGE_RESULT_SCHEMA_VERSION,
    status: 'ok',
    // How many model runs covered the image (overlapping tiles when it is large): a fact, not a warning.
    tiles: detected.tiles,
    batch_id: props.batchId,
    image_key: imageKey,
    width: decoded.width,
    height: decoded.height,
    channels: decoded.channels,
    bit_depth: decoded.bitDepth,
    format: decoded.format,
    pages: decoded.pages,
    nm_per_px: calibration.nmPerPx,
    nm_per_px_source: calibration.source,
    nm_per_px_detail: calibration.detail,
    scale_bar: scaleBar
      ? {
          bar_px: Math.round(scaleBar.barPx * 100) / 100,
          label: scaleBar.labelText,
          label_nm: scaleBar.labelNm,
          nm_per_px: scaleBar.nmPerPx,
          confidence: scaleBar.confidence,
          masked_px: scaleBar.mask.map((b) => [b.x1, b.y1, b.x2, b.y2] as [number, number, number, number]),
        }
      : null,
    intensity: decoded.intensity ?? null,
    model: { key: model.key, version: model.version, sha256: model.sha256, layout: model.layout },
    thresholds,
    detections,
    counts: {
      total: detections.length,
      in_size_range: detections.filter((d) => d.in_size_range).length,
      on_edge: detections.filter((d) => d.on_edge).length,
    },
    sizing: { diameter: DIAMETER_MEASURE, outline_source: model.outlineOutputName && outlinePreference === 'model' ? 'model' : 'image-fit', methods: countOutlineMethods(detections) },
    overlay_key: props.overlayKey,
    ...(props.previewKey !== undefined && { preview_key: props.previewKey }),
    timings_ms: {
      decode: ms(decodedAt - started),
      calibrate: ms(calibratedAt - decodedAt),
      resample: ms(resampledAt - calibratedAt),
      tensor: ms(detected.tensorMs),
      // Includes waiting for the model while another image in flight holds it.
      inference: ms(detected.inferenceMs),
      postprocess: ms(postprocessedAt - detectedAt),
      overlay: ms(finished - postprocessedAt),
      total: ms(finished - started),
    },
    warnings,
    created_at: (props.now?.() ?? new Date()).toISOString(),
  };
  return { result, overlay, ...(preview && { preview }) };
}
