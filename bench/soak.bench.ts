/**
 * `npm run bench:soak`: a long batch with damaged files of every kind through the whole local
 * workflow (s3rver, the event bridge, the real inference state machine and handlers, the bundled
 * model), twice. A benchmark, not a test: it prints what happened and its last line is one JSON object.
 *
 * Checks, per run: every uploaded file has a result document (images lost must be 0), each damaged
 * file got the code its kind calls for, the batch succeeded (5% damaged is under the tolerated 10%);
 * across runs: every file got the same code both times.
 *
 *   npm run bench:soak [-- --images 2000 --damaged-every 20]
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { runBatchLocally } from '../local/commands/run.js';
import { PNG_SIGNATURE, pngChunk, pngHeaderChunk } from '../tests/detect/fixtures/png-chunks.js';
import { writeTiff } from '../tests/detect/fixtures/tiff-writer.js';
import { freePort } from '../tests/helpers/ports.js';
import { micrograph } from './micrograph.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { images: { type: 'string', default: '2000' }, 'damaged-every': { type: 'string', default: '20' }, keep: { type: 'boolean', default: false } },
});
const IMAGES = Number(args.images);
const DAMAGED_EVERY = Number(args['damaged-every']);
if (!(Number.isInteger(IMAGES) && IMAGES > 0 && Number.isInteger(DAMAGED_EVERY) && DAMAGED_EVERY > 1)) {
  throw new Error(`--images and --damaged-every must be positive integers (damaged-every > 1), got ${args.images} and ${args['damaged-every']}`);
}

/** A whole, valid PNG that claims width x height: decompresses into far more than it holds. */
function pngBomb(width: number, height: number): Buffer {
  return Buffer.concat([
    PNG_SIGNATURE,
    pngHeaderChunk(width, height),
    pngChunk('IDAT', deflateSync(Buffer.alloc(1 << 20))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** A small whole TIFF whose header claims an absurd size (the strip it points at is tiny). */
function absurdTiff(): Buffer {
  const tiff = Buffer.from(writeTiff([{ width: 8, height: 8, pixels: new Uint8Array(64).fill(100) }]));
  const ifd = tiff.readUInt32LE(4);
  const entries = tiff.readUInt16LE(ifd);
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + i * 12;
    const tag = tiff.readUInt16LE(at);
    if (tag === 256 || tag === 257) tiff.writeUInt32LE(60_000, at + 8);
  }
  return tiff;
}

interface Damage {
  readonly kind: string;
  readonly extension: string;
  readonly expected: string;
  make(good: { png: Buffer; jpeg: Buffer; tiff: Buffer }, seed: number): Buffer | Promise<Buffer>;
}

const cut = (bytes: Buffer, seed: number) => bytes.subarray(0, Math.max(16, Math.floor(bytes.length * (0.2 + 0.6 * ((seed * 7919) % 1000) / 1000))));
const DAMAGES: Damage[] = [
  { kind: 'empty', extension: '.png', expected: 'EMPTY_FILE', make: () => Buffer.alloc(0) },
  { kind: 'truncated PNG', extension: '.png', expected: 'TRUNCATED', make: (g, seed) => cut(g.png, seed) },
  { kind: 'truncated JPEG', extension: '.jpg', expected: 'TRUNCATED', make: (g, seed) => cut(g.jpeg, seed) },
  { kind: 'truncated TIFF', extension: '.tif', expected: 'TRUNCATED', make: (g, seed) => cut(g.tiff, seed) },
  {
    kind: 'random bytes',
    extension: '.png',
    expected: 'NOT_AN_IMAGE',
    make: (_g, seed) => Buffer.from(Array.from({ length: 4096 }, (_, i) => (Math.imul(seed + i, 2654435761) >>> 24) & 0xff)),
  },
  { kind: 'decompression bomb', extension: '.png', expected: 'TOO_LARGE', make: () => pngBomb(100_000, 100_000) },
  { kind: 'absurd dimensions', extension: '.tif', expected: 'TOO_LARGE', make: () => absurdTiff() },
  { kind: 'misnamed text', extension: '.tif', expected: 'NOT_AN_IMAGE', make: () => Buffer.from('grid,field,notes\nA3,12,nice stain\n') },
  {
    kind: 'unsupported GIF',
    extension: '.png',
    expected: 'UNSUPPORTED_FORMAT',
    make: () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#777' } }).gif().toBuffer(),
  },
];

interface Generated {
  readonly dir: string;
  /** File name -> expected code ('ok' for good images). */
  readonly expected: Map<string, string>;
  readonly byKind: Record<string, number>;
}

async function generate(dir: string): Promise<Generated> {
  await mkdir(dir, { recursive: true });
  const expected = new Map<string, string>();
  const byKind: Record<string, number> = {};
  const good = async (seed: number) => {
    const pixels = micrograph(512, 512, 255, seed);
    const image = sharp(pixels, { raw: { width: 512, height: 512, channels: 1 } }).toColourspace('b-w');
    return {
      png: await image.clone().png({ compressionLevel: 1 }).toBuffer(),
      jpeg: await image.clone().jpeg({ quality: 90 }).toBuffer(),
      tiff: writeTiff([{ width: 384, height: 384, pixels: micrograph(384, 384, 60_000, seed) }]),
    };
  };
  let damagedIndex = 0;
  for (let i = 0; i < IMAGES; i++) {
    const id = String(i).padStart(5, '0');
    const g = await good(i + 1);
    if (i % DAMAGED_EVERY === DAMAGED_EVERY - 1) {
      const damage = DAMAGES[damagedIndex++ % DAMAGES.length]!;
      const name = `damaged-${id}-${damage.kind.replace(/ /g, '-')}${damage.extension}`;
      await writeFile(path.join(dir, name), await damage.make(g, i));
      expected.set(name, damage.expected);
      byKind[damage.kind] = (byKind[damage.kind] ?? 0) + 1;
      continue;
    }
    // Mostly PNG, as facilities export; some JPEG, some 16-bit TIFF, and JPEGs saved under a .png name.
    const variant = i % 10;
    const [name, bytes] =
      variant === 3 ? [`img-${id}.jpg`, g.jpeg] : variant === 6 ? [`img-${id}.tif`, g.tiff] : variant === 8 ? [`img-${id}-really-a-jpeg.png`, g.jpeg] : [`img-${id}.png`, g.png];
    await writeFile(path.join(dir, name), bytes);
    expected.set(name, 'ok');
  }
  return { dir, expected, byKind };
}

interface RunFigures {
  readonly seconds: number;
  readonly status: string;
  readonly codes: Map<string, string>;
  readonly resultsWritten: number;
}

async function readCodes(outDir: string): Promise<Map<string, string>> {
  const codes = new Map<string, string>();
  const dir = path.join(outDir, 'images');
  for (const name of await readdir(dir)) {
    const record = JSON.parse(await readFile(path.join(dir, name), 'utf8')) as { status: string; error?: { code: string } };
    codes.set(name.replace(/\.json$/, ''), record.status === 'ok' ? 'ok' : record.error!.code);
  }
  return codes;
}

async function soakRun(images: string, work: string, run: number): Promise<RunFigures> {
  const started = performance.now();
  const result = await runBatchLocally({
    imagesDir: images,
    batchId: `soak-${run}`,
    model: path.join(ROOT, 'models', 'default'),
    nmPerPx: 2,
    dataDir: path.join(work, 's3'),
    outDir: path.join(work, `results-${run}`),
    // One process serves one S3 endpoint (handlers read it once): both runs share a port.
    port: soakPort,
  });
  const seconds = (performance.now() - started) / 1000;
  const codes = await readCodes(result.outDir);
  return { seconds, status: result.outcome.status, codes, resultsWritten: codes.size };
}

let soakPort = 0;

function countCodes(codes: Map<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const code of codes.values()) out[code] = (out[code] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'exodetect-soak-'));
  soakPort = await freePort();
  try {
    process.stderr.write(`Generating ${IMAGES} micrographs (every ${DAMAGED_EVERY}th damaged) in ${work}\n`);
    const generated = await generate(path.join(work, 'images'));
    const runs: RunFigures[] = [];
    for (const run of [1, 2]) {
      process.stderr.write(`Run ${run} of 2 through the local workflow\n`);
      runs.push(await soakRun(generated.dir, work, run));
    }
    const expected = generated.expected;
    const report = runs.map((r, i) => {
      const lost = [...expected.keys()].filter((name) => !r.codes.has(name));
      const wrong = [...expected].filter(([name, code]) => r.codes.has(name) && r.codes.get(name) !== code).map(([name, code]) => `${name}: expected ${code}, got ${r.codes.get(name)}`);
      const errorCodes = countCodes(new Map([...r.codes].filter(([, c]) => c !== 'ok')));
      const line = `run ${i + 1}: ${r.status}, ${r.resultsWritten} results for ${expected.size} files, lost ${lost.length}, unexpected codes ${wrong.length}, ${(expected.size / r.seconds).toFixed(1)} images/s (${r.seconds.toFixed(0)} s, upload included)`;
      process.stderr.write(`${line}\n  error records by code: ${JSON.stringify(errorCodes)}\n${wrong.slice(0, 10).map((w) => `  ${w}\n`).join('')}`);
      return { status: r.status, results_written: r.resultsWritten, images_lost: lost.length, unexpected_codes: wrong.length, error_records_by_code: errorCodes, images_per_second: Math.round((expected.size / r.seconds) * 10) / 10, seconds: Math.round(r.seconds) };
    });
    const differing = [...runs[0]!.codes].filter(([name, code]) => runs[1]!.codes.get(name) !== code).length;
    const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    process.stderr.write(`codes identical over both runs: ${differing === 0} (${differing} files differ); peak RSS ${peakRssMb} MB (the whole local workflow, s3rver included, in this process)\n`);
    process.stdout.write(
      `${JSON.stringify({ images: expected.size, damaged_by_kind: generated.byKind, runs: report, codes_identical_over_runs: differing === 0, files_with_differing_codes: differing, peak_rss_mb: peakRssMb })}\n`,
    );
    if (report.some((r) => r.images_lost > 0 || r.unexpected_codes > 0 || r.status !== 'SUCCEEDED') || differing > 0) process.exitCode = 1;
  } finally {
    if (!args.keep) await rm(work, { recursive: true, force: true });
  }
}

await main();
