/** Benchmark inputs, generated: nothing is downloaded. */

/** Deterministic synthetic micrograph: bright background with noise and dark vesicle-like disks. */
export function micrograph(width: number, height: number, max: number, seed: number): Uint8Array | Uint16Array {
  const out = max > 255 ? new Uint16Array(width * height) : new Uint8Array(width * height);
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(max * (0.6 + 0.1 * rand()));
  const disks = Math.round((width * height) / 20000);
  for (let d = 0; d < disks; d++) {
    const cx = rand() * width;
    const cy = rand() * height;
    const r = 10 + rand() * 40;
    for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(height, Math.ceil(cy + r)); y++) {
      for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(width, Math.ceil(cx + r)); x++) {
        const d2 = (x - cx) ** 2 + (y - cy) ** 2;
        if (d2 < r * r) out[y * width + x] = Math.round(max * (d2 > 0.7 * r * r ? 0.25 : 0.45));
      }
    }
  }
  return out;
}
