/**
 * `npm run bench`: speed and memory of the inference path (a benchmark, not a test).
 *
 * For one model in one run:
 *   - median per-image time of the bare `session.run` calls the pipeline makes (all tiles; for a
 *     tiled image also with tiles of exactly the model's tile size, the plan before tile edges could
 *     grow, side by side), and
 *     of the whole path (S3 get from a local s3rver in its own process, decode, preprocess, run,
 *     postprocess, overlay, S3 put) for a 512x512 8-bit PNG, a 2048x2048 8-bit PNG (tiled) and a
 *     1024x1024 16-bit TIFF; the whole path both per image of a batch run the way the handler
 *     runs it (2 images in flight, taking turns at the model) and for one image alone (latency);
 *     the ratios whole / bare;
 *   - the same batch with S3 replaced by an in-memory map (what the pipeline itself adds);
 *   - onnxruntime and PyTorch eager (the trainer's model code, /usr/bin/python3) on one thread, PyTorch
 *     in its best case (malloc thresholds pinned, fastest of three processes);
 *   - peak RSS of a child process that processes a 4096x4096 16-bit TIFF.
 * The last line is one JSON object with every figure.
 *
 * Model: models/default/model.onnx when it exists; else engineer A's architecture with random
 * weights exported by bench/torch_peer.py (same compute as a trained one); else a test-builder
 * conv model. Which one is printed.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import type { ImageResult } from '../lambdas/shared/contracts.js';
import { runDetectBatch } from '../lambdas/inference/detect-batch.js';
import { detectTiled, type TileRunner } from '../lambdas/detect/detector.js';
import { decodeImage, type GreyImage } from '../lambdas/detect/image-decode.js';
import { imageResultKey } from '../lambdas/shared/keys.js';
import { measureOutline } from '../lambdas/detect/outline.js';
import { fitOutline } from '../lambdas/detect/outline-fit.js';
import { loadModel, type LoadedModel } from '../lambdas/detect/model.js';
import { fillTensor } from '../lambdas/detect/preprocess.js';
import { createS3Client } from '../lambdas/shared/s3-client.js';
import * as ort from 'onnxruntime-node';
import { buildConstantDetectorModel } from '../tests/helpers/onnx-builder.js';
import { writeTiff } from '../tests/detect/fixtures/tiff-writer.js';
import { micrograph } from './micrograph.js';
import { exodetectMetadata } from '../tests/helpers/model-metadata.js';

// The SDK warns on Node 20 that support ends in 2027; exodetect supports Node >= 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = '/usr/bin/python3';
const BUCKET = 'exodetect-data';
const BATCH = 'bench';
const work = mkdtempSync(path.join(os.tmpdir(), 'exodetect-bench-'));

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const r1 = (v: number) => Math.round(v * 10) / 10;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

function pythonHasTorch(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} cannot import torch`;
  if (!existsSync(path.join(ROOT, 'training-container/exodetect_train/model.py'))) return 'training-container/exodetect_train is missing';
  return undefined;
}

interface ModelChoice {
  readonly onnxPath: string;
  readonly ptPath?: string;
  readonly description: string;
}

function chooseModel(torchProblem: string | undefined): ModelChoice {
  const bundled = path.join(ROOT, 'models/default/model.onnx');
  if (existsSync(bundled)) {
    const pt = path.join(ROOT, 'models/default/model.pt');
    return { onnxPath: bundled, ptPath: existsSync(pt) ? pt : undefined, description: 'models/default/model.onnx (the bundled default model)' };
  }
  if (!torchProblem) {
    const dir = path.join(work, 'model');
    execFileSync(PYTHON, [path.join(ROOT, 'bench/torch_peer.py'), 'make-model', dir], { stdio: ['ignore', 'ignore', 'ignore'] });
    return {
      onnxPath: path.join(dir, 'model.onnx'),
      ptPath: path.join(dir, 'model.pt'),
      description: "engineer A's ExoNet (width 24) with random weights, exported by the trainer's code (models/default/model.onnx not present yet)",
    };
  }
  const onnxPath = path.join(work, 'builder.onnx');
  writeFileSync(
    onnxPath,
    buildConstantDetectorModel({
      layout: 'exodetect',
      rows: [[10, 10, 50, 50, 0.9, 0]],
      convLayers: 4,
      convWidth: 16,
      metadata: exodetectMetadata({ nmPerPx: 2, tileSize: 512 }),
    }),
  );
  return { onnxPath, description: 'a test-builder model (4 conv layers of width 16), no trained model and no torch available' };
}

/**
 * Just enough of an S3 client for runDetectBatch, over a Map: separates the pipeline's own cost
 * from the local S3 server's (which shares this host's cores, unlike S3 and a Lambda).
 */
function inMemoryS3(objects: Map<string, Uint8Array>): S3Client {
  return {
    send: async (command: GetObjectCommand | PutObjectCommand) => {
      const key = command.input.Key!;
      if (command instanceof GetObjectCommand) {
        const bytes = objects.get(key);
        if (!bytes) throw Object.assign(new Error(`NoSuchKey ${key}`), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
        return { ContentLength: bytes.length, Body: { transformToByteArray: async () => bytes } };
      }
      objects.set(key, command.input.Body as Uint8Array);
      return {};
    },
  } as unknown as S3Client;
}

/**
 * The outlines' share of the whole path: the detections of one result, outlined again the way the pipeline does
 * (fitted in the decoded image for a box-only model, measured in both cases), CPU time per image and per vesicle.
 */
async function outlineCost(s3: S3Client, imageKey: string, decoded: GreyImage): Promise<CaseFigures['outlines']> {
  const response = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: imageResultKey(BATCH, imageKey) }));
  const result = JSON.parse(await response.Body!.transformToString()) as ImageResult;
  const boxes = result.detections.map((d) => d.box_px);
  const fitted = result.sizing.outline_source === 'image-fit';
  const rounds = 5;
  const { user: u0, system: s0 } = process.cpuUsage();
  for (let r = 0; r < rounds; r++) {
    for (const [i, box] of boxes.entries()) {
      const polygon = fitted ? fitOutline(decoded, box)?.polygon : result.detections[i]!.outline_px;
      measureOutline(polygon ?? [box[0], box[1], box[2], box[1], box[2], box[3], box[0], box[3]]);
    }
  }
  const { user: u1, system: s1 } = process.cpuUsage();
  const perImage = (u1 - u0 + s1 - s0) / 1000 / rounds;
  return { source: result.sizing.outline_source, vesicles: boxes.length, cpu_ms_per_image: r1(perImage), cpu_ms_per_vesicle: r3(perImage / Math.max(1, boxes.length)) };
}

interface CaseFigures {
  readonly name: string;
  /**
   * How the vesicles were outlined (the model's outline output, or fitted in the image for box-only models),
   * how many, and the CPU time of the outlines alone (fitting or mapping, and measuring), per image and per vesicle.
   */
  readonly outlines: { readonly source: string; readonly vesicles: number; readonly cpu_ms_per_image: number; readonly cpu_ms_per_vesicle: number };
  readonly width: number;
  readonly height: number;
  readonly tiles: number;
  /**
   * The same image cut into tiles of exactly the model's tile (the plan before tile edges could
   * grow to cover an image with fewer pixels): its tiles and bare session.run time, and that time
   * over bare_ms.
   */
  readonly model_tile_plan: { tiles: number; bare_ms: number; speedup: number } | null;
  readonly bare_ms: number;
  readonly whole_ms: number;
  /** Per image, in a batch processed as the handler does (concurrency 2). */
  readonly ratio: number;
  /** One image per invocation: its latency. */
  readonly single_image_ms: number;
  readonly single_image_ratio: number;
  readonly batch_size: number;
  readonly runs: number;
  /** Best of the runs: on a shared host the least disturbed figures, whole/bare from those. */
  /** The same batch with S3 replaced by an in-memory map: the pipeline's own overhead, without s3rver's CPU. */
  readonly whole_memory_s3_ms: number;
  readonly ratio_memory_s3: number;
  readonly bare_min_ms: number;
  readonly whole_min_ms: number;
  readonly ratio_of_mins: number;
  /**
   * CPU time (all threads) per image: of the bare runs, of this process and of the S3 server
   * during the batch, and of this process with S3 in memory.
   */
  readonly cpu_ms_per_image: { bare: number; batch_process: number; batch_s3_server: number; memory_s3_process: number };
  /**
   * The least whole/bare this host allows when the work is CPU-bound: CPU per image over
   * (cores x bare wall time). Above the target, the target cannot be met here by overlap alone.
   */
  readonly cpu_floor_ratio: number;
  readonly cpu_floor_ratio_memory_s3: number;
}

async function main(): Promise<void> {
  const torchProblem = pythonHasTorch();
  const choice = chooseModel(torchProblem);
  console.log(`model: ${choice.description}`);
  const modelBytes = readFileSync(choice.onnxPath);
  const threads = os.availableParallelism();
  const cores = threads;
  const model = await loadModel(modelBytes, { key: 'models/default/model.onnx', intraOpThreads: threads });
  const nmPerPx = model.nmPerPx ?? 1;
  console.log(`  layout ${model.layout}, tile ${model.tileSize}, ${model.nmPerPx ?? '?'} nm/px, intra-op threads ${threads}, sha256 ${model.sha256.slice(0, 12)}`);
  console.log(`  host: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);

  // Images, written to a local S3 server.
  const png512 = await sharp(micrograph(512, 512, 255, 1), { raw: { width: 512, height: 512, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const png2048 = await sharp(micrograph(2048, 2048, 255, 2), { raw: { width: 2048, height: 2048, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const tiff16 = writeTiff([{ width: 1024, height: 1024, pixels: micrograph(1024, 1024, 60000, 3) }]);
  const tiffLarge = path.join(work, 'large-4096.tif');
  writeFileSync(tiffLarge, writeTiff([{ width: 4096, height: 4096, pixels: micrograph(4096, 4096, 60000, 4) }]));

  const s3Child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/s3-child.ts'), path.join(work, 's3'), BUCKET], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    s3Child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { endpoint: string }).endpoint);
    });
    s3Child.on('exit', (code) => reject(new Error(`s3rver child exited with ${code}`)));
  });
  const s3 = createS3Client({ EXODETECT_S3_ENDPOINT: endpoint });
  // The S3 server's CPU time so far, asked over its stdin (answers arrive in order).
  const cpuAnswers: ((ms: number) => void)[] = [];
  let childLines = '';
  s3Child.stdout.on('data', (chunk: Buffer) => {
    childLines += chunk.toString();
    let newline;
    while ((newline = childLines.indexOf('\n')) >= 0) {
      const line = childLines.slice(0, newline);
      childLines = childLines.slice(newline + 1);
      if (line.startsWith('{"cpu_ms"')) cpuAnswers.shift()?.((JSON.parse(line) as { cpu_ms: number }).cpu_ms);
    }
  });
  const s3ServerCpuMs = () =>
    new Promise<number>((resolve) => {
      cpuAnswers.push(resolve);
      s3Child.stdin.write('cpu\n');
    });
  const ownCpuMs = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const cases = [
    { name: '512x512 8-bit PNG', file: 'a512.png', bytes: png512, runs: 20, batch: 8 },
    { name: '2048x2048 8-bit PNG (tiled)', file: 'b2048.png', bytes: png2048, runs: 5, batch: 4 },
    { name: '1024x1024 16-bit TIFF', file: 'c1024.tif', bytes: tiff16, runs: 6, batch: 6 },
  ];
  const keyOf = (file: string, copy: number) => `batches/${BATCH}/images/${copy}-${file}`;
  for (const c of cases) {
    for (let copy = 0; copy < c.batch; copy++) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyOf(c.file, copy), Body: c.bytes }));
    }
  }

  const figures: CaseFigures[] = [];
  const models = { get: async () => model };
  const batchInput = { bucket: BUCKET, batchId: BATCH, modelKey: 'models/default/model.onnx', params: { nm_per_px: nmPerPx } };
  for (const c of cases) {
    const decoded = await decodeImage(c.bytes, c.file);
    // Bare: exactly the session.run calls the pipeline makes for this image (same tiles, same tensors).
    let bareRun = 0;
    const timedRunner: TileRunner = async (tensor, dims) => {
      const input = new ort.Tensor('float32', tensor, dims as unknown as number[]);
      const t0 = performance.now();
      await model.session.run({ [model.inputName]: input }, [model.outputName]);
      bareRun += performance.now() - t0;
      return { boxes: [], saturated: false };
    };
    const single = { Items: [{ Key: keyOf(c.file, 0), Size: c.bytes.length }], BatchInput: batchInput };
    const batch = { Items: Array.from({ length: c.batch }, (_, i) => ({ Key: keyOf(c.file, i), Size: c.bytes.length })), BatchInput: batchInput };
    const bare: number[] = [];
    const bareModelTiles: number[] = [];
    let modelTileCount = 0;
    const latency: number[] = [];
    const perImage: number[] = [];
    const perImageMemory: number[] = [];
    const memoryS3 = inMemoryS3(new Map(batch.Items.map((item) => [item.Key, c.bytes])));
    let tiles = 0;
    const cpu = { bare: 0, batchOwn: 0, batchS3Server: 0, memoryOwn: 0 };
    for (let i = 0; i < c.runs + 1; i++) {
      bareRun = 0;
      const c0 = ownCpuMs();
      tiles = (await detectTiled(decoded, model, timedRunner, { overlap: Math.round(model.tileSize / 4) })).tiles;
      const c1 = ownCpuMs();
      const planned = bareRun;
      if (tiles > 1) {
        // A comparison, outside the CPU accounting: tiles of exactly the model's tile size.
        bareRun = 0;
        modelTileCount = (await detectTiled(decoded, model, timedRunner, { overlap: Math.round(model.tileSize / 4), singleRunSlack: 1 })).tiles;
      }
      const bareModelTile = bareRun;
      const t0 = performance.now();
      const one = await runDetectBatch(single, { s3, models, concurrency: 1 });
      const t1 = performance.now();
      const [c2, s2] = [ownCpuMs(), await s3ServerCpuMs()];
      const t1b = performance.now();
      const many = await runDetectBatch(batch, { s3, models, concurrency: 2 });
      const t2 = performance.now();
      const [c3, s3t] = [ownCpuMs(), await s3ServerCpuMs()];
      const t2m = performance.now();
      const inMemory = await runDetectBatch(batch, { s3: memoryS3, models, concurrency: 2 });
      const t3 = performance.now();
      const c4 = ownCpuMs();
      for (const item of [...one.items, ...many.items, ...inMemory.items]) if (item.status !== 'ok') throw new Error(`bench image failed: ${item.error}`);
      if (i === 0) continue; // warm-up
      cpu.bare += c1 - c0;
      bareModelTiles.push(bareModelTile);
      cpu.batchOwn += c3 - c2;
      cpu.batchS3Server += s3t - s2;
      cpu.memoryOwn += c4 - c3;
      perImageMemory.push((t3 - t2m) / c.batch);
      bare.push(planned);
      latency.push(t1 - t0);
      perImage.push((t2 - t1b) / c.batch);
    }
    const outlines = await outlineCost(s3, keyOf(c.file, 0), decoded);
    const images = c.runs * c.batch;
    const cpuPerImage = {
      bare: r1(cpu.bare / c.runs),
      batch_process: r1(cpu.batchOwn / images),
      batch_s3_server: r1(cpu.batchS3Server / images),
      memory_s3_process: r1(cpu.memoryOwn / images),
    };
    const f: CaseFigures = {
      name: c.name,
      outlines,
      width: decoded.width,
      height: decoded.height,
      tiles,
      model_tile_plan:
        tiles > 1
          ? { tiles: modelTileCount, bare_ms: r1(median(bareModelTiles)), speedup: r3(median(bareModelTiles.map((v, i) => v / bare[i]!))) }
          : null,
      bare_ms: r1(median(bare)),
      whole_ms: r1(median(perImage)),
      // Paired per repetition (bare and whole run back to back), so a noisy neighbour moves both.
      ratio: r3(median(perImage.map((v, i) => v / bare[i]!))),
      single_image_ms: r1(median(latency)),
      single_image_ratio: r3(median(latency.map((v, i) => v / bare[i]!))),
      batch_size: c.batch,
      runs: c.runs,
      whole_memory_s3_ms: r1(median(perImageMemory)),
      ratio_memory_s3: r3(median(perImageMemory.map((v, i) => v / bare[i]!))),
      bare_min_ms: r1(Math.min(...bare)),
      whole_min_ms: r1(Math.min(...perImage)),
      ratio_of_mins: r3(Math.min(...perImage) / Math.min(...bare)),
      cpu_ms_per_image: cpuPerImage,
      cpu_floor_ratio: r3((cpuPerImage.batch_process + cpuPerImage.batch_s3_server) / (cores * median(bare))),
      cpu_floor_ratio_memory_s3: r3(cpuPerImage.memory_s3_process / (cores * median(bare))),
    };
    figures.push(f);
    console.log(
      `${f.name}: ${f.tiles} tile(s); bare session.run ${f.bare_ms} ms` +
        (f.model_tile_plan
          ? ` (${f.model_tile_plan.tiles} tiles of the model's own size: ${f.model_tile_plan.bare_ms} ms, ${f.model_tile_plan.speedup}x as long)`
          : '') +
        `; whole path per image in a batch of ${f.batch_size} ` +
        `(handler concurrency 2) ${f.whole_ms} ms, whole/bare ${f.ratio}; one image alone ${f.single_image_ms} ms, ` +
        `whole/bare ${f.single_image_ratio} (medians of ${f.runs}); best runs: bare ${f.bare_min_ms} ms, whole ${f.whole_min_ms} ms, ` +
        `ratio ${f.ratio_of_mins}; with S3 in memory instead of s3rver: ${f.whole_memory_s3_ms} ms per image, whole/bare ${f.ratio_memory_s3}; ` +
        `CPU ms per image: bare ${f.cpu_ms_per_image.bare}, batch ${f.cpu_ms_per_image.batch_process} + s3rver ${f.cpu_ms_per_image.batch_s3_server}, ` +
        `in-memory batch ${f.cpu_ms_per_image.memory_s3_process}; CPU-bound floor of whole/bare on ${cores} cores ${f.cpu_floor_ratio} (in memory ${f.cpu_floor_ratio_memory_s3}); ` +
        `outlines (${f.outlines.source}) for ${f.outlines.vesicles} vesicles: ${f.outlines.cpu_ms_per_image} ms CPU per image, ${f.outlines.cpu_ms_per_vesicle} ms per vesicle (in the whole path)`,
    );
  }
  s3.destroy();
  s3Child.stdin.end();

  // One thread each: onnxruntime vs PyTorch eager, same model, same 512x512 tensor.
  let peer: Record<string, unknown> = { skipped: true };
  const decoded512 = await decodeImage(png512, 'a512.png');
  const tensor = new Float32Array(512 * 512);
  fillTensor(decoded512, { x: 0, y: 0, width: 512, height: 512 }, tensor, 512, 512, 1);
  const single = await loadModel(modelBytes, { key: 'single-thread', intraOpThreads: 1 });
  const ortTimes: number[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = performance.now();
    await single.session.run({ [single.inputName]: new ort.Tensor('float32', tensor, [1, 1, 512, 512]) });
    if (i > 0) ortTimes.push(performance.now() - t0);
  }
  const ortSingle = r1(median(ortTimes));
  const k = (await single.session.run({ [single.inputName]: new ort.Tensor('float32', tensor, [1, 1, 512, 512]) }))[single.outputName]!.dims[1];
  const peerProblem = torchProblem ?? (choice.ptPath ? undefined : 'no model.pt beside the ONNX model (the builder model has no PyTorch twin)');
  if (peerProblem) {
    console.log(`PyTorch eager peer skipped: ${peerProblem}`);
    peer = { skipped: true, reason: peerProblem, ort_1thread_ms: ortSingle };
  } else {
    const tensorPath = path.join(work, 'tensor512.f32');
    writeFileSync(tensorPath, Buffer.from(tensor.buffer));
    // glibc's malloc hands PyTorch's large activation buffers back to the kernel after every run in
    // some processes: each run then page-faults its buffers in again and takes 2-3x as long, at
    // random from one process to the next. The peer gets its best case: buffers up to 32 MiB (the
    // most glibc accepts) from the heap, the heap never trimmed, and the fastest of three processes.
    const torchEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024), MALLOC_TRIM_THRESHOLD_: String(4 * 1024 ** 3) };
    const torchRuns = Array.from({ length: 3 }, () => {
      const out = execFileSync(
        PYTHON,
        [path.join(ROOT, 'bench/torch_peer.py'), 'run', choice.ptPath!, tensorPath, '--shape', '1,1,512,512', '--k', String(k), '--threads', '1', '--runs', '10'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: torchEnv },
      );
      return JSON.parse(out.trim().split('\n').at(-1)!) as { median_ms: number; torch: string };
    });
    const torchMs = Math.min(...torchRuns.map((t) => t.median_ms));
    const torchVersion = torchRuns[0]!.torch;
    peer = {
      skipped: false,
      torch_version: torchVersion,
      torch_1thread_ms: r1(torchMs),
      torch_1thread_ms_per_process: torchRuns.map((t) => r1(t.median_ms)),
      ort_1thread_ms: ortSingle,
      speedup: r3(torchMs / ortSingle),
    };
    console.log(
      `512x512, one thread: PyTorch ${torchVersion} eager ${r1(torchMs)} ms (fastest of ${torchRuns.map((t) => r1(t.median_ms)).join(', ')} ms in 3 processes), ` +
        `onnxruntime ${ortSingle} ms: ${r3(torchMs / ortSingle)}x`,
    );
  }

  // Peak RSS, in a child process of its own.
  const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/rss-child.ts'), choice.onnxPath, tiffLarge, String(nmPerPx)], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  if (child.status !== 0) throw new Error(`RSS child failed: ${child.stderr}`);
  const rss = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { peak_rss_mb: number; rss_before_image_mb: number; ms: number };
  console.log(`4096x4096 16-bit TIFF: peak RSS ${rss.peak_rss_mb} MB (${rss.rss_before_image_mb} MB before the image), ${rss.ms} ms`);

  rmSync(work, { recursive: true, force: true });
  const summary = {
    host: { cpus: os.cpus().length, load_average_1m_at_end: r1(os.loadavg()[0]!) },
    bench: 'exodetect-inference',
    model: choice.description,
    model_sha256: model.sha256,
    intra_op_threads: threads,
    cases: figures,
    targets: { ratio_512: 1.15, ratio_tiled: 1.25, torch_speedup: 2, peak_rss_mb: 1024 },
    pytorch_peer: peer,
    peak_rss_4096_tiff: rss,
  };
  console.log(`load average at the end: ${os.loadavg().map((v) => v.toFixed(2)).join(' ')} (figures on a shared host move with it)`);
  console.log(JSON.stringify(summary));
}

main().catch((err: unknown) => {
  rmSync(work, { recursive: true, force: true });
  console.error(err);
  process.exitCode = 1;
});
