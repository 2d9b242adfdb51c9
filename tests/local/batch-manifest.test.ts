import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchManifest, parseSizeGate } from '../../local/commands/batch-manifest.js';
import { findImages } from '../../local/workflow.js';
import { writeDm } from '../detect/fixtures/dm-writer.js';
import { writeMrc } from '../detect/fixtures/mrc-writer.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-manifest-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('batch manifest of a local batch', () => {
  it('reads batch.json in the images folder, and flags override it field by field', async () => {
    const folder = path.join(dir, 'with-manifest');
    await mkdir(folder);
    await writeFile(path.join(folder, 'batch.json'), JSON.stringify({ nm_per_px: 1.2, sample: 'plasma EVs', size_gate_nm: [20, 200], score_threshold: 0.3 }));
    expect((await batchManifest(folder, {})).manifest).toEqual({ nm_per_px: 1.2, sample: 'plasma EVs', size_gate_nm: [20, 200], score_threshold: 0.3 });
    const overridden = await batchManifest(folder, { sizeGate: parseSizeGate('30,150'), scoreThreshold: 0.5, notes: 'grid 3' });
    expect(overridden.manifest).toEqual({ nm_per_px: 1.2, sample: 'plasma EVs', size_gate_nm: [30, 150], score_threshold: 0.5, notes: 'grid 3' });
    expect(overridden.file).toBe(path.join(folder, 'batch.json'));
    expect((await batchManifest(path.join(dir), { nmPerPx: 2 })).manifest).toEqual({ nm_per_px: 2 });
  });

  it('names the file and the field of a bad manifest, and the problem of a bad flag', async () => {
    const folder = path.join(dir, 'bad-manifest');
    await mkdir(folder);
    await writeFile(path.join(folder, 'batch.json'), JSON.stringify({ nm_per_px: -1, colour: 'blue' }));
    await expect(batchManifest(folder, {})).rejects.toThrow(/bad-manifest\/batch\.json is not a valid batch manifest \(.*nm_per_px/);
    await writeFile(path.join(folder, 'batch.json'), '{ nm_per_px: 1 ');
    await expect(batchManifest(folder, {})).rejects.toThrow(/batch\.json: not valid JSON at line 1, column 3: an unexpected character/);
    expect(() => parseSizeGate('150,30')).toThrow(/min < max/);
    expect(() => parseSizeGate('30')).toThrow(/"min,max"/);
  });
});

describe('exodetect run on DM4, MRC and a PNG without calibration (the installed command)', () => {
  it('picks up .dm4 and .mrc, takes their scale from the file, applies batch.json and flags, and warns about the assumed scale', async () => {
    const folder = path.join(dir, 'micrographs');
    await mkdir(folder);
    const ramp = (n: number) => Array.from({ length: n }, (_, i) => (i * 37) % 4000);
    await writeFile(path.join(folder, 'a.dm4'), writeDm(4, { width: 64, height: 64, elementType: 4, dataType: 10, data: ramp(4096), scale: 0.5, unit: 'nm' }));
    await writeFile(path.join(folder, 'b.mrc'), writeMrc({ nx: 64, ny: 64, mode: 2, data: ramp(4096), cellA: [320, 320] }));
    await sharp(Buffer.alloc(64 * 64, 140), { raw: { width: 64, height: 64, channels: 1 } }).png().toFile(path.join(folder, 'c.png'));
    await writeFile(path.join(folder, 'batch.json'), JSON.stringify({ sample: 'test EVs', score_threshold: 0.2 }));
    expect((await findImages(folder)).map((f) => path.basename(f))).toEqual(['a.dm4', 'b.mrc', 'c.png']);
    const model = path.join(dir, 'detector.onnx');
    await writeFile(
      model,
      buildConstantDetectorModel({
        layout: 'exodetect',
        rows: [[8, 8, 24, 24, 0.9, 0]],
        metadata: exodetectMetadata({ nmPerPx: 1, scoreThreshold: 0.5, tileSize: 64 }),
      }),
    );
    const out = path.join(dir, 'out');
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [path.join(REPO, 'bin', 'exodetect.js'), 'run', folder, '--model', model, '--out', out, '--batch', 'mixed', '--data-dir', path.join(dir, 's3'), '--size-gate', '10,100', '--score-threshold', '0.4'],
      { cwd: dir, timeout: 120_000 },
    );
    expect(stderr).toContain(`Batch manifest: ${path.join(folder, 'batch.json')}`);
    // The counts' threshold is said with them: --score-threshold over the manifest's 0.2 and the model's 0.5.
    expect(stdout).toMatch(/^Batch mixed: 3 images, 0 failed, 3 detections in [\d.]+ s, score threshold 0\.4 \(from the batch manifest: --score-threshold\)$/m);
    expect(stdout).toContain("Scale: from the files' metadata for 2 images (0.5 nm/px); ASSUMED (the model's training scale) for 1 image (1 nm/px); each image's in the report and summary.json.");
    expect(stdout).toMatch(/WARNING: 1 of 3 images were sized at an ASSUMED scale \(1 nm\/px.*: c\.png\./);
    const summary = JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'));
    expect(summary.thresholds).toEqual([expect.objectContaining({ score: 0.4, score_source: 'batch', size_gate_nm: [10, 100], images: 3 })]);
    const byFile = Object.fromEntries(summary.per_image.map((r: { file: string }) => [r.file, r]));
    expect(byFile['a.dm4']).toMatchObject({ nm_per_px: 0.5, nm_per_px_source: 'file', scale_assumed: false });
    expect(byFile['b.mrc']).toMatchObject({ nm_per_px: 0.5, nm_per_px_source: 'file', nm_per_px_detail: 'MRC header CELLA.x / MX = 5 Å' });
    expect(byFile['c.png']).toMatchObject({ nm_per_px_source: 'assumed', scale_assumed: true });
    // One detection per image: only the two calibrated images' are in the statistics.
    expect(summary.diameter_nm.count).toBe(2);
    expect(summary.diameter_nm_assumed_scale.count).toBe(1);
    const mrc = JSON.parse(await readFile(path.join(out, 'images', 'b.mrc.json'), 'utf8'));
    expect(mrc.intensity).toMatch(/float32 values scaled linearly/);
    const report = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(report).toContain('assumed-scale-banner');
  }, 180_000);
});
