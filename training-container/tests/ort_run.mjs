// Runs an ONNX model in onnxruntime-node on raw float32 input and writes the raw float32 outputs:
// the first to OUTPUT.f32, any further one to OUTPUT.<name>.f32 (e.g. the outlines beside the detections).
// Used by the Python tests to check the export against PyTorch on the same input.
//   node ort_run.mjs MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
// Prints {"dims": [...], "outputs": {name: dims}, "metadata": {...}} as JSON on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(resolve(repoRoot, 'package.json'));
const ort = require('onnxruntime-node');

const [modelPath, inputPath, shapeText, outputPath] = process.argv.slice(2);
if (!modelPath || !inputPath || !shapeText || !outputPath) {
  console.error('usage: node ort_run.mjs MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32');
  process.exit(2);
}
const dims = shapeText.split(',').map(Number);
const bytes = readFileSync(inputPath);
const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
const out = result[session.outputNames[0]];
writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
const outputs = {};
for (const [i, name] of session.outputNames.entries()) {
  const t = result[name];
  outputs[name] = t.dims;
  if (i > 0) writeFileSync(outputPath.replace(/\.f32$/, `.${name}.f32`), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}
let metadata = {};
try {
  metadata = session.handler?.metadata ?? {};
} catch {
  metadata = {};
}
process.stdout.write(JSON.stringify({ dims: out.dims, outputs, inputNames: session.inputNames, outputNames: session.outputNames, metadata }) + '\n');
