/**
 * A scale that puts most detections outside the sizes TEM of vesicles
 * shows (20-500 nm) is probably wrong: say so next to the result.
 */
import type { Calibration } from './calibration.js';
import type { Detection } from '../shared/contracts.js';

export const PLAUSIBLE_DIAMETER_NM: readonly [number, number] = [20, 500];
/** Fewer sized objects than this say nothing about the scale. */
const MIN_OBJECTS = 5;

export function sizePlausibility(detections: readonly Detection[], calibration: Pick<Calibration, 'nmPerPx' | 'source' | 'detail'>): string[] {
  const sized = detections.filter((d) => !d.on_edge);
  if (sized.length < MIN_OBJECTS) return [];
  const [lo, hi] = PLAUSIBLE_DIAMETER_NM;
  const outside = sized.filter((d) => d.diameter_nm < lo || d.diameter_nm > hi).length;
  if (outside * 2 <= sized.length) return [];
  return [
    `${outside} of ${sized.length} detections measure outside ${lo}-${hi} nm at ${Number(calibration.nmPerPx.toPrecision(4))} nm/px (${calibration.source}: ${calibration.detail}): the scale may be wrong`,
  ];
}
