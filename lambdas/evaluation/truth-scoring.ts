/**
 * Models scored on a ground-truth document through the production inference
 * path (the same decoding, scaling, tiling, box decoding and outlines that
 * batches get), with the trainer's metric code (detection-metrics.ts). Used by
 * the promotion head-to-head and by `exodetect evaluate`, so both read the
 * same truth the same way. Class-agnostic, like the promotion rule. Where the
 * truth has outlines (polygons), sizes are scored against them: each
 * prediction's reported diameter (its outline's area-equivalent diameter)
 * against the true outline's.
 */
import type { Box, OutlineMethod } from '../shared/contracts.js';
import { areaEquivalentDiameter, polygonArea } from '../detect/outline.js';
import { evaluateDetections, imageOutcome, type DetectionMetrics, type ImageEval, type ImageOutcome } from './detection-metrics.js';
import { detectionsInGate, inGate } from './size-gate.js';
import { ImageError } from '../shared/errors.js';
import type { LoadedModel } from '../detect/model.js';
import { processImage } from '../detect/pipeline.js';
import { TruthDocumentSchema, type TruthDocument } from '../training/ingest/truth.js';
import { DatasetError } from '../training/errors.js';
import { z } from 'zod';

/** Every detection down to this score is kept, so AP sees the whole precision-recall curve. */
export const SCORE_FLOOR = 0.01;

export interface ImagePredictions {
  readonly file: string;
  /** The annotation file's own id of the image (COCO), or null. */
  readonly sourceImageId: number | string | null;
  readonly nmPerPx: number;
  readonly nmPerPxSource: string;
  readonly detections: { readonly box: Box; readonly score: number; readonly diameterNm: number; readonly outline: number[] | null; readonly outlineMethod: OutlineMethod }[];
}

/** Precision, recall and F1 at one threshold. */
export interface ThresholdFigures {
  readonly threshold: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

function thresholdFigures({ threshold, precision, recall, f1 }: DetectionMetrics): ThresholdFigures {
  return { threshold, precision, recall, f1 };
}

export interface ModelOnTruth {
  readonly version: string;
  /** At the model's own recommended threshold (its score_threshold metadata), as users get it. */
  readonly metrics: DetectionMetrics;
  /**
   * Precision, recall and F1 at the threshold that maximises F1 on these very images: what the model could do
   * here with its threshold tuned on them (an optimistic figure; the threshold is not the model's).
   */
  readonly atBestF1: ThresholdFigures;
  /**
   * The same at the threshold these images recommend: their best-F1 threshold drawn toward the prior by their number of
   * objects, as the trainer chooses a model's (the setting to take from a set of one's own annotated images).
   */
  readonly atRecommended: ThresholdFigures;
  readonly predictions: ImagePredictions[];
  /**
   * Per image (as `predictions`), at the threshold of `metrics`: the detections that found a true object,
   * the false positives (indices into the image's detections) and the missed objects (indices into the truth
   * image's objects). Inside the size gate only, as the figures count them.
   */
  readonly outcomes: ImageOutcome[];
}

export interface TruthScores {
  readonly models: ModelOnTruth[];
  /** Images no model could analyse (left out for every model alike). */
  readonly failed: { readonly file: string; readonly error: string }[];
}

export interface ScoreProps {
  /** The image's bytes, or undefined when it is gone. */
  readonly read: (file: string) => Promise<Uint8Array | undefined>;
  readonly onImage?: (done: number, total: number) => void;
  /**
   * Score only objects of this size, [min, max] nm: true objects by their outline's area-equivalent diameter
   * (their box's sqrt(w*h) when they have no outline); a detection that found a true object goes with it, any other
   * by its reported diameter, the one `run --size-gate` counts by (size-gate.ts). Default: every object.
   */
  readonly sizeGateNm?: readonly [number, number];
  /** The threshold the figures are given at. Default: each model's own recommended one. */
  readonly scoreThreshold?: number;
}

/** Parses a truth.json text; a clear DatasetError names the file otherwise. */
export function parseTruthDocument(text: string, where: string): TruthDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = TruthDocumentSchema.safeParse(json);
  if (!parsed.success) throw new DatasetError(`${where}: not an exodetect truth document of this version: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export async function scoreModelsOnTruth(truth: TruthDocument, models: readonly LoadedModel[], props: ScoreProps): Promise<TruthScores> {
  const perModel = models.map(() => ({ evals: [] as ImageEval[], predictions: [] as ImagePredictions[], keptObjects: [] as number[][] }));
  const failed: { file: string; error: string }[] = [];
  let done = 0;
  for (const image of truth.images) {
    const bytes = await props.read(image.file);
    props.onImage?.(++done, truth.images.length);
    if (!bytes) {
      failed.push({ file: image.file, error: 'the image is missing' });
      continue;
    }
    // NaN: an object labelled with a box only, left out of the sizing figures.
    const outlineDiameters = image.objects.map((o) => (o.polygon && o.polygon.length >= 6 ? areaEquivalentDiameter(polygonArea(o.polygon)) : Number.NaN));
    const results = [];
    try {
      for (const model of models) {
        const { result } = await processImage({
          bytes,
          imageKey: image.file,
          batchId: 'evaluation',
          overlayKey: '',
          model,
          // The truth's scale when it has one; else inference's own rules (file metadata, then the model's scale).
          params: { score_threshold: SCORE_FLOOR, ...(image.nm_per_px !== null && { nm_per_px: image.nm_per_px }) },
        });
        results.push(result);
      }
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      failed.push({ file: image.file, error: `${error.code}: ${error.message}` });
      continue;
    }
    results.forEach((unfiltered, i) => {
      const truthSized = image.objects.map((o, j) => {
        const px = Number.isNaN(outlineDiameters[j]!) ? Math.sqrt((o.box[2] - o.box[0]) * (o.box[3] - o.box[1])) : outlineDiameters[j]!;
        return { box: o.box, diameterNm: px * unfiltered.nm_per_px };
      });
      const scored = detectionsInGate(
        unfiltered.detections.map((d) => ({ box: d.box_px, diameterNm: d.diameter_nm })),
        truthSized,
        props.sizeGateNm,
      );
      const result = { ...unfiltered, detections: unfiltered.detections.filter((_, k) => scored[k]) };
      const kept = truthSized.flatMap((t, j) => (inGate(t.diameterNm, props.sizeGateNm) ? [j] : []));
      const gt = kept.map((j) => image.objects[j]!.box);
      const gtDiameters = kept.map((j) => outlineDiameters[j]!);
      perModel[i]!.evals.push({
        predBoxes: result.detections.map((d) => d.box_px),
        predScores: result.detections.map((d) => d.score),
        predClasses: result.detections.map(() => 0),
        gtBoxes: gt,
        gtClasses: gt.map(() => 0),
        nmPerPx: result.nm_per_px,
        // The size users get, in px: the outline's area-equivalent diameter.
        predDiameters: result.detections.map((d) => d.diameter_nm / result.nm_per_px),
        gtDiameters,
      });
      perModel[i]!.keptObjects.push(kept);
      perModel[i]!.predictions.push({
        file: image.file,
        sourceImageId: image.source_image_id,
        nmPerPx: result.nm_per_px,
        // The truth's own source (a scale bar, dataset.json, the file) when it gave the scale: inference saw it as a batch value.
        nmPerPxSource: image.nm_per_px !== null ? (image.nm_per_px_source ?? result.nm_per_px_source) : result.nm_per_px_source,
        detections: result.detections.map((d) => ({ box: d.box_px, score: d.score, diameterNm: d.diameter_nm, outline: d.outline_px, outlineMethod: d.outline_method })),
      });
    });
  }
  return {
    models: models.map((model, i) => {
      const { evals, predictions, keptObjects } = perModel[i]!;
      const metrics = evaluateDetections(evals, 1, props.scoreThreshold ?? model.scoreThreshold);
      const outcomes = evals.map((e, j) => {
        const outcome = imageOutcome(e, 1, metrics.threshold);
        return { ...outcome, missed: outcome.missed.map((g) => keptObjects[j]![g]!) };
      });
      return {
        version: model.version,
        metrics,
        atBestF1: thresholdFigures(evaluateDetections(evals, 1, metrics.best_f1_threshold)),
        atRecommended: thresholdFigures(evaluateDetections(evals, 1)),
        predictions,
        outcomes,
      };
    }),
    failed,
  };
}
