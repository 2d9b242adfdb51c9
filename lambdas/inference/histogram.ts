/**
 * Diameter histogram with "nice" bins.
 *
 * Bin width: the Freedman-Diaconis rule, 2 * IQR * n^(-1/3), computed on the
 * sized objects, rounded to the nearest (on a log scale) 1, 2, 2.5 or 5 times
 * a power of ten so that edges read well (e.g. 5 nm, 10 nm); then widened to the next nice width
 * while more than `maxBins` bins would be needed. Edges are multiples of the
 * width, covering every value. Fewer than 4 values or a zero IQR fall back to
 * `fallbackWidthNm`. Each bin counts the sized objects and, separately, the
 * detections left out of the statistics (outside the size gate or cut by the
 * image edge), so the chart shows both without mixing them.
 */
import { quantileSorted } from './statistics.js';

export interface HistogramProps {
  /** At most this many bins. Default 60. */
  readonly maxBins?: number;
  /** Width when the data cannot define one. Default 10 nm. */
  readonly fallbackWidthNm?: number;
}

export interface HistogramBin {
  /** Inclusive lower edge, nm. */
  readonly from: number;
  /** Exclusive upper edge, nm (the last bin includes it). */
  readonly to: number;
  readonly sized: number;
  readonly excluded: number;
}

export interface Histogram {
  readonly unit: 'nm';
  readonly rule: 'freedman-diaconis' | 'fallback';
  readonly bin_width: number;
  readonly bins: HistogramBin[];
}

const NICE_STEPS = [1, 2, 2.5, 5, 10];

/** The smallest nice number (1, 2, 2.5, 5 x 10^k) that is >= x. */
export function niceCeil(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`niceCeil needs a positive finite number, got ${x}`);
  const exponent = Math.floor(Math.log10(x));
  const base = Math.pow(10, exponent);
  for (const step of NICE_STEPS) {
    const candidate = step * base;
    if (candidate >= x * (1 - 1e-12)) return Number(candidate.toPrecision(12));
  }
  return 10 * base;
}

/** The nice number closest to x on a log scale. */
export function niceRound(x: number): number {
  const up = niceCeil(x);
  const exponent = Math.floor(Math.log10(x));
  const base = Math.pow(10, exponent);
  const candidates = [...NICE_STEPS.map((step) => Number((step * base).toPrecision(12))), Number((base / 2).toPrecision(12)), up];
  let best = up;
  for (const c of candidates) if (c > 0 && Math.abs(Math.log(c / x)) < Math.abs(Math.log(best / x))) best = c;
  return best;
}

/** The next nice number strictly above `x` (itself nice). */
function niceNext(x: number): number {
  return niceCeil(x * 1.0001 + Number.EPSILON);
}

/** Build the histogram from sorted sized diameters and sorted excluded diameters. */
export function buildHistogram(sizedSorted: Float64Array, excludedSorted: Float64Array, props: HistogramProps = {}): Histogram {
  const maxBins = props.maxBins ?? 60;
  const fallback = props.fallbackWidthNm ?? 10;
  if (!Number.isInteger(maxBins) || maxBins < 1) throw new RangeError(`maxBins must be a positive integer, got ${maxBins}`);
  if (!(fallback > 0)) throw new RangeError(`fallbackWidthNm must be > 0, got ${fallback}`);
  const total = sizedSorted.length + excludedSorted.length;
  if (total === 0) return { unit: 'nm', rule: 'fallback', bin_width: fallback, bins: [] };

  const basis = sizedSorted.length > 0 ? sizedSorted : excludedSorted;
  let rule: Histogram['rule'] = 'fallback';
  let width = fallback;
  if (basis.length >= 4) {
    const iqr = quantileSorted(basis, 0.75) - quantileSorted(basis, 0.25);
    if (iqr > 0) {
      width = niceRound(2 * iqr * Math.pow(basis.length, -1 / 3));
      rule = 'freedman-diaconis';
    }
  }
  const min = Math.min(sizedSorted[0] ?? Infinity, excludedSorted[0] ?? Infinity);
  const max = Math.max(sizedSorted[sizedSorted.length - 1] ?? -Infinity, excludedSorted[excludedSorted.length - 1] ?? -Infinity);
  let lo = 0;
  let count = 1;
  for (;;) {
    lo = Math.floor(min / width) * width;
    count = Math.max(1, Math.floor((max - lo) / width) + 1);
    if (count <= maxBins) break;
    width = niceNext(width);
  }
  const sized = new Array<number>(count).fill(0);
  const excluded = new Array<number>(count).fill(0);
  const binOf = (v: number): number => Math.min(count - 1, Math.max(0, Math.floor((v - lo) / width)));
  for (const v of sizedSorted) sized[binOf(v)]!++;
  for (const v of excludedSorted) excluded[binOf(v)]!++;
  const round = (x: number): number => Number(x.toFixed(6));
  return {
    unit: 'nm',
    rule,
    bin_width: width,
    bins: sized.map((s, i) => ({ from: round(lo + i * width), to: round(lo + (i + 1) * width), sized: s, excluded: excluded[i]! })),
  };
}
