/**
 * Diameter statistics with bootstrap 95% confidence intervals.
 *
 * Designed for a batch of half a million objects inside one Lambda:
 * diameters live in a growable Float64Array (8 bytes each), sorted once.
 *
 * - Quantiles (D10, D50, D90) use the same definition as numpy's default
 *   (linear interpolation between order statistics, "type 7").
 * - Their bootstrap is exact and costs O(1) per resample, whatever the
 *   sample size: in a resample of n values drawn with replacement from the
 *   sorted sample x(1..n), the k-th smallest value is x(ceil(n * U(k))),
 *   where U(k) ~ Beta(k, n - k + 1) is the k-th order statistic of n
 *   uniforms; the (k+1)-th follows from the minimum of the n - k uniforms
 *   above it. This is the same distribution as sorting each resample.
 * - Mean and SD are bootstrapped by resampling directly while
 *   n * resamples stays under a work budget. Above it (a large n) the
 *   bootstrap distribution of the mean is normal to far better than the
 *   Monte-Carlo noise of the resampling itself (central limit theorem),
 *   with variance m2/n; the SD's uses the delta method, (m4 - m2^2)/(4 m2 n).
 *   The method used is recorded next to the intervals.
 */
import { createRandom, sampleBeta } from './random.js';
import { ExodetectError } from '../shared/errors.js';

/** Growable array of doubles: 8 bytes an element, no boxing. */
export class Float64Buffer {
  private data: Float64Array;
  private size = 0;

  constructor(initialCapacity = 1024) {
    this.data = new Float64Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.size;
  }

  push(value: number): void {
    if (this.size === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.size++] = value;
  }

  /** A copy of the values, sorted ascending. */
  sorted(): Float64Array {
    return this.data.slice(0, this.size).sort();
  }

  /** A view of the values (no copy). */
  view(): Float64Array {
    return this.data.subarray(0, this.size);
  }
}

export interface BootstrapProps {
  /** Number of bootstrap resamples. Default 2000. */
  readonly resamples?: number;
  /** PRNG seed: the same data and seed give the same intervals. Default 20240917. */
  readonly seed?: number;
  /** Confidence level. Default 0.95. */
  readonly confidence?: number;
  /**
   * Resample mean and SD directly while n * resamples <= this budget; beyond
   * it use the bootstrap's normal limit. Default 20,000,000 (~0.2 s).
   */
  readonly directWorkBudget?: number;
}

export const DEFAULT_BOOTSTRAP = { resamples: 2000, seed: 20240917, confidence: 0.95, directWorkBudget: 20_000_000 } as const;

export interface Estimate {
  readonly value: number;
  /** [lower, upper] bootstrap percentile interval; null when n < 2. */
  readonly ci: [number, number] | null;
}

export interface DiameterStatistics {
  readonly count: number;
  readonly mean: Estimate | null;
  readonly sd: Estimate | null;
  readonly d10: Estimate | null;
  readonly d50: Estimate | null;
  readonly d90: Estimate | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly bootstrap: {
    readonly resamples: number;
    readonly seed: number;
    readonly confidence: number;
    readonly quantile_method: 'exact-order-statistic';
    readonly moment_method: 'resampling' | 'normal-limit' | 'none';
  };
}

export class InvalidStatisticsInputError extends ExodetectError {}

function validateBootstrapProps(props: BootstrapProps): Required<BootstrapProps> {
  const merged = { ...DEFAULT_BOOTSTRAP, ...props };
  if (!Number.isInteger(merged.resamples) || merged.resamples < 100) {
    throw new InvalidStatisticsInputError(`resamples must be an integer >= 100, got ${merged.resamples}`);
  }
  if (!(merged.confidence > 0 && merged.confidence < 1)) {
    throw new InvalidStatisticsInputError(`confidence must be in (0, 1), got ${merged.confidence}`);
  }
  if (!Number.isInteger(merged.seed)) throw new InvalidStatisticsInputError(`seed must be an integer, got ${merged.seed}`);
  if (!(merged.directWorkBudget >= 0)) {
    throw new InvalidStatisticsInputError(`directWorkBudget must be >= 0, got ${merged.directWorkBudget}`);
  }
  return merged;
}

/** Linear-interpolation quantile of sorted values (numpy's default). `p` in [0, 1]. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) throw new InvalidStatisticsInputError('quantile of an empty sample');
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  if (lo + 1 >= n) return a;
  return a + (h - lo) * (sorted[lo + 1]! - a);
}

/** Sample mean and SD (n - 1 denominator), and central moments m2, m4 (n denominator). */
export function moments(values: ArrayLike<number>): { mean: number; sd: number; m2: number; m4: number } {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let s2 = 0;
  let s4 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    const d2 = d * d;
    s2 += d2;
    s4 += d2 * d2;
  }
  return { mean, sd: n > 1 ? Math.sqrt(s2 / (n - 1)) : 0, m2: s2 / n, m4: s4 / n };
}

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pLow = 0.02425;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - pLow) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

function percentileInterval(replicates: Float64Array, confidence: number): [number, number] {
  replicates.sort();
  const alpha = (1 - confidence) / 2;
  return [quantileSorted(replicates, alpha), quantileSorted(replicates, 1 - alpha)];
}

/** Index (0-based) into n sorted values for a uniform order statistic u in (0, 1). */
function orderIndex(u: number, n: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil(u * n) - 1));
}

/** Bootstrap replicates of the type-7 quantile p of `sorted`, O(1) each (see the module comment). */
export function bootstrapQuantile(sorted: Float64Array, p: number, resamples: number, random: () => number): Float64Array {
  const n = sorted.length;
  const h = (n - 1) * p;
  const k = Math.floor(h) + 1; // 1-based rank of the lower order statistic
  const frac = h - (k - 1);
  const out = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    const uk = n === 1 ? random() : sampleBeta(random, k, n - k + 1);
    const lower = sorted[orderIndex(uk, n)]!;
    if (k >= n || frac === 0) {
      out[r] = lower;
      continue;
    }
    // The next order statistic: the smallest of the n - k uniforms above uk.
    let v = random();
    while (v === 0) v = random();
    const ukNext = uk + (1 - uk) * (1 - Math.pow(v, 1 / (n - k)));
    const upper = sorted[orderIndex(ukNext, n)]!;
    out[r] = lower + frac * (upper - lower);
  }
  return out;
}

/**
 * Count, mean, SD, D10/D50/D90 with bootstrap intervals, min and max.
 * `values` need not be sorted; it is not modified.
 */
export function describeDiameters(values: Float64Array | Float64Buffer, props: BootstrapProps = {}): DiameterStatistics {
  const opts = validateBootstrapProps(props);
  const sorted = values instanceof Float64Buffer ? values.sorted() : values.slice().sort();
  const n = sorted.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(sorted[i]!)) throw new InvalidStatisticsInputError(`diameter #${i} is not a finite number: ${sorted[i]}`);
  }
  const meta = {
    resamples: opts.resamples,
    seed: opts.seed,
    confidence: opts.confidence,
    quantile_method: 'exact-order-statistic' as const,
  };
  if (n === 0) {
    return { count: 0, mean: null, sd: null, d10: null, d50: null, d90: null, min: null, max: null, bootstrap: { ...meta, moment_method: 'none' } };
  }
  const m = moments(sorted);
  const random = createRandom(opts.seed);
  const withCi = n >= 2;
  const quantile = (p: number): Estimate => ({
    value: quantileSorted(sorted, p),
    ci: withCi ? percentileInterval(bootstrapQuantile(sorted, p, opts.resamples, random), opts.confidence) : null,
  });
  const d10 = quantile(0.1);
  const d50 = quantile(0.5);
  const d90 = quantile(0.9);

  let meanCi: [number, number] | null = null;
  let sdCi: [number, number] | null = null;
  let momentMethod: 'resampling' | 'normal-limit' | 'none' = 'none';
  if (withCi && n * opts.resamples <= opts.directWorkBudget) {
    momentMethod = 'resampling';
    const means = new Float64Array(opts.resamples);
    const sds = new Float64Array(opts.resamples);
    for (let r = 0; r < opts.resamples; r++) {
      let sum = 0;
      let sumSq = 0;
      for (let i = 0; i < n; i++) {
        // Shift by the sample mean so the one-pass variance does not cancel.
        const x = sorted[Math.floor(random() * n)]! - m.mean;
        sum += x;
        sumSq += x * x;
      }
      const mean = sum / n;
      means[r] = mean + m.mean;
      sds[r] = Math.sqrt(Math.max(0, (sumSq - n * mean * mean) / (n - 1)));
    }
    meanCi = percentileInterval(means, opts.confidence);
    sdCi = percentileInterval(sds, opts.confidence);
  } else if (withCi) {
    momentMethod = 'normal-limit';
    const z = normalQuantile(1 - (1 - opts.confidence) / 2);
    const seMean = Math.sqrt(m.m2 / n);
    meanCi = [m.mean - z * seMean, m.mean + z * seMean];
    const seSd = m.m2 > 0 ? Math.sqrt(Math.max(0, m.m4 - m.m2 * m.m2) / (4 * m.m2 * n)) : 0;
    sdCi = [Math.max(0, m.sd - z * seSd), m.sd + z * seSd];
  }
  return {
    count: n,
    mean: { value: m.mean, ci: meanCi },
    sd: { value: m.sd, ci: sdCi },
    d10,
    d50,
    d90,
    min: sorted[0]!,
    max: sorted[n - 1]!,
    bootstrap: { ...meta, moment_method: momentMethod },
  };
}
