/**
 * The batch summary (summary.json), built one image record at a time so a
 * batch of any size needs only: one small row per image, 16 bytes per
 * detection for the diameters, and the distinct models, thresholds and
 * calibrations seen.
 */
import { DIAMETER_MEASURE, type ImageRecord, type ImageResult, type ModelInfo, type OutlineMethod, type ScaleSource, type Thresholds } from '../shared/contracts.js';
import { buildHistogram, type Histogram, type HistogramProps } from './histogram.js';
import { imageFileName, resultRelativePath } from './paths.js';
import { SOFTWARE } from './software.js';
import { describeDiameters, Float64Buffer, quantileSorted, type BootstrapProps, type DiameterStatistics } from './statistics.js';

export const BATCH_SUMMARY_SCHEMA = 'exodetect.batch-summary';
/** 1.1: `sizing` (which diameter the statistics use, how the vesicles were outlined, the box's D50 beside). */
export const BATCH_SUMMARY_SCHEMA_VERSION = '1.1';

/** One row per image, in listing order. */
export interface ImageSummaryRow {
  readonly image_key: string;
  /** Path below the batch's images/ folder. */
  readonly file: string;
  readonly status: 'ok' | 'error';
  readonly detections: number;
  readonly in_size_range: number;
  readonly on_edge: number;
  /** Objects that entered the diameter statistics. */
  readonly sized: number;
  readonly median_diameter_nm: number | null;
  readonly width: number | null;
  readonly height: number | null;
  readonly nm_per_px: number | null;
  readonly nm_per_px_source: ScaleSource | null;
  /** The field, tag or bar the scale came from. */
  readonly nm_per_px_detail: string | null;
  /** Sized at an assumed scale (the model's training scale): its sizes are kept out of the statistics. */
  readonly scale_assumed: boolean;
  /** Overlay path relative to results/<batchId>/ (where report.html sits). */
  readonly overlay: string | null;
  readonly warnings: number;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface ImageFailure {
  readonly image_key: string;
  readonly file: string;
  readonly code: string;
  readonly message: string;
}

export interface BatchSummary {
  readonly schema: typeof BATCH_SUMMARY_SCHEMA;
  readonly schema_version: string;
  readonly batch_id: string;
  readonly created_at: string;
  readonly software: { readonly name: string; readonly version: string };
  readonly images: {
    readonly total: number;
    readonly processed: number;
    readonly failed: number;
    /** Processed images sized at an assumed scale: their sizes are in `diameter_nm_assumed_scale`, not in `diameter_nm`. */
    readonly assumed_scale: number;
  };
  readonly failures: ImageFailure[];
  readonly failure_codes: Record<string, number>;
  readonly detections: {
    readonly total: number;
    readonly in_size_range: number;
    readonly out_of_size_range: number;
    readonly on_edge: number;
    /** Objects in the diameter statistics: inside the size gate and (by default) not cut by the edge. */
    readonly sized: number;
    readonly share_out_of_size_range: number | null;
    readonly share_on_edge: number | null;
    /** Detections per processed image. */
    readonly per_image: { readonly mean: number | null; readonly median: number | null; readonly min: number | null; readonly max: number | null };
    readonly by_class: { readonly class_id: number; readonly class_name: string; readonly count: number }[];
  };
  /** Which diameter the statistics below use and how it was obtained. */
  readonly sizing: BatchSizing;
  /** Calibrated images only (batch, file metadata or scale bar). */
  readonly diameter_nm: DiameterStatistics & { readonly population: string };
  /** Images sized at an assumed scale, kept apart; null when every image was calibrated. */
  readonly diameter_nm_assumed_scale: (DiameterStatistics & { readonly population: string }) | null;
  readonly histogram: Histogram;
  readonly models: (ModelInfo & { readonly images: number })[];
  readonly thresholds: (Thresholds & { readonly images: number })[];
  readonly calibration: { readonly source: ScaleSource; readonly nm_per_px: number; readonly detail: string; readonly images: number }[];
  readonly warnings: { readonly images_with_warnings: number; readonly examples: string[] };
  /** Whether the batch stays within its tolerated share of failed images (the state machine fails it otherwise). */
  readonly outcome: BatchOutcome;
  /** What the summary could not check (e.g. missing results when the batch's images cannot be listed). */
  readonly notes: string[];
  readonly per_image: ImageSummaryRow[];
}

export interface BatchSizing {
  /** What `diameter_nm` is: the area-equivalent diameter of each vesicle's outline. */
  readonly diameter: typeof DIAMETER_MEASURE;
  /** Sized vesicles (those in `diameter_nm`) by how their outline was obtained (see contracts.ts OutlineMethod). */
  readonly outline_methods: Record<OutlineMethod, number>;
  /** The median of the boxes' sqrt(w*h) over the same vesicles: what the box alone would have said. */
  readonly box_d50_nm: number | null;
}

export interface BatchOutcome {
  readonly failed_percentage: number;
  /** null: no limit was given. */
  readonly tolerated_failure_percentage: number | null;
  readonly within_tolerance: boolean;
  /** Why the batch fails, with the counts by code; null when within tolerance. */
  readonly reason: string | null;
}

/** failed / total as a percentage, and whether it passes the tolerated percentage (as the Map's ToleratedFailurePercentage: strictly above fails). */
export function batchOutcome(total: number, failureCodes: Readonly<Record<string, number>>, tolerated: number | undefined): BatchOutcome {
  const failed = Object.values(failureCodes).reduce((a, b) => a + b, 0);
  const percentage = total > 0 ? (failed / total) * 100 : 0;
  const within = tolerated === undefined || percentage <= tolerated;
  const byCode = Object.entries(failureCodes)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${n} ${code}`)
    .join(', ');
  return {
    failed_percentage: Math.round(percentage * 100) / 100,
    tolerated_failure_percentage: tolerated ?? null,
    within_tolerance: within,
    reason: within ? null : `${failed} of ${total} images failed (${percentage.toFixed(1)}%), above the tolerated ${tolerated}%: ${byCode}`,
  };
}

export interface BatchSummaryProps {
  readonly batchId: string;
  /** Most failed images, in percent of the batch, before the batch counts as failed. Default: no limit. */
  readonly toleratedFailurePercentage?: number;
  /** Leave objects that touch the image border out of the diameter statistics (their size is a lower bound). Default true. */
  readonly excludeOnEdgeFromStatistics?: boolean;
  readonly bootstrap?: BootstrapProps;
  readonly histogram?: HistogramProps;
  /** Clock for `created_at`; injectable for tests. Default: now. */
  readonly now?: () => Date;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return quantileSorted(sorted, 0.5);
}

/** Accumulates image records; `build()` gives the summary. */
export class BatchSummaryBuilder {
  private readonly rows: ImageSummaryRow[] = [];
  private readonly failures: ImageFailure[] = [];
  private readonly sized = new Float64Buffer(4096);
  private readonly sizedBoxDiameters = new Float64Buffer(4096);
  private readonly outlineMethods: Record<OutlineMethod, number> = { model: 0, 'image-fit': 0, box: 0 };
  private readonly sizedAtAssumedScale = new Float64Buffer(256);
  private readonly excluded = new Float64Buffer(256);
  private assumedScaleImages = 0;
  private readonly models = new Map<string, ModelInfo & { images: number }>();
  private readonly thresholds = new Map<string, Thresholds & { images: number }>();
  private readonly calibration = new Map<string, { source: ScaleSource; nm_per_px: number; detail: string; images: number }>();
  private readonly classes = new Map<number, { class_id: number; class_name: string; count: number }>();
  private readonly warningExamples: string[] = [];
  private readonly notes: string[] = [];
  private imagesWithWarnings = 0;
  private totals = { total: 0, inRange: 0, onEdge: 0 };
  private readonly excludeOnEdge: boolean;

  constructor(private readonly props: BatchSummaryProps) {
    if (!props.batchId) throw new Error(`batchId is required, got "${props.batchId}"`);
    const tolerated = props.toleratedFailurePercentage;
    if (tolerated !== undefined && !(tolerated >= 0 && tolerated <= 100)) {
      throw new RangeError(`toleratedFailurePercentage must be in [0, 100], got ${tolerated}`);
    }
    this.excludeOnEdge = props.excludeOnEdgeFromStatistics ?? true;
  }

  /** Whether a detection enters the diameter statistics. */
  isSized(detection: { in_size_range: boolean; on_edge: boolean }): boolean {
    return detection.in_size_range && !(this.excludeOnEdge && detection.on_edge);
  }

  add(record: ImageRecord): void {
    if (record.status === 'error') {
      this.addFailure(record.image_key, record.error.code, record.error.message);
      return;
    }
    this.addResult(record);
  }

  /** A limitation of this summary, shown in summary.json and the report. */
  addNote(note: string): void {
    this.notes.push(note);
  }

  /** An image without a usable result (error record, unreadable document, missing result). */
  addFailure(imageKey: string, code: string, message: string): void {
    const file = imageFileName(this.props.batchId, imageKey);
    this.failures.push({ image_key: imageKey, file, code, message });
    this.rows.push({
      image_key: imageKey,
      file,
      status: 'error',
      detections: 0,
      in_size_range: 0,
      on_edge: 0,
      sized: 0,
      median_diameter_nm: null,
      width: null,
      height: null,
      nm_per_px: null,
      nm_per_px_source: null,
      nm_per_px_detail: null,
      scale_assumed: false,
      overlay: null,
      warnings: 0,
      error: { code, message },
    });
  }

  private addResult(result: ImageResult): void {
    let inRange = 0;
    let onEdge = 0;
    const imageSized: number[] = [];
    // Sizes at an assumed scale may be off by any factor: never mixed into the calibrated statistics.
    const assumed = result.nm_per_px_source === 'assumed';
    if (assumed) this.assumedScaleImages++;
    for (const d of result.detections) {
      if (d.in_size_range) inRange++;
      if (d.on_edge) onEdge++;
      if (this.isSized(d)) {
        (assumed ? this.sizedAtAssumedScale : this.sized).push(d.diameter_nm);
        if (!assumed) {
          this.sizedBoxDiameters.push(d.box_diameter_nm);
          this.outlineMethods[d.outline_method]++;
        }
        if (assumed) this.excluded.push(d.diameter_nm);
        imageSized.push(d.diameter_nm);
      } else {
        this.excluded.push(d.diameter_nm);
      }
      const cls = this.classes.get(d.class_id);
      if (cls) cls.count++;
      else this.classes.set(d.class_id, { class_id: d.class_id, class_name: d.class_name, count: 1 });
    }
    this.totals.total += result.detections.length;
    this.totals.inRange += inRange;
    this.totals.onEdge += onEdge;

    const modelId = `${result.model.version}\u0000${result.model.sha256}`;
    const model = this.models.get(modelId);
    if (model) model.images++;
    else this.models.set(modelId, { ...result.model, images: 1 });
    const thresholdId = JSON.stringify(result.thresholds);
    const threshold = this.thresholds.get(thresholdId);
    if (threshold) threshold.images++;
    else this.thresholds.set(thresholdId, { ...result.thresholds, images: 1 });
    const calibrationId = `${result.nm_per_px_source}\u0000${result.nm_per_px}`;
    const calibration = this.calibration.get(calibrationId);
    if (calibration) calibration.images++;
    else this.calibration.set(calibrationId, { source: result.nm_per_px_source, nm_per_px: result.nm_per_px, detail: result.nm_per_px_detail, images: 1 });
    if (result.warnings.length > 0) {
      this.imagesWithWarnings++;
      if (this.warningExamples.length < 20) this.warningExamples.push(`${imageFileName(this.props.batchId, result.image_key)}: ${result.warnings[0]}`);
    }

    this.rows.push({
      image_key: result.image_key,
      file: imageFileName(this.props.batchId, result.image_key),
      status: 'ok',
      detections: result.detections.length,
      in_size_range: inRange,
      on_edge: onEdge,
      sized: imageSized.length,
      median_diameter_nm: median(imageSized),
      width: result.width,
      height: result.height,
      nm_per_px: result.nm_per_px,
      nm_per_px_source: result.nm_per_px_source,
      nm_per_px_detail: result.nm_per_px_detail,
      scale_assumed: assumed,
      overlay: result.overlay_key ? resultRelativePath(this.props.batchId, result.overlay_key) : null,
      warnings: result.warnings.length,
      error: null,
    });
  }

  build(): BatchSummary {
    const sizedSorted = this.sized.sorted();
    const excludedSorted = this.excluded.sorted();
    const processedCounts = this.rows.filter((r) => r.status === 'ok').map((r) => r.detections);
    const failureCodes: Record<string, number> = {};
    for (const f of this.failures) failureCodes[f.code] = (failureCodes[f.code] ?? 0) + 1;
    const total = this.totals.total;
    const share = (n: number): number | null => (total > 0 ? n / total : null);
    const population = `detections inside the size gate${this.excludeOnEdge ? ' and not touching the image border' : ''}, in images with a calibrated scale`;
    const assumedSorted = this.sizedAtAssumedScale.sorted();
    return {
      schema: BATCH_SUMMARY_SCHEMA,
      schema_version: BATCH_SUMMARY_SCHEMA_VERSION,
      batch_id: this.props.batchId,
      created_at: (this.props.now ?? (() => new Date()))().toISOString(),
      software: { ...SOFTWARE },
      images: { total: this.rows.length, processed: processedCounts.length, failed: this.failures.length, assumed_scale: this.assumedScaleImages },
      failures: this.failures,
      failure_codes: failureCodes,
      detections: {
        total,
        in_size_range: this.totals.inRange,
        out_of_size_range: total - this.totals.inRange,
        on_edge: this.totals.onEdge,
        sized: sizedSorted.length,
        share_out_of_size_range: share(total - this.totals.inRange),
        share_on_edge: share(this.totals.onEdge),
        per_image: {
          mean: processedCounts.length > 0 ? total / processedCounts.length : null,
          median: median(processedCounts),
          min: processedCounts.length > 0 ? processedCounts.reduce((a, b) => Math.min(a, b)) : null,
          max: processedCounts.length > 0 ? processedCounts.reduce((a, b) => Math.max(a, b)) : null,
        },
        by_class: [...this.classes.values()].sort((a, b) => a.class_id - b.class_id),
      },
      sizing: {
        diameter: DIAMETER_MEASURE,
        outline_methods: { ...this.outlineMethods },
        box_d50_nm: this.sizedBoxDiameters.length ? quantileSorted(this.sizedBoxDiameters.sorted(), 0.5) : null,
      },
      diameter_nm: { population, ...describeDiameters(sizedSorted, this.props.bootstrap) },
      diameter_nm_assumed_scale:
        this.assumedScaleImages > 0
          ? { population: population.replace('with a calibrated scale', 'sized at an ASSUMED scale (the model\'s training scale)'), ...describeDiameters(assumedSorted, this.props.bootstrap) }
          : null,
      histogram: buildHistogram(sizedSorted, excludedSorted, this.props.histogram),
      models: [...this.models.values()].sort((a, b) => b.images - a.images),
      thresholds: [...this.thresholds.values()].sort((a, b) => b.images - a.images),
      calibration: [...this.calibration.values()].sort((a, b) => b.images - a.images),
      warnings: { images_with_warnings: this.imagesWithWarnings, examples: this.warningExamples },
      outcome: batchOutcome(this.rows.length, failureCodes, this.props.toleratedFailurePercentage),
      notes: this.notes,
      per_image: this.rows,
    };
  }
}
