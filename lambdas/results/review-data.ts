/**
 * What report.html needs to review a batch in the browser: for every analysed
 * image its name, size, scale, thresholds, preview and detections. Collected
 * one result at a time during summarize and kept as compact JSON text (about
 * 40 bytes per detection), embedded in the page as a JSON data block.
 *
 * Boxes are flat numbers per detection: x1, y1, x2, y2 (original-image px, on
 * the export grid of boxes.ts), score, class id; a detection's index in the
 * list is its id in the image's result document.
 */
import { createHash } from 'node:crypto';
import type { ImageResult, ScaleSource } from '../core/contracts.js';
import { DEFAULT_EDGE_MARGIN_PX } from '../core/postprocess.js';
import { EXPORT_DECIMALS, roundTo } from './boxes.js';
import { imageFileName, resultRelativePath } from './paths.js';

export const REVIEW_DATA_FORMAT = 'exodetect.review-data';
export const REVIEW_DATA_VERSION = 1;
/** Numbers per detection in ReviewImage.boxes. */
export const REVIEW_BOX_STRIDE = 6;
/** The class of boxes a person draws when the batch has no detections to take names from (the trainer's default). */
const DEFAULT_CLASS_NAME = 'exosome';

export interface ReviewImage {
  /** Path below the batch's images/ folder: the name the download gives the image. */
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly nm_per_px: number;
  readonly nm_per_px_source: ScaleSource;
  /** The detector kept boxes at or above this score: nothing below it exists to show. */
  readonly score_threshold: number;
  readonly size_gate_nm: [number, number] | null;
  /** Relative to report.html; null for results written before previews existed (the overlay is shown instead). */
  readonly preview: string | null;
  readonly overlay: string | null;
  /** REVIEW_BOX_STRIDE numbers per detection: x1, y1, x2, y2, score, class id. */
  readonly boxes: number[];
}

export interface ReviewDataProps {
  readonly batchId: string;
  /** Whether the batch's statistics leave objects on the image border out (BatchSummaryProps). Default true. */
  readonly excludeOnEdgeFromStatistics?: boolean;
}

/** Accumulates results; `serialize()` gives the JSON text the report embeds. */
export class ReviewDataCollector {
  private readonly chunks: string[] = [];
  private readonly classes = new Map<number, string>();
  private readonly hash = createHash('sha256');

  constructor(private readonly props: ReviewDataProps) {}

  get images(): number {
    return this.chunks.length;
  }

  add(result: ImageResult): void {
    const boxes: number[] = [];
    for (const d of result.detections) {
      boxes.push(...d.box_px.map((v) => roundTo(v, EXPORT_DECIMALS)), roundTo(d.score, 4), d.class_id);
      if (!this.classes.has(d.class_id)) this.classes.set(d.class_id, d.class_name);
    }
    const image: ReviewImage = {
      file: imageFileName(this.props.batchId, result.image_key),
      width: result.width,
      height: result.height,
      nm_per_px: result.nm_per_px,
      nm_per_px_source: result.nm_per_px_source,
      score_threshold: result.thresholds.score,
      size_gate_nm: result.thresholds.size_gate_nm,
      preview: result.preview_key ? resultRelativePath(this.props.batchId, result.preview_key) : null,
      overlay: result.overlay_key ? resultRelativePath(this.props.batchId, result.overlay_key) : null,
      boxes,
    };
    const chunk = JSON.stringify(image);
    this.hash.update(chunk);
    this.chunks.push(chunk);
  }

  /** The JSON document. Its fingerprint changes with any detection, so saved corrections never land on other boxes. */
  serialize(): string {
    const max = Math.max(-1, ...this.classes.keys());
    const classes = max < 0 ? [DEFAULT_CLASS_NAME] : Array.from({ length: max + 1 }, (_, i) => this.classes.get(i) ?? `class_${i}`);
    const head = {
      format: REVIEW_DATA_FORMAT,
      version: REVIEW_DATA_VERSION,
      batch_id: this.props.batchId,
      fingerprint: this.hash.copy().digest('hex').slice(0, 16),
      classes,
      exclude_on_edge: this.props.excludeOnEdgeFromStatistics ?? true,
      edge_margin_px: DEFAULT_EDGE_MARGIN_PX,
    };
    return `${JSON.stringify(head).slice(0, -1)},"images":[${this.chunks.join(',')}]}`;
  }
}
