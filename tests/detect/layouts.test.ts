import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { onnxTileRunner } from '../../lambdas/detect/onnx-runner.js';
import { MODEL_FORMAT_VERSIONS, MODEL_METADATA_KEYS } from '../../lambdas/shared/contracts.js';
import { ModelError } from '../../lambdas/shared/errors.js';
import modelContract from '../../training-container/exodetect_train/model_contract.json' with { type: 'json' };
import { loadModel, parseClassNames } from '../../lambdas/detect/model.js';
import { nonMaxSuppression } from '../../lambdas/detect/nms.js';
import { readOnnxMetadata } from '../../lambdas/detect/onnx-metadata.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ours = exodetectMetadata({ formatVersion: '1', classNames: ['exosome', 'debris'], nmPerPx: 1.25, scoreThreshold: 0.4, tileSize: 256, modelVersion: 'v7', datasetFingerprint: 'abc', inputChannels: 1 });

async function runOnce(bytes: Uint8Array, scoreThreshold = 0.3, size = 64) {
  const model = await loadModel(bytes, { key: 'm.onnx', intraOpThreads: 1 });
  const runner = onnxTileRunner(model, { scoreThreshold, iouThreshold: 0.45 });
  const c = model.inputChannels;
  const h = model.fixedInputSize?.height ?? size;
  const w = model.fixedInputSize?.width ?? size;
  const output = await runner(new Float32Array(c * h * w), [1, c, h, w]);
  return { model, boxes: output.boxes, saturated: output.saturated };
}

describe('ONNX builder and model loading', () => {
  it('builds models onnxruntime runs, with any batch size and image size', async () => {
    const bytes = buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 2, 3, 4, 0.9, 0]] });
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ images: new ort.Tensor('float32', new Float32Array(3 * 96 * 160), [3, 1, 96, 160]) });
    expect(out.detections!.dims).toEqual([3, 1, 6]);
    expect(Array.from(out.detections!.data as Float32Array).slice(6, 12)).toEqual([1, 2, 3, 4, expect.closeTo(0.9, 6), 0]);
  });

  it('reads metadata_props and rejects bytes that are not protobuf', () => {
    const bytes = buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 2, 3, 4, 0.9, 0]], metadata: ours });
    expect(readOnnxMetadata(bytes)).toEqual(ours);
    expect(() => readOnnxMetadata(Buffer.from([0x0a, 0xff, 0xff, 0xff]))).toThrow(ModelError);
  });

  it('loads our layout with its metadata, keeping rows above the threshold', async () => {
    const bytes = buildConstantDetectorModel({
      layout: 'exodetect',
      rows: [
        [10, 10, 30, 40, 0.9, 0],
        [50, 50, 60, 60, 0.35, 1],
        [0, 0, 0, 0, 0, 0],
      ],
      metadata: ours,
    });
    const { model, boxes } = await runOnce(bytes, 0.4);
    expect(model).toMatchObject({ layout: 'exodetect', inputChannels: 1, tileSize: 256, nmPerPx: 1.25, scoreThreshold: 0.4, version: 'v7' });
    expect(model.classNames).toEqual(['exosome', 'debris']);
    expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(boxes).toEqual([{ x1: 10, y1: 10, x2: 30, y2: 40, score: expect.closeTo(0.9, 6), classId: 0 }]);
  });

  it('says when our layout filled every detection slot above the threshold (the count is then a lower bound)', async () => {
    const full = buildConstantDetectorModel({
      layout: 'exodetect',
      rows: [
        [10, 10, 30, 40, 0.9, 0],
        [50, 50, 60, 60, 0.5, 0],
      ],
      metadata: ours,
    });
    expect(await runOnce(full, 0.4)).toMatchObject({ saturated: true, boxes: [expect.anything(), expect.anything()] });
    // The same rows with a higher threshold: the last slot is below it, so nothing was cut off.
    expect(await runOnce(full, 0.6)).toMatchObject({ saturated: false, boxes: [expect.anything()] });
  });

  it('decodes YOLOv5 [N, M, 5+nc] with 3 input channels: objectness x class score, class-aware NMS', async () => {
    const bytes = buildConstantDetectorModel({
      layout: 'yolov5',
      inputChannels: 3,
      inputShape: [1, 3, 64, 64],
      rows: [
        [20, 20, 10, 10, 0.9, 0.9, 0.1], // class 0, score 0.81
        [21, 20, 10, 10, 0.8, 0.9, 0.1], // same object, same class: suppressed
        [21, 21, 10, 10, 0.9, 0.1, 0.8], // same place, other class: kept
        [50, 50, 6, 6, 0.2, 0.9, 0.1], // below threshold
        // Real exports have thousands of candidates (M > 5 + nc tells v5 from v8): pad with background.
        ...Array.from({ length: 8 }, () => [0, 0, 1, 1, 0.01, 0.5, 0.5]),
      ],
      metadata: { names: "{0: 'exosome', 1: 'debris'}", imgsz: '[64, 64]' },
    });
    const { model, boxes } = await runOnce(bytes);
    expect(model).toMatchObject({ layout: 'yolov5', inputChannels: 3, fixedInputSize: { height: 64, width: 64 }, tileSize: 64 });
    expect(model.classNames).toEqual(['exosome', 'debris']);
    expect(model.scoreThreshold).toBeUndefined();
    expect(boxes).toHaveLength(2);
    expect(boxes[0]).toMatchObject({ x1: 15, y1: 15, x2: 25, y2: 25, classId: 0 });
    expect(boxes[0]!.score).toBeCloseTo(0.81, 5);
    expect(boxes[1]).toMatchObject({ classId: 1 });
    expect(boxes[1]!.score).toBeCloseTo(0.72, 5);
  });

  it('decodes YOLOv8/11 [N, 4+nc, M] with 1 and 3 input channels', async () => {
    for (const inputChannels of [1, 3]) {
      const rows = [
        [32, 32, 8, 8, 0.1, 0.95],
        [33, 32, 8, 8, 0.1, 0.9], // duplicate of the first
        [10, 10, 4, 6, 0.7, 0.2],
        [40, 10, 4, 4, 0.05, 0.1], // background
        [50, 50, 4, 4, 0.2, 0.2],
        [55, 55, 4, 4, 0.2, 0.1],
        [60, 60, 4, 4, 0.2, 0.1],
      ];
      const { model, boxes } = await runOnce(buildConstantDetectorModel({ layout: 'yolov8', inputChannels, rows }));
      expect(model.layout).toBe('yolov8');
      expect(model.inputChannels).toBe(inputChannels);
      expect(boxes.map((b) => [b.x1, b.y1, b.x2, b.y2, b.classId])).toEqual([
        [28, 28, 36, 36, 1],
        [8, 7, 12, 13, 0],
      ]);
    }
  });

  it('fails with a ModelError on layouts it cannot read', async () => {
    // Claims to be ours but has 7 columns.
    const wide = buildConstantDetectorModel({ layout: 'yolov5', rows: [[1, 2, 3, 4, 5, 6, 7]], metadata: ours, outputName: 'detections' });
    await expect(loadModel(wide, { key: 'wide.onnx' })).rejects.toThrow(/\[N, K, 6\]/);
    // Square candidate matrix: neither v5 nor v8.
    const square = buildConstantDetectorModel({ layout: 'yolov5', rows: Array.from({ length: 6 }, () => [1, 1, 1, 1, 1, 1]) });
    await expect(loadModel(square, { key: 'square.onnx' })).rejects.toThrow(ModelError);
    const twoChannels = buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 2, 3, 4, 0.5, 0]], inputChannels: 2 });
    await expect(loadModel(twoChannels, { key: 'two.onnx' })).rejects.toThrow(/1 or 3 channels/);
    await expect(loadModel(Buffer.from('garbage that is not onnx'), { key: 'garbage.onnx' })).rejects.toThrow(ModelError);
    await expect(loadModel(new Uint8Array(0), { key: 'empty.onnx' })).rejects.toThrow(/empty/);
  });

  it('refuses a model of our format in a version it does not read, or with no version, naming the model', async () => {
    const future = buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 2, 3, 4, 0.9, 0]], metadata: exodetectMetadata({ formatVersion: '3' }) });
    await expect(loadModel(future, { key: 'models/v9/model.onnx' })).rejects.toThrow(ModelError);
    await expect(loadModel(future, { key: 'models/v9/model.onnx' })).rejects.toThrow(
      `model models/v9/model.onnx: format version "3" is not one this exodetect reads (${MODEL_FORMAT_VERSIONS.join(', ')})`,
    );
    const { [MODEL_METADATA_KEYS.formatVersion]: _dropped, ...noVersion } = exodetectMetadata();
    const unversioned = buildConstantDetectorModel({ layout: 'exodetect', rows: [[1, 2, 3, 4, 0.9, 0]], metadata: noVersion });
    await expect(loadModel(unversioned, { key: 'old.onnx' })).rejects.toThrow(/old\.onnx: .*no exodetect\.format_version/);
  });

  it("loads the trainer's real export: every metadata key it wrote is in the shared contract, its version one inference reads", async () => {
    // models/default/model.onnx was written by training-container/exodetect_train/export.py.
    const bytes = await readFile(path.join(REPO_ROOT, 'models', 'default', 'model.onnx'));
    const model = await loadModel(bytes, { key: 'models/default/model.onnx', intraOpThreads: 1 });
    const written = Object.keys(model.metadata).filter((k) => k.startsWith('exodetect.'));
    const contractKeys: string[] = Object.values(MODEL_METADATA_KEYS);
    expect(written.length).toBeGreaterThanOrEqual(9);
    for (const key of written) expect(contractKeys).toContain(key);
    expect(MODEL_FORMAT_VERSIONS).toContain(model.metadata[MODEL_METADATA_KEYS.formatVersion]);
    expect(model.inputName).toBe(modelContract.input_name);
    expect(model.outputName).toBe(modelContract.detections_output);
    expect(model.inputChannels).toBe(modelContract.input_channels);
    await model.session.release();
  });
});

describe('NMS and class names', () => {
  it('suppresses same-class overlaps above the IoU threshold only', () => {
    const a = { x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9, classId: 0 };
    const b = { x1: 1, y1: 0, x2: 11, y2: 10, score: 0.8, classId: 0 }; // IoU 0.82
    const c = { x1: 5, y1: 0, x2: 15, y2: 10, score: 0.7, classId: 0 }; // IoU with a 0.33
    const d = { ...b, classId: 1 };
    expect(nonMaxSuppression([c, b, a, d], 0.5)).toEqual([a, d, c]);
    expect(nonMaxSuppression([c, b, a, d], 0.5, 2)).toEqual([a, d]);
    expect(() => nonMaxSuppression([a], 0)).toThrow(/iouThreshold/);
  });

  it('parses class names from JSON and from ultralytics dict literals', () => {
    expect(parseClassNames('["a","b"]')).toEqual(['a', 'b']);
    expect(parseClassNames("{0: 'exosome', 1: \"debris\"}")).toEqual(['exosome', 'debris']);
    expect(parseClassNames(undefined)).toEqual([]);
  });
});
