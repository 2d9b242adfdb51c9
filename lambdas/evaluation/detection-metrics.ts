/**
 * Detection metrics computed exactly as the trainer computes them
 * (training-container/exodetect_train/metrics.py): COCO 101-point AP at IoU
 * 0.50 and 0.50:0.95, greedy matching in descending score order, P/R/F1 at a
 * score threshold, the best-F1 threshold and the recommended one, the median absolute error of
 * the equivalent diameter sqrt(w*h) in nm (box against box), and, where the
 * ground truth has outlines, the sizing error against them: for matched
 * objects the relative error of the predicted outline's area-equivalent
 * diameter against the true outline's (median absolute, median signed = bias,
 * share within 10%), and the same for the predicted box's sqrt(w*h) beside it.
 * tests/local/metrics.test.ts cross-checks both on the same predictions.
 */

/** [x1, y1, x2, y2] in the image's pixels. */
export type XyxyBox = readonly [number, number, number, number];

export interface ImageEval {
  readonly predBoxes: readonly XyxyBox[];
  readonly predScores: readonly number[];
  readonly predClasses: readonly number[];
  readonly gtBoxes: readonly XyxyBox[];
  readonly gtClasses: readonly number[];
  readonly nmPerPx: number;
  /** Area-equivalent diameter of each prediction's outline, px; absent when the predictions have no outlines. */
  readonly predDiameters?: readonly number[];
  /** Area-equivalent diameter of each true outline, px; NaN where an object has a box only; absent: no outlines. */
  readonly gtDiameters?: readonly number[];
}

export interface DetectionMetrics {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly ap50: number;
  readonly ap50_95: number;
  readonly diameter_median_abs_error_nm: number | null;
  readonly n_images: number;
  readonly n_objects: number;
  /** The threshold these figures are at: given, or the recommended one for these images. */
  readonly threshold: number;
  /** The threshold with the best F1 on these images (ties: the higher). */
  readonly best_f1_threshold: number;
  /** Matched objects (at the threshold, IoU 0.5) whose truth has an outline: the sizing figures' population. */
  readonly sizing_n: number;
  /** |predicted outline's area-equivalent diameter / true outline's - 1|, median; null without pairs or predicted outlines. */
  readonly outline_diameter_median_abs_rel_error: number | null;
  /** The same difference in nm (each image at its own scale), median. */
  readonly outline_diameter_median_abs_error_nm: number | null;
  /** The same, signed (positive: too large). */
  readonly outline_diameter_median_rel_bias: number | null;
  /** Share of the pairs within 10%. */
  readonly outline_diameter_within_10pct: number | null;
  /** The predicted box's sqrt(w*h) against the true outline's area-equivalent diameter: sizing from boxes alone. */
  readonly box_diameter_median_abs_rel_error: number | null;
  readonly box_diameter_median_abs_error_nm: number | null;
  readonly box_diameter_median_rel_bias: number | null;
  readonly box_diameter_within_10pct: number | null;
}

/** numpy.linspace's arithmetic (i * step + start, last = stop), so thresholds are bit-identical. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}
export const IOU_THRESHOLDS = linspace(0.5, 0.95, 10);
export const RECALL_POINTS = linspace(0, 1, 101);

/** Python's round(x, digits): the double's exact decimal value, ties to even. */
export function pyRound(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x;
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf('.');
  const rest = exact.slice(dot + 1 + digits);
  if (rest[0] === '5' && /^50*$/.test(rest)) {
    const kept = exact.slice(0, dot + 1 + digits);
    const lastDigit = Number(kept.at(-1) === '.' ? exact[dot - 1] : kept.at(-1));
    const down = Number(kept);
    const up = down + 10 ** -digits;
    return Math.sign(x) * Number((lastDigit % 2 === 0 ? down : up).toFixed(digits));
  }
  return Number(x.toFixed(digits));
}

/**
 * numpy's float64 sum: the first element, plus the pairwise sum of the rest
 * (eight accumulators per block of up to 128). Means then agree to the last bit.
 */
export function npSum(values: readonly number[]): number {
  if (values.length === 0) return 0;
  return values[0]! + pairwiseSum(values, 1, values.length - 1);
}

function pairwiseSum(a: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = Array.from({ length: 8 }, (_, j) => a[start + j]!);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

const npMean = (values: readonly number[]): number => npSum(values) / values.length;

export function iou(a: XyxyBox, b: XyxyBox): number {
  const w = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const h = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const inter = w * h;
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / Math.max(areaA + areaB - inter, 1e-12);
}

/** Indices sorted by descending value, stable (numpy argsort(-x, kind="stable")). */
const argsortDesc = (values: readonly number[]): number[] => values.map((_, i) => i).sort((i, j) => values[j]! - values[i]!);

interface Matched {
  readonly scores: number[];
  readonly tp: boolean[];
  readonly gtIndex: number[];
  readonly boxes: XyxyBox[];
  readonly gts: XyxyBox[];
  /** The image's own indices of `boxes` and of `gts`. */
  readonly predIndex: number[];
  readonly gtOriginal: number[];
}

function match(img: ImageEval, cls: number, iouThreshold: number): Matched {
  const predIdx = img.predClasses.map((c, i) => (c === cls ? i : -1)).filter((i) => i >= 0);
  const rawScores = predIdx.map((i) => img.predScores[i]!);
  const order = argsortDesc(rawScores);
  const boxes = order.map((o) => img.predBoxes[predIdx[o]!]!);
  const scores = order.map((o) => rawScores[o]!);
  const gtOriginal = img.gtClasses.map((c, i) => (c === cls ? i : -1)).filter((i) => i >= 0);
  const gts = gtOriginal.map((i) => img.gtBoxes[i]!);
  const taken = new Array<boolean>(gts.length).fill(false);
  const tp = new Array<boolean>(boxes.length).fill(false);
  const gtIndex = new Array<number>(boxes.length).fill(-1);
  for (let i = 0; i < boxes.length; i++) {
    if (gts.length === 0) break;
    let best = -Infinity;
    let j = 0;
    for (let g = 0; g < gts.length; g++) {
      const candidate = taken[g] ? -1 : iou(boxes[i]!, gts[g]!);
      if (candidate > best) {
        best = candidate;
        j = g;
      }
    }
    if (best >= iouThreshold) {
      taken[j] = true;
      tp[i] = true;
      gtIndex[i] = j;
    }
  }
  return { scores, tp, gtIndex, boxes, gts, predIndex: order.map((o) => predIdx[o]!), gtOriginal };
}

export function averagePrecision(images: readonly ImageEval[], numClasses: number, iouThreshold: number): number {
  const aps: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    const allScores: number[] = [];
    const allTp: boolean[] = [];
    let nGt = 0;
    for (const img of images) {
      const m = match(img, c, iouThreshold);
      allScores.push(...m.scores);
      allTp.push(...m.tp);
      nGt += img.gtClasses.filter((g) => g === c).length;
    }
    if (nGt === 0) continue;
    const order = argsortDesc(allScores);
    let ctp = 0;
    let cfp = 0;
    const recall: number[] = [];
    const precision: number[] = [];
    for (const o of order) {
      if (allTp[o]) ctp++;
      else cfp++;
      recall.push(ctp / nGt);
      precision.push(ctp / Math.max(ctp + cfp, 1e-12));
    }
    for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i]!, precision[i + 1]!);
    const q: number[] = [];
    for (const r of RECALL_POINTS) {
      // numpy.searchsorted(recall, r, side="left"): the first index with recall >= r.
      let lo = 0;
      let hi = recall.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (recall[mid]! < r) lo = mid + 1;
        else hi = mid;
      }
      q.push(lo < precision.length ? precision[lo]! : 0);
    }
    aps.push(npMean(q));
  }
  return aps.length ? npMean(aps) : 0;
}

/** What each prediction and each true object of one image came to at a score threshold (IoU 0.5, the metrics' matching). */
export interface ImageOutcome {
  /** Indices of the predictions at or above the threshold that found a true object. */
  readonly found: number[];
  /** Indices of the predictions at or above the threshold that found none. */
  readonly falsePositives: number[];
  /** Indices of the true objects no prediction at or above the threshold found. */
  readonly missed: number[];
}

/** The image with only its predictions at or above the threshold, and their indices in the image. */
function aboveThreshold(img: ImageEval, threshold: number): { readonly sub: ImageEval; readonly kept: number[] } {
  const kept = img.predScores.flatMap((s, i) => (s >= threshold ? [i] : []));
  const sub: ImageEval = {
    ...img,
    predBoxes: kept.map((i) => img.predBoxes[i]!),
    predScores: kept.map((i) => img.predScores[i]!),
    predClasses: kept.map((i) => img.predClasses[i]!),
    ...(img.predDiameters && { predDiameters: kept.map((i) => img.predDiameters![i]!) }),
  };
  return { sub, kept };
}

export function imageOutcome(img: ImageEval, numClasses: number, threshold: number): ImageOutcome {
  const { sub, kept } = aboveThreshold(img, threshold);
  const outcome: ImageOutcome = { found: [], falsePositives: [], missed: [] };
  for (let c = 0; c < numClasses; c++) {
    const m = match(sub, c, 0.5);
    const foundGts = new Set<number>();
    m.tp.forEach((isTp, i) => {
      (isTp ? outcome.found : outcome.falsePositives).push(kept[m.predIndex[i]!]!);
      if (isTp) foundGts.add(m.gtOriginal[m.gtIndex[i]!]!);
    });
    for (const g of m.gtOriginal) if (!foundGts.has(g)) outcome.missed.push(g);
  }
  for (const list of Object.values(outcome)) list.sort((a: number, b: number) => a - b);
  return outcome;
}

const equivalentDiameter = (b: XyxyBox): number => Math.sqrt(Math.max(b[2] - b[0], 0) * Math.max(b[3] - b[1], 0));

function countsAt(images: readonly ImageEval[], numClasses: number, threshold: number, iouThreshold = 0.5) {
  let tp = 0;
  let fp = 0;
  let nGt = 0;
  const diameterErrors: number[] = [];
  const outline: SizingPairs = { rel: [], nm: [] };
  const box: SizingPairs = { rel: [], nm: [] };
  for (const img of images) {
    const { sub } = aboveThreshold(img, threshold);
    for (let c = 0; c < numClasses; c++) {
      const m = match(sub, c, iouThreshold);
      const t = m.tp.filter(Boolean).length;
      tp += t;
      fp += m.tp.length - t;
      nGt += m.gts.length;
      m.tp.forEach((isTp, i) => {
        if (!isTp) return;
        const dp = equivalentDiameter(m.boxes[i]!);
        diameterErrors.push(Math.abs(dp - equivalentDiameter(m.gts[m.gtIndex[i]!]!)) * img.nmPerPx);
        const trueD = img.gtDiameters ? img.gtDiameters[m.gtOriginal[m.gtIndex[i]!]!]! : Number.NaN;
        if (!(trueD > 0)) return; // no true outline for this object
        box.rel.push((dp - trueD) / trueD);
        box.nm.push(Math.abs(dp - trueD) * img.nmPerPx);
        if (!sub.predDiameters) return;
        const predD = sub.predDiameters[m.predIndex[i]!]!;
        outline.rel.push((predD - trueD) / trueD);
        outline.nm.push(Math.abs(predD - trueD) * img.nmPerPx);
      });
    }
  }
  return { tp, fp, nGt, diameterErrors, outline, box };
}

/** Matched objects' sizing errors: relative, and absolute in nm. */
interface SizingPairs {
  readonly rel: number[];
  readonly nm: number[];
}

/** Median absolute relative error, median absolute error in nm, median relative error (bias) and share within 10%; nulls without pairs. */
function sizingErrors({ rel, nm }: SizingPairs): [number | null, number | null, number | null, number | null] {
  if (rel.length === 0) return [null, null, null, null];
  return [
    pyRound(median(rel.map(Math.abs)), 4),
    pyRound(median(nm), 3),
    pyRound(median(rel), 4),
    pyRound(rel.filter((r) => Math.abs(r) <= 0.1).length / rel.length, 4),
  ];
}

/** The score threshold that maximises F1 at IoU 0.5 (ties: the higher threshold), floored to 4 decimals. */
export function bestF1Threshold(images: readonly ImageEval[], numClasses: number, floor = 0.05): number {
  const scores: number[] = [];
  const tps: boolean[] = [];
  const nGt = images.reduce((n, i) => n + i.gtBoxes.length, 0);
  for (const img of images) {
    for (let c = 0; c < numClasses; c++) {
      const m = match(img, c, 0.5);
      scores.push(...m.scores);
      tps.push(...m.tp);
    }
  }
  const kept = scores.map((s, i) => ({ s, t: tps[i]! })).filter((x) => x.s >= floor);
  if (kept.length === 0 || nGt === 0) return 0.5;
  const order = argsortDesc(kept.map((k) => k.s));
  const s = order.map((o) => kept[o]!.s);
  const t = order.map((o) => kept[o]!.t);
  let ctp = 0;
  const f1 = s.map((_, i) => {
    if (t[i]) ctp++;
    const value = (2 * ctp) / (i + 1 + nGt);
    // Only cut between distinct scores.
    const lastOfRun = i === s.length - 1 || s[i + 1] !== s[i];
    return lastOfRun ? value : -1;
  });
  const best = Math.max(...f1);
  const iHi = f1.findIndex((v) => v >= best - 1e-12);
  return Math.floor(s[iHi]! * 1e4) / 1e4;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : npMean([sorted[mid - 1]!, sorted[mid]!]);
}

/**
 * The threshold a model ships with: the best-F1 threshold on its validation objects, drawn toward this prior as if
 * THRESHOLD_PRIOR_OBJECTS more objects had voted for it (few objects' best-F1 threshold follows their noise; the
 * measurement is in metrics.py, which chooses the trainer's threshold by the same rule).
 */
export const THRESHOLD_PRIOR = 0.5;
export const THRESHOLD_PRIOR_OBJECTS = 40;

/** How far toward THRESHOLD_PRIOR the best-F1 threshold on nObjects true objects is moved (0..1). */
export function priorShare(nObjects: number): number {
  return THRESHOLD_PRIOR_OBJECTS / (THRESHOLD_PRIOR_OBJECTS + nObjects);
}

/** The best-F1 threshold on nObjects true objects, moved toward THRESHOLD_PRIOR (floored to 4 decimals). */
export function recommendedThreshold(bestF1: number, nObjects: number): number {
  // metrics.py's arithmetic, operation for operation, so both floor to the same 4 decimals.
  const t = (nObjects * bestF1 + THRESHOLD_PRIOR_OBJECTS * THRESHOLD_PRIOR) / (nObjects + THRESHOLD_PRIOR_OBJECTS);
  return Math.floor(t * 1e4) / 1e4;
}

/** The metrics.json 'validation'/'test' block; threshold undefined: the recommended one for these images. */
export function evaluateDetections(images: readonly ImageEval[], numClasses: number, threshold?: number): DetectionMetrics {
  const best = bestF1Threshold(images, numClasses);
  const thr = threshold ?? recommendedThreshold(best, images.reduce((n, i) => n + i.gtBoxes.length, 0));
  const { tp, fp, nGt, diameterErrors, outline, box } = countsAt(images, numClasses, thr);
  const [outlineAbs, outlineNm, outlineBias, outlineWithin] = sizingErrors(outline);
  const [boxAbs, boxNm, boxBias, boxWithin] = sizingErrors(box);
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = nGt ? tp / nGt : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  const aps = IOU_THRESHOLDS.map((t) => averagePrecision(images, numClasses, t));
  return {
    precision: pyRound(precision, 4),
    recall: pyRound(recall, 4),
    f1: pyRound(f1, 4),
    ap50: pyRound(aps[0]!, 4),
    ap50_95: pyRound(npMean(aps), 4),
    diameter_median_abs_error_nm: diameterErrors.length ? pyRound(median(diameterErrors), 3) : null,
    n_images: images.length,
    n_objects: nGt,
    threshold: thr,
    best_f1_threshold: best,
    sizing_n: box.rel.length,
    outline_diameter_median_abs_rel_error: outlineAbs,
    outline_diameter_median_abs_error_nm: outlineNm,
    outline_diameter_median_rel_bias: outlineBias,
    outline_diameter_within_10pct: outlineWithin,
    box_diameter_median_abs_rel_error: boxAbs,
    box_diameter_median_abs_error_nm: boxNm,
    box_diameter_median_rel_bias: boxBias,
    box_diameter_within_10pct: boxWithin,
  };
}
