/**
 * `npm run bench:scalebar [images-dir]`: how well the burned-in scale-bar
 * reader does on real micrographs (default ../shared/datasets/visn-train,
 * never part of the project), and what it costs. Prints:
 * - bars found (with a label next to them), labels read, what they read;
 * - for labels read as "200 nm": nm/px within 2% of 200 nm over a reference bar length, measured here
 *   independently and simply: the longest run of pixels darker than 40 in the bottom 80 rows of the
 *   rightmost 400 columns (the rule the trainer's real-data script uses, where these bars sit); every
 *   disagreement is listed so a person can look;
 * - images without a bar, or whose label did not read, by name;
 * - the same on the bundled synthetic samples, rendered at 1.5 nm/px;
 * - time to find a bar, to read a label (one OCR worker for the whole run, as in a Lambda container), and
 *   to start the worker.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { decodeImage, type DecodedImage } from '../lambdas/detect/image-decode.js';
import { findScaleBars, toLevels } from '../lambdas/detect/scale-bar/find-bar.js';
import { stopTesseract, tesseractOcr } from '../lambdas/detect/scale-bar/ocr.js';
import { readScaleBar } from '../lambdas/detect/scale-bar/read-scale-bar.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const realDir = path.resolve(process.argv[2] ?? path.join(root, '..', 'shared', 'datasets', 'visn-train', 'images'));
const samplesDir = path.join(root, 'samples', 'demo-batch');
const TOLERANCE = 0.02;

/** The reference length: longest dark run in the bottom-right corner. */
function referenceBarPx(image: DecodedImage): number {
  const levels = toLevels(image);
  let best = 0;
  for (let y = Math.max(0, image.height - 80); y < image.height; y++) {
    let run = 0;
    for (let x = Math.max(0, image.width - 400); x < image.width; x++) {
      run = levels[y * image.width + x]! < 40 ? run + 1 : 0;
      best = Math.max(best, run);
    }
  }
  return best;
}

const pct = (n: number, d: number) => `${n}/${d} (${d ? ((100 * n) / d).toFixed(1) : '0.0'}%)`;
const images = (dir: string) => readdirSync(dir).filter((f) => /\.(png|jpe?g|tiff?)$/i.test(f)).sort();

interface Stats {
  found: number;
  read: number;
  labels: Map<string, number>;
  unread: string[];
  noBar: string[];
  findMs: number[];
  readMs: number[];
}

async function measure(dir: string, check: (file: string, image: DecodedImage, reading: { nmPerPx: number; labelNm: number; barPx: number }) => string | undefined): Promise<Stats & { ok: number; checked: number; misses: string[] }> {
  const stats = { found: 0, read: 0, labels: new Map<string, number>(), unread: [] as string[], noBar: [] as string[], findMs: [] as number[], readMs: [] as number[], ok: 0, checked: 0, misses: [] as string[] };
  for (const file of images(dir)) {
    const image = await decodeImage(readFileSync(path.join(dir, file)), file);
    let t = performance.now();
    const candidates = findScaleBars(image);
    stats.findMs.push(performance.now() - t);
    if (!candidates.some((c) => c.label)) {
      stats.noBar.push(file);
      continue;
    }
    stats.found++;
    t = performance.now();
    const { reading, problem } = await readScaleBar(image);
    stats.readMs.push(performance.now() - t);
    if (!reading) {
      stats.unread.push(`${file}: ${problem}`);
      continue;
    }
    stats.read++;
    stats.labels.set(reading.labelText, (stats.labels.get(reading.labelText) ?? 0) + 1);
    const miss = check(file, image, reading);
    if (miss === 'skip') continue;
    stats.checked++;
    if (miss === undefined) stats.ok++;
    else stats.misses.push(miss);
  }
  return stats;
}

const median = (v: number[]) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]! : NaN);

function print(name: string, total: number, s: Awaited<ReturnType<typeof measure>>, agreement: string): void {
  console.log(`\n${name}: ${total} images`);
  console.log(`  bar with a label found:   ${pct(s.found, total)}`);
  console.log(`  label read as a length:   ${pct(s.read, total)}  (${[...s.labels].map(([l, n]) => `"${l}" x${n}`).join(', ')})`);
  console.log(`  ${agreement}: ${pct(s.ok, s.checked)}`);
  for (const m of s.misses) console.log(`    differs: ${m}`);
  if (s.noBar.length) console.log(`  no bar found (${s.noBar.length}): ${s.noBar.join(', ')}`);
  for (const u of s.unread) console.log(`  not read: ${u}`);
  console.log(`  time: find ${median(s.findMs).toFixed(1)} ms/image (median), read label ${median(s.readMs).toFixed(0)} ms (median, OCR worker warm), max ${Math.max(...s.readMs).toFixed(0)} ms`);
}

async function main(): Promise<void> {
  // The worker is started once, as in a Lambda container: measure that on its own.
  const t = performance.now();
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="48"><rect width="160" height="48" fill="#fff"/><text x="16" y="34" font-size="24" font-family="DejaVu Sans">200 nm</text></svg>';
  await tesseractOcr.read(await sharp(Buffer.from(svg)).png().toBuffer());
  const startMs = performance.now() - t;

  if (existsSync(realDir)) {
    const total = images(realDir).length;
    const real = await measure(realDir, (file, image, r) => {
      if (r.labelNm !== 200) return 'skip';
      const reference = referenceBarPx(image);
      const expected = 200 / reference;
      const off = r.nmPerPx / expected - 1;
      return Math.abs(off) <= TOLERANCE ? undefined : `${file}: ${r.nmPerPx.toFixed(3)} nm/px from ${r.barPx.toFixed(1)} px; reference ${reference} px gives ${expected.toFixed(3)} (${(off * 100).toFixed(1)}%)`;
    });
    print(realDir, total, real, `"200 nm" labels with nm/px within 2% of 200 nm / reference bar length`);
  } else {
    console.log(`\n${realDir} not found: pass a folder of micrographs with burned-in scale bars`);
  }
  const samples = await measure(samplesDir, (file, _image, r) => {
    const off = r.nmPerPx / 1.5 - 1;
    return Math.abs(off) <= TOLERANCE ? undefined : `${file}: ${r.nmPerPx.toFixed(3)} nm/px (${(off * 100).toFixed(1)}% from 1.5)`;
  });
  print(`${samplesDir} (rendered at 1.5 nm/px)`, images(samplesDir).length, samples, 'nm/px within 2% of 1.5');
  console.log(`\nOCR worker start (once per process / Lambda container): ${startMs.toFixed(0)} ms`);
  await stopTesseract();
}

await main();
