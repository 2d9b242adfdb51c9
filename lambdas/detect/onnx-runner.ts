/**
 * The ONNX adapter of the tiling detector: one model run on one tile's tensor,
 * its output decoded to boxes (every layout the model loader accepts), taking
 * turns at the session with the other images in flight.
 */
import * as ort from 'onnxruntime-node';
import type { TileRunner } from './detector.js';
import type { LoadedModel } from './model.js';
import { exclusiveRun } from './model-turns.js';
import { decodeOutput, isSaturated } from './output-decode.js';

export interface OnnxRunnerProps {
  readonly scoreThreshold: number;
  /** NMS IoU for YOLO layouts. */
  readonly iouThreshold: number;
}

/** Runners created earlier (images that reached the model first) get the model first. */
let nextRunnerPriority = 0;

export function onnxTileRunner(model: LoadedModel, props: OnnxRunnerProps): TileRunner {
  const fetches = model.outlineOutputName ? [model.outputName, model.outlineOutputName] : [model.outputName];
  const priority = nextRunnerPriority++;
  return async (tensor, dims) => {
    const input = new ort.Tensor('float32', tensor, [...dims]);
    const output = await exclusiveRun(model.session, () => model.session.run({ [model.inputName]: input }, fetches), priority);
    const result = output[model.outputName] as ort.Tensor;
    const outlines = model.outlineOutputName ? (output[model.outlineOutputName] as ort.Tensor) : undefined;
    const decodeProps = {
      layout: model.layout,
      scoreThreshold: props.scoreThreshold,
      iouThreshold: props.iouThreshold,
      ...(outlines && { outlines: { data: outlines.data as Float32Array, dims: outlines.dims } }),
    };
    const boxes = decodeOutput(result.data as Float32Array, result.dims, 0, decodeProps);
    const saturated = isSaturated(result.data as Float32Array, result.dims, 0, boxes.length, decodeProps);
    result.dispose?.();
    outlines?.dispose?.();
    return { boxes, saturated };
  };
}
