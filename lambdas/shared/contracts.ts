/**
 * The documents and events that pass between the parts of exodetect. Writers
 * and readers (detect, summarize, the report, the CLI, the local runner, the
 * state machines) share these types; change them here and bump the version.
 */
import MODEL_CONTRACT from '../../training-container/exodetect_train/model_contract.json' with { type: 'json' };
import { z } from 'zod';

/**
 * 1.2: every detection has an outline and is sized from it: diameter_nm is the outline's area-equivalent
 * diameter (1.1 and before: the box's sqrt(w*h), now box_diameter_nm), with area_nm2, feret_min_nm,
 * feret_max_nm, roundness, outline_px and outline_method; the image says how it was sized (`sizing`).
 * Readers fill these for older documents from the box (outline_method 'box').
 * 1.1: optional preview_key (the plain micrograph the report's review view draws on); nm_per_px_source is
 * batch | file | scale-bar | assumed (1.0: batch | tiff-resolution | imagej | model, converted when read),
 * with nm_per_px_detail, scale_bar and intensity.
 */
export const IMAGE_RESULT_SCHEMA_VERSION = '1.2';

/**
 * How a detection's outline was obtained:
 * - 'model': the model's outline output (a model trained with outlines);
 * - 'image-fit': fitted inside the box from the image (the dark stain rim along rays from the box
 *   centre), for models that give boxes only;
 * - 'box': no outline could be found (or a result from before outlines): sized as the ellipse
 *   inscribed in the box, sqrt(w*h), which reads larger than the vesicle when boxes are drawn with a margin.
 */
export type OutlineMethod = 'model' | 'image-fit' | 'box';
export const OUTLINE_METHODS: readonly OutlineMethod[] = ['model', 'image-fit', 'box'];

/** What `diameter_nm` means, as results and the summary say it. */
export const DIAMETER_MEASURE = 'area-equivalent diameter of the outline';

/**
 * Where an image's nm/px came from, in order of precedence: the batch manifest or CLI, the file's own
 * metadata, the burned-in scale bar, or an assumption (the model's training scale). The result's
 * `nm_per_px_detail` names the field, tag or bar.
 */
export type ScaleSource = 'batch' | 'file' | 'scale-bar' | 'assumed';
export const SCALE_SOURCES: readonly ScaleSource[] = ['batch', 'file', 'scale-bar', 'assumed'];

/** The burned-in scale bar an image carries, as read. */
export interface ScaleBarRecord {
  /** Bar length in px. */
  readonly bar_px: number;
  /** The label as understood, e.g. "200 nm". */
  readonly label: string;
  readonly label_nm: number;
  readonly nm_per_px: number;
  /** The OCR's confidence in the label, 0..100. */
  readonly confidence: number;
  /** Bar and label boxes [x1, y1, x2, y2] in px, left out of detection. */
  readonly masked_px: Box[];
}

/** Box as [x1, y1, x2, y2]. */
export type Box = [number, number, number, number];

export interface Detection {
  /** 0-based index within the image, in descending score order. */
  readonly id: number;
  /** In the original image's pixels. */
  readonly box_px: Box;
  /** box_px times nm/px. */
  readonly box_nm: Box;
  /** The size: the outline's area-equivalent diameter sqrt(4 area / pi), nm (see outline_method). */
  readonly diameter_nm: number;
  /** The box's sqrt(w*h), nm: the size from the box alone, kept for comparison. */
  readonly box_diameter_nm: number;
  readonly area_nm2: number;
  /** Narrowest and widest caliper width of the outline, nm. */
  readonly feret_min_nm: number;
  readonly feret_max_nm: number;
  /** 4 area / (pi feret_max^2): 1 for a circle. */
  readonly roundness: number;
  /** Closed polygon [x0, y0, x1, y1, ...] in the original image's px (1/10 px grid); null for outline_method 'box'. */
  readonly outline_px: number[] | null;
  readonly outline_method: OutlineMethod;
  readonly score: number;
  readonly class_id: number;
  readonly class_name: string;
  /** The box touches the image border: the object may be cut, its size is a lower bound. */
  readonly on_edge: boolean;
  /** Inside the size gate (always true when no gate is set). Out-of-range objects are marked, not dropped. */
  readonly in_size_range: boolean;
}

export interface ModelInfo {
  readonly key: string;
  readonly version: string;
  readonly sha256: string;
  /** 'exodetect' (our end-to-end export), 'yolov5' or 'yolov8'. */
  readonly layout: string;
}

export interface Thresholds {
  readonly score: number;
  /** Where the score threshold came from: the batch manifest or the model's recommendation. */
  readonly score_source: 'batch' | 'model' | 'default';
  readonly iou_nms: number;
  readonly size_gate_nm: [number, number] | null;
}

export interface ImageResult {
  readonly schema: 'exodetect.image-result';
  readonly schema_version: string;
  readonly status: 'ok';
  /** Model runs over the image: 1, or the number of overlapping tiles of a large image. */
  readonly tiles?: number;
  readonly batch_id: string;
  readonly image_key: string;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly bit_depth: 8 | 16;
  readonly format: string;
  /** Number of pages in the file; only the first is analysed. */
  readonly pages: number;
  readonly nm_per_px: number;
  readonly nm_per_px_source: ScaleSource;
  /** The field, tag or bar the scale came from, e.g. "TIFF tag 34682 FEI_HELIOS [Scan] PixelWidth = 2.5e-9 m". */
  readonly nm_per_px_detail: string;
  /** The burned-in scale bar, when one was read (whatever the scale's source). */
  readonly scale_bar: ScaleBarRecord | null;
  /** How file values became pixel values when not kept as they are (floats scaled by their range). */
  readonly intensity: string | null;
  readonly model: ModelInfo;
  readonly thresholds: Thresholds;
  readonly detections: Detection[];
  readonly counts: { readonly total: number; readonly in_size_range: number; readonly on_edge: number };
  /** How the detections were sized. */
  readonly sizing: ImageSizing;
  readonly overlay_key: string;
  /** The micrograph without boxes (same size as the overlay), for the report's review view. Absent before schema 1.1. */
  readonly preview_key?: string;
  readonly timings_ms: Record<string, number>;
  readonly warnings: string[];
  readonly created_at: string;
}

export interface ImageSizing {
  /** What diameter_nm is. */
  readonly diameter: typeof DIAMETER_MEASURE;
  /**
   * Where this image's outlines come from first: fitted in the image (the default, also for models that give
   * boxes only), the model's outline output (when preferred), or none ('box': results written before
   * outlines, read back). Each detection's own outline_method says which one it got.
   */
  readonly outline_source: OutlineMethod;
  /** Detections by outline_method. */
  readonly methods: Readonly<Record<OutlineMethod, number>>;
}

export interface ImageErrorRecord {
  readonly schema: 'exodetect.image-result';
  readonly schema_version: string;
  readonly status: 'error';
  readonly batch_id: string;
  readonly image_key: string;
  readonly error: { readonly code: string; readonly message: string };
  readonly created_at: string;
}

export type ImageRecord = ImageResult | ImageErrorRecord;

/** `batches/<id>/batch.json`, written last by the uploader: the commit marker. All fields optional. */
export const BatchManifestSchema = z
  .object({
    /** Overrides the files' own calibration for every image of the batch. */
    nm_per_px: z.number().positive().max(1000).optional(),
    sample: z.string().max(500).optional(),
    notes: z.string().max(5000).optional(),
    /** Overrides the model's recommended score threshold. */
    score_threshold: z.number().min(0).max(1).optional(),
    /** Objects outside [min, max] nm are marked `in_size_range: false`. */
    size_gate_nm: z
      .tuple([z.number().nonnegative(), z.number().positive()])
      .refine(([lo, hi]) => lo < hi, 'size_gate_nm must be [min, max] with min < max')
      .optional(),
    /** A model version under models/; default: the champion. */
    model_version: z.string().regex(/^[A-Za-z0-9._-]+$/).optional(),
  })
  .strict();
export type BatchManifest = z.infer<typeof BatchManifestSchema>;

/** The per-batch parameters that reach every detect invocation. */
export interface DetectParams {
  readonly nm_per_px?: number;
  readonly score_threshold?: number;
  readonly size_gate_nm?: [number, number];
}

/** One Distributed Map item from ItemReader's S3 listing (ListObjectsV2 shape). */
export interface BatchItem {
  readonly Key: string;
  readonly Size?: number;
  readonly Etag?: string;
  readonly ETag?: string;
  readonly LastModified?: string;
}

/** What ItemBatcher hands the detect function. */
export interface DetectEvent {
  readonly Items: BatchItem[];
  readonly BatchInput: {
    readonly bucket: string;
    readonly batchId: string;
    readonly modelKey: string;
    readonly params?: DetectParams;
  };
}

export interface DetectItemStatus {
  readonly key: string;
  readonly status: 'ok' | 'error';
  readonly resultKey: string;
  readonly detections?: number;
  readonly error?: string;
}

/** Small on purpose: detections live in S3, not in the state payload (256 KB limit). */
export interface DetectOutput {
  readonly items: DetectItemStatus[];
}

/** What the summarize step returns to the state machine (and the local runner reads). */
export interface SummarizeOutput {
  readonly batchId: string;
  readonly images: number;
  readonly failed: number;
  readonly detections: number;
  readonly summaryKey: string;
  readonly reportKey: string;
  /** Failed images as a percentage of all images, 0-100. */
  readonly failedPercentage: number;
  /** The most failed images (in %) the batch tolerates; null when none was given (no limit). */
  readonly toleratedFailurePercentage: number | null;
  /** False when more images failed than tolerated: the state machine then fails the batch. */
  readonly withinTolerance: boolean;
  /** Why the batch fails (counts and codes), or null when it is within tolerance. */
  readonly outcomeReason: string | null;
}

/**
 * Keys of the model's ONNX metadata_props (our own export), from the model contract: one JSON file the
 * trainer's exporter (export.py) and this side both read, so a key renamed on one side cannot drift.
 */
export const MODEL_METADATA_KEYS = {
  format: MODEL_CONTRACT.metadata_keys.format, // value MODEL_FORMAT_NAME
  formatVersion: MODEL_CONTRACT.metadata_keys.format_version, // one of MODEL_FORMAT_VERSIONS
  classNames: MODEL_CONTRACT.metadata_keys.class_names, // JSON array of strings
  nmPerPx: MODEL_CONTRACT.metadata_keys.nm_per_px, // training scale, decimal string
  scoreThreshold: MODEL_CONTRACT.metadata_keys.score_threshold, // recommended threshold on validation (metrics.py)
  tileSize: MODEL_CONTRACT.metadata_keys.tile_size, // square tile edge in px, multiple of 32
  modelVersion: MODEL_CONTRACT.metadata_keys.model_version,
  datasetFingerprint: MODEL_CONTRACT.metadata_keys.dataset_fingerprint,
  inputChannels: MODEL_CONTRACT.metadata_keys.input_channels, // "1"
  /** Format version 2: how the optional `outlines` output was made, e.g. "star-convex 32 rays" (absent: boxes only). */
  outline: MODEL_CONTRACT.metadata_keys.outline,
} as const;
/** The format versions this code reads (each described in model_contract.json); a model claiming another is refused. */
export const MODEL_FORMAT_VERSIONS: readonly string[] = Object.keys(MODEL_CONTRACT.format_versions);
/** The main output of our models: detections float32 [N, K, 6]. */
export const DETECTIONS_OUTPUT_NAME = MODEL_CONTRACT.detections_output;
/**
 * The optional second output of a model (format version 2): `outlines` float32 [N, K, 2V], for each row of
 * `detections` a closed polygon of V vertices x0, y0, x1, y1, ... in input px. Models without it still load;
 * their outlines are fitted in the image.
 */
export const OUTLINE_OUTPUT_NAME = MODEL_CONTRACT.outlines_output;
export const MODEL_FORMAT_NAME = MODEL_CONTRACT.format_name;
