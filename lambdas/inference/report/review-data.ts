/**
 * What report.html needs to review a batch in the browser: for every analysed
 * image its name, size, scale, thresholds, preview and detections. Collected
 * one result at a time during summarize and kept as compact JSON text (about
 * 65 bytes per detection), embedded in the page as a JSON data block.
 *
 * Boxes are flat numbers per detection: x1, y1, x2, y2 (original-image px, on
 * the export grid of boxes.ts), score, class id; a detection's index in the
 * list is its id in the image's result document. Outlines are kept relative to
 * their box, so that an outline follows its box when a person adjusts it: 24
 * characters per detection, each the outline's distance from the box centre
 * along one of 24 rays, as a fraction of the box's half-extent along that ray
 * (steps of 1/40, up to 1.575).
 */
import { createHash } from 'node:crypto';
import type { ImageResult, ScaleSource } from '../../shared/contracts.js';
import { DEFAULT_EDGE_MARGIN_PX } from '../../detect/postprocess.js';
import { EXPORT_DECIMALS, roundTo } from '../boxes.js';
import { imageFileName, resultRelativePath } from '../paths.js';

export const REVIEW_DATA_FORMAT = 'exodetect.review-data';
/** 2: `outlines`, one string per detection (REVIEW_OUTLINE_RAYS characters, or null when it has none). */
export const REVIEW_DATA_VERSION = 2;
export const REVIEW_OUTLINE_RAYS = 24;
/** One character per ray: the radius in steps of 1 / REVIEW_OUTLINE_STEPS of the box's half-extent. */
export const REVIEW_OUTLINE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export const REVIEW_OUTLINE_STEPS = 40;
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
  /** Per detection, its outline relative to its box (encodeReviewOutline), or null when it has none. */
  readonly outlines: (string | null)[];
}

/**
 * An outline as REVIEW_OUTLINE_RAYS characters: along each ray from the box centre (angle 2 pi k / rays,
 * stretched to the box: x = cx + t w/2 cos, y = cy + t h/2 sin), the farthest crossing t of the polygon.
 */
export function encodeReviewOutline(box: readonly number[], polygon: readonly number[]): string {
  const cx = (box[0]! + box[2]!) / 2;
  const cy = (box[1]! + box[3]!) / 2;
  const hw = Math.max(1e-6, (box[2]! - box[0]!) / 2);
  const hh = Math.max(1e-6, (box[3]! - box[1]!) / 2);
  const n = polygon.length >> 1;
  const us: number[] = [];
  const vs: number[] = [];
  for (let i = 0; i < n; i++) {
    us.push((polygon[2 * i]! - cx) / hw);
    vs.push((polygon[2 * i + 1]! - cy) / hh);
  }
  let out = '';
  for (let k = 0; k < REVIEW_OUTLINE_RAYS; k++) {
    const angle = (2 * Math.PI * k) / REVIEW_OUTLINE_RAYS;
    const dx = Math.cos(angle);
    const dy = Math.sin(angle);
    let t = 0;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      // Ray (t dx, t dy) against the edge from vertex j to vertex i.
      const ex = us[i]! - us[j]!;
      const ey = vs[i]! - vs[j]!;
      const denom = dx * ey - dy * ex;
      if (Math.abs(denom) < 1e-12) continue;
      const along = (us[j]! * ey - vs[j]! * ex) / denom;
      const s = (us[j]! * dy - vs[j]! * dx) / denom;
      if (along > t && s >= 0 && s <= 1) t = along;
    }
    out += REVIEW_OUTLINE_ALPHABET[Math.max(0, Math.min(REVIEW_OUTLINE_ALPHABET.length - 1, Math.round(t * REVIEW_OUTLINE_STEPS)))];
  }
  return out;
}

/** The polygon an encoded outline stands for, on `box` (the box it was encoded on, or the box as a person adjusted it). */
export function decodeReviewOutline(code: string, box: readonly number[]): number[] {
  const cx = (box[0]! + box[2]!) / 2;
  const cy = (box[1]! + box[3]!) / 2;
  const hw = (box[2]! - box[0]!) / 2;
  const hh = (box[3]! - box[1]!) / 2;
  const out: number[] = [];
  for (let k = 0; k < code.length; k++) {
    const t = REVIEW_OUTLINE_ALPHABET.indexOf(code[k]!) / REVIEW_OUTLINE_STEPS;
    const angle = (2 * Math.PI * k) / code.length;
    out.push(cx + t * hw * Math.cos(angle), cy + t * hh * Math.sin(angle));
  }
  return out;
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
    const outlines: (string | null)[] = [];
    for (const d of result.detections) {
      boxes.push(...d.box_px.map((v) => roundTo(v, EXPORT_DECIMALS)), roundTo(d.score, 4), d.class_id);
      outlines.push(d.outline_px && d.outline_px.length >= 6 ? encodeReviewOutline(d.box_px, d.outline_px) : null);
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
      outlines,
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
