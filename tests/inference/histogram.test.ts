import { describe, expect, it } from 'vitest';
import { buildHistogram, niceCeil, niceRound } from '../../lambdas/inference/histogram.js';
import { createRandom, sampleNormal } from '../../lambdas/inference/random.js';
import { quantileSorted } from '../../lambdas/inference/statistics.js';

describe('histogram', () => {
  it('rounds widths up to 1, 2, 2.5 or 5 times a power of ten', () => {
    expect(niceCeil(3.1)).toBe(5);
    expect(niceCeil(7)).toBe(10);
    expect(niceCeil(10)).toBe(10);
    expect(niceCeil(2.2)).toBe(2.5);
    expect(niceCeil(0.013)).toBe(0.02);
    expect(niceCeil(180)).toBe(200);
    expect(() => niceCeil(0)).toThrow(/positive/);
    expect(niceRound(13)).toBe(10);
    expect(niceRound(16)).toBe(20);
    expect(niceRound(3.3)).toBe(2.5);
    expect(niceRound(4)).toBe(5);
    expect(niceRound(0.7)).toBe(0.5);
  });

  it('uses the Freedman-Diaconis width, covers every value and counts both series', () => {
    const random = createRandom(1);
    const sized = Float64Array.from({ length: 2000 }, () => 90 + 20 * sampleNormal(random)).sort();
    const excluded = Float64Array.from([12, 15, 260]).sort();
    const h = buildHistogram(sized, excluded);
    const iqr = quantileSorted(sized, 0.75) - quantileSorted(sized, 0.25);
    const fd = 2 * iqr * Math.pow(2000, -1 / 3);
    expect(h.rule).toBe('freedman-diaconis');
    expect(h.bin_width).toBeGreaterThan(fd / 1.5);
    expect(h.bin_width).toBeLessThan(fd * 1.5);
    expect(h.bins.reduce((s, b) => s + b.sized, 0)).toBe(2000);
    expect(h.bins.reduce((s, b) => s + b.excluded, 0)).toBe(3);
    expect(h.bins[0]!.from).toBeLessThanOrEqual(12);
    expect(h.bins.at(-1)!.to).toBeGreaterThan(260);
    for (const b of h.bins) expect(b.to - b.from).toBeCloseTo(h.bin_width, 6);
    expect(Math.abs(h.bins[0]!.from / h.bin_width - Math.round(h.bins[0]!.from / h.bin_width))).toBeLessThan(1e-9);
    // Each value lands in the bin that contains it.
    const bin = h.bins.find((b) => b.from <= 260 && 260 < b.to)!;
    expect(bin.excluded).toBe(1);
  });

  it('widens bins when an outlier would need too many', () => {
    const sized = Float64Array.from({ length: 500 }, (_, i) => 80 + (i % 40)).sort();
    const h = buildHistogram(sized, Float64Array.from([5000]), { maxBins: 30 });
    expect(h.bins.length).toBeLessThanOrEqual(30);
    expect(h.bins.reduce((s, b) => s + b.sized + b.excluded, 0)).toBe(501);
  });

  it('falls back for tiny or constant samples and is empty without data', () => {
    expect(buildHistogram(Float64Array.from([50, 50, 50, 50, 50]), new Float64Array(0)).rule).toBe('fallback');
    const tiny = buildHistogram(Float64Array.from([42]), new Float64Array(0));
    expect(tiny.bins).toEqual([{ from: 40, to: 50, sized: 1, excluded: 0 }]);
    expect(buildHistogram(new Float64Array(0), new Float64Array(0)).bins).toEqual([]);
  });
});
