import { describe, expect, it } from 'vitest';
import { diameterLine } from '../../local/commands/run-summary.js';

const stats = { count: 153, d50: { value: 57.1, ci: [51.3, 61.8] }, d10: { value: 32.5 }, d90: { value: 90.2 }, mean: { value: 59.9 } };
const population = 'detections inside the size gate and not touching the image border, in images with a calibrated scale';

function summary(detections: { total: number; on_edge: number; out_of_size_range: number }, assumedCount = 0) {
  return {
    diameter_nm: { population, ...stats },
    diameter_nm_assumed_scale: assumedCount ? { population, count: assumedCount } : null,
    detections,
  } as unknown as Parameters<typeof diameterLine>[0];
}

describe('the diameter line of exodetect run and npm start', () => {
  it('says how many detections the statistics hold and why the others are left out', () => {
    expect(diameterLine(summary({ total: 170, on_edge: 17, out_of_size_range: 0 }))).toBe(
      'Diameter (n=153 of 170; left out: 17 touching the image border): median 57.1 nm (95% CI 51.3-61.8), D10 32.5, D90 90.2, mean 59.9 nm.',
    );
    expect(diameterLine(summary({ total: 200, on_edge: 10, out_of_size_range: 5 }, 32))).toMatch(
      /^Diameter \(n=153 of 200; left out: 10 touching the image border, 5 outside the size gate, 32 at an assumed scale\): /,
    );
  });

  it('gives n alone when every detection is in the statistics', () => {
    expect(diameterLine(summary({ total: 153, on_edge: 0, out_of_size_range: 0 }))).toMatch(/^Diameter \(n=153\): median 57\.1 nm/);
  });
});
