/**
 * A vesicle's outline (a closed polygon, flat [x0, y0, x1, y1, ...] in image
 * pixels, the last vertex joined to the first) and what is measured on it:
 * area, the area-equivalent diameter (the diameter of the circle with the
 * outline's area: the headline size), the minimum and maximum Feret diameters
 * (the narrowest and widest caliper width) and roundness. Also the polygon of
 * the ellipse inscribed in a box, the size a box alone gives.
 */
import type { Box } from '../shared/contracts.js';

/** Flat [x0, y0, x1, y1, ...], closed (the last vertex joins the first). */
export type Polygon = readonly number[];

export interface OutlineMeasures {
  readonly areaPx: number;
  /** sqrt(4 area / pi), px. */
  readonly diameterPx: number;
  readonly feretMinPx: number;
  readonly feretMaxPx: number;
  /** 4 area / (pi feretMax^2): 1 for a circle, lower for elongated or dented outlines. */
  readonly roundness: number;
}

export const vertexCount = (polygon: Polygon): number => polygon.length >> 1;

/** Shoelace area (positive whatever the winding). */
export function polygonArea(polygon: Polygon): number {
  const n = vertexCount(polygon);
  let twice = 0;
  for (let i = 0, j = n - 1; i < n; j = i++) twice += polygon[2 * j]! * polygon[2 * i + 1]! - polygon[2 * i]! * polygon[2 * j + 1]!;
  return Math.abs(twice) / 2;
}

export const areaEquivalentDiameter = (area: number): number => Math.sqrt((4 * area) / Math.PI);

/** Convex hull (Andrew's monotone chain), counter-clockwise in a y-up frame, as [x, y] pairs. */
export function convexHull(polygon: Polygon): [number, number][] {
  const points: [number, number][] = [];
  for (let i = 0; i + 1 < polygon.length; i += 2) points.push([polygon[i]!, polygon[i + 1]!]);
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (points.length < 3) return points;
  const cross = (o: [number, number], a: [number, number], b: [number, number]): number => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [];
  for (const p of points) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: [number, number][] = [];
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/**
 * Minimum and maximum Feret (caliper) diameters. The maximum is the longest distance between hull
 * vertices; the minimum is the smallest hull width, which is always attained with one caliper flush
 * against a hull edge.
 */
export function feretDiameters(polygon: Polygon): { min: number; max: number } {
  const hull = convexHull(polygon);
  if (hull.length < 2) return { min: 0, max: 0 };
  let max = 0;
  for (let i = 0; i < hull.length; i++) {
    for (let j = i + 1; j < hull.length; j++) max = Math.max(max, Math.hypot(hull[i]![0] - hull[j]![0], hull[i]![1] - hull[j]![1]));
  }
  if (hull.length < 3) return { min: 0, max };
  let min = Infinity;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    const length = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (length === 0) continue;
    let width = 0;
    for (const p of hull) width = Math.max(width, Math.abs((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) / length);
    min = Math.min(min, width);
  }
  return { min: Number.isFinite(min) ? min : 0, max };
}

export function measureOutline(polygon: Polygon): OutlineMeasures {
  const areaPx = polygonArea(polygon);
  const feret = feretDiameters(polygon);
  return {
    areaPx,
    diameterPx: areaEquivalentDiameter(areaPx),
    feretMinPx: feret.min,
    feretMaxPx: feret.max,
    roundness: feret.max > 0 ? Math.min(1, (4 * areaPx) / (Math.PI * feret.max * feret.max)) : 0,
  };
}

/** The ellipse inscribed in a box, as a polygon of `vertices` points (its area is pi w h / 4 to within 0.3% at 32). */
export function inscribedEllipse(box: Box, vertices = 32): number[] {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const rx = (box[2] - box[0]) / 2;
  const ry = (box[3] - box[1]) / 2;
  const out: number[] = [];
  for (let k = 0; k < vertices; k++) {
    const angle = (2 * Math.PI * k) / vertices;
    out.push(cx + rx * Math.cos(angle), cy + ry * Math.sin(angle));
  }
  return out;
}

/** Vertices rounded to `digits` decimals (results carry outlines on a 1/10 px grid). */
export function roundPolygon(polygon: Polygon, digits = 1): number[] {
  const f = 10 ** digits;
  return polygon.map((v) => {
    const r = Math.round(v * f) / f;
    return Object.is(r, -0) ? 0 : r;
  });
}

/** What the ellipse inscribed in a box measures (a box without an outline). */
export function boxEllipseMeasures(box: Box): OutlineMeasures {
  const w = Math.max(0, box[2] - box[0]);
  const h = Math.max(0, box[3] - box[1]);
  const max = Math.max(w, h);
  return { areaPx: (Math.PI * w * h) / 4, diameterPx: Math.sqrt(w * h), feretMinPx: Math.min(w, h), feretMaxPx: max, roundness: max > 0 ? Math.min(w, h) / max : 0 };
}
