/**
 * Builds small ONNX models in TypeScript so tests (and the benchmark, when no
 * trained model is bundled) can make detectors that emit known tensors in
 * each output layout the inference code accepts:
 *
 *   exodetect  `detections` [N, K, 6]        (x1, y1, x2, y2, score, class)
 *              `outlines`   [N, K, 2V]       (optional: a polygon per row, model format 2)
 *   yolov5     `output0`    [N, M, 5 + nc]  (cx, cy, w, h, objectness, class scores)
 *   yolov8     `output0`    [N, 4 + nc, M]  (cx, cy, w, h, class scores), channel-major
 *
 * The output is a constant added to `ReduceSum(images) * 0`, so the graph
 * accepts any N, H and W and the batch dimension follows the input.
 * Optional 3x3 convolutions in front give the graph real work (benchmarks).
 */
import protobuf from 'protobufjs';

const ONNX_SUBSET_PROTO = `
syntax = "proto3";
package onnx;
message AttributeProto {
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  int32 type = 20;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string domain = 7;
}
message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4;
  repeated int64 int64_data = 7;
  string name = 8;
  bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}
message StringStringEntryProto {
  string key = 1;
  string value = 2;
}
message ModelProto {
  int64 ir_version = 1;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

const TENSOR_FLOAT = 1;
const TENSOR_INT64 = 7;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

let modelType: protobuf.Type | undefined;
function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

export type OnnxLayout = 'exodetect' | 'yolov5' | 'yolov8';
export type Dim = number | string;

export interface ConstantDetectorProps {
  readonly layout: OnnxLayout;
  /**
   * One row per candidate, in the layout's natural row form:
   * exodetect [x1, y1, x2, y2, score, class]; yolov5 [cx, cy, w, h, obj, ...classScores];
   * yolov8 [cx, cy, w, h, ...classScores] (transposed to [4 + nc, M] by the builder).
   */
  readonly rows: readonly (readonly number[])[];
  /** Default 1. */
  readonly inputChannels?: number;
  /** Default ['N', channels, 'H', 'W']: dynamic batch and size. */
  readonly inputShape?: readonly Dim[];
  /** Default 'images'. */
  readonly inputName?: string;
  /** Default 'detections' (exodetect) or 'output0' (YOLO, as ultralytics names it). */
  readonly outputName?: string;
  /** ONNX metadata_props. Default none. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Number of 3x3 convolutions (width `convWidth`) in front, to give the graph work. Default 0. */
  readonly convLayers?: number;
  /** Default 16. */
  readonly convWidth?: number;
  /** exodetect only: an `outlines` output [N, K, 2V], one polygon (x0, y0, ...) per row. Default none. */
  readonly outlines?: readonly (readonly number[])[];
}

interface TensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly floats?: Float32Array;
  readonly int64s?: readonly number[];
}

function tensor(spec: TensorSpec): Record<string, unknown> {
  if (spec.floats) {
    const bytes = new Uint8Array(spec.floats.buffer, spec.floats.byteOffset, spec.floats.byteLength);
    return { name: spec.name, dims: spec.dims, data_type: TENSOR_FLOAT, raw_data: bytes };
  }
  return { name: spec.name, dims: spec.dims, data_type: TENSOR_INT64, int64_data: spec.int64s ?? [] };
}

function valueInfo(name: string, shape: readonly Dim[]): Record<string, unknown> {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: TENSOR_FLOAT,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function node(op: string, inputs: string[], outputs: string[], attributes: Record<string, unknown>[] = []) {
  return { op_type: op, input: inputs, output: outputs, name: `${op}_${outputs[0]}`, attribute: attributes };
}

/** The rows as the output tensor's data, and its trailing dims. */
function outputTensor(props: ConstantDetectorProps): { data: Float32Array; dims: [number, number] } {
  const rows = props.rows;
  const width = rows[0]?.length ?? (props.layout === 'exodetect' ? 6 : props.layout === 'yolov5' ? 6 : 5);
  for (const row of rows) {
    if (row.length !== width) throw new Error(`every row must have ${width} values, got ${row.length}`);
  }
  if (props.layout === 'exodetect' && width !== 6) throw new Error(`exodetect rows have 6 values, got ${width}`);
  if (props.layout === 'yolov8') {
    const data = new Float32Array(width * rows.length);
    rows.forEach((row, m) => row.forEach((v, c) => (data[c * rows.length + m] = v)));
    return { data, dims: [width, rows.length] };
  }
  return { data: Float32Array.from(rows.flat()), dims: [rows.length, width] };
}

/** Deterministic pseudo-random weights, so benchmark models are reproducible. */
function weights(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Serialised ONNX ModelProto (opset 13) that emits `rows` for every input image. */
export function buildConstantDetectorModel(props: ConstantDetectorProps): Uint8Array {
  const channels = props.inputChannels ?? 1;
  const inputName = props.inputName ?? 'images';
  const outputName = props.outputName ?? (props.layout === 'exodetect' ? 'detections' : 'output0');
  const inputShape = props.inputShape ?? ['N', channels, 'H', 'W'];
  const { data, dims } = outputTensor(props);

  const nodes: Record<string, unknown>[] = [];
  const initializers: Record<string, unknown>[] = [];
  let features = inputName;
  let featureChannels = channels;
  const convLayers = props.convLayers ?? 0;
  const convWidth = props.convWidth ?? 16;
  for (let layer = 0; layer < convLayers; layer++) {
    const w = `conv${layer}_w`;
    const b = `conv${layer}_b`;
    initializers.push(
      tensor({ name: w, dims: [convWidth, featureChannels, 3, 3], floats: weights(convWidth * featureChannels * 9, layer + 1, 0.2) }),
      tensor({ name: b, dims: [convWidth], floats: new Float32Array(convWidth) }),
    );
    nodes.push(node('Conv', [features, w, b], [`conv${layer}`], [{ name: 'pads', type: ATTRIBUTE_INTS, ints: [1, 1, 1, 1] }]));
    nodes.push(node('Relu', [`conv${layer}`], [`relu${layer}`]));
    features = `relu${layer}`;
    featureChannels = convWidth;
  }

  initializers.push(
    tensor({ name: 'reduce_axes', dims: [3], int64s: [1, 2, 3] }),
    tensor({ name: 'batch_shape', dims: [3], int64s: [-1, 1, 1] }),
    tensor({ name: 'zero', dims: [], floats: new Float32Array([0]) }),
    tensor({ name: 'constant_rows', dims: [1, ...dims], floats: data }),
  );
  nodes.push(
    node('ReduceSum', [features, 'reduce_axes'], ['per_image_sum'], [{ name: 'keepdims', type: ATTRIBUTE_INT, i: 0 }]),
    node('Reshape', ['per_image_sum', 'batch_shape'], ['per_image']),
    node('Mul', ['per_image', 'zero'], ['zeros']),
    node('Add', ['zeros', 'constant_rows'], [outputName]),
  );
  const outputs = [valueInfo(outputName, [inputShape[0] ?? 'N', ...dims])];
  if (props.outlines) {
    const width = props.outlines[0]?.length ?? 0;
    if (props.outlines.length !== props.rows.length || props.outlines.some((o) => o.length !== width)) throw new Error('one outline of the same length per row');
    initializers.push(tensor({ name: 'constant_outlines', dims: [1, props.outlines.length, width], floats: Float32Array.from(props.outlines.flat()) }));
    nodes.push(node('Add', ['zeros', 'constant_outlines'], ['outlines']));
    outputs.push(valueInfo('outlines', [inputShape[0] ?? 'N', props.outlines.length, width]));
  }

  const model = {
    ir_version: 8,
    producer_name: 'exodetect-tests',
    producer_version: '1',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: `constant_${props.layout}`,
      node: nodes,
      initializer: initializers,
      input: [valueInfo(inputName, inputShape)],
      output: outputs,
    },
    metadata_props: Object.entries(props.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const type = onnxModelType();
  const problem = type.verify(model);
  if (problem) throw new Error(`invalid ONNX model: ${problem}`);
  return type.encode(type.fromObject(model)).finish();
}
