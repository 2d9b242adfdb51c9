/**
 * Loads an ONNX detector into an onnxruntime-node session and works out how
 * to talk to it: input name and channels, tile size, output layout
 * (exodetect / yolov5 / yolov8), training scale, class names and recommended
 * threshold from `metadata_props`. A warm-up run at the tile size confirms the
 * layout from real output dims, so a model we cannot read fails at load with a
 * ModelError (failing the invocation) rather than on every image.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { DETECTIONS_OUTPUT_NAME, MODEL_FORMAT_NAME, MODEL_FORMAT_VERSIONS, MODEL_METADATA_KEYS, OUTLINE_OUTPUT_NAME } from '../shared/contracts.js';
import { ModelError } from '../shared/errors.js';
import { readOnnxMetadata } from './onnx-metadata.js';
import type { ModelLayout } from './output-decode.js';

export interface LoadedModel {
  readonly session: ort.InferenceSession;
  /** S3 key (or path) the model came from. */
  readonly key: string;
  readonly version: string;
  readonly sha256: string;
  readonly layout: ModelLayout;
  readonly inputName: string;
  readonly outputName: string;
  /**
   * The `outlines` output (model format 2: a polygon per detection row), when the model has one; without it
   * outlines are fitted in the image.
   */
  readonly outlineOutputName?: string;
  /** How the model's outlines were made, from its metadata (e.g. "star-convex 32 rays"). */
  readonly outlineKind?: string;
  /** 1 (ours) or 3 (most YOLO exports): grey is replicated. */
  readonly inputChannels: 1 | 3;
  /** Set when the model's H and W are fixed: every run must use exactly this size. */
  readonly fixedInputSize?: { readonly height: number; readonly width: number };
  /** Square tile edge in px (multiple of 32) for images larger than it. */
  readonly tileSize: number;
  /** Scale the model was trained at; undefined for foreign models without one. */
  readonly nmPerPx?: number;
  /** The model's recommended score threshold, if it has one. */
  readonly scoreThreshold?: number;
  readonly classNames: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly intraOpThreads: number;
}

export interface LoadModelProps {
  /** Recorded in results. */
  readonly key: string;
  /** Default: the vCPUs this process may use (os.availableParallelism()). */
  readonly intraOpThreads?: number;
  /** Tile edge when the model names none. Default 512 (ours), 640 (YOLO). */
  readonly defaultTileSize?: number;
  /**
   * Let idle onnxruntime threads spin. Default false: spinning threads burn the CPU that a
   * second image in flight (or a neighbour on a shared host) needs, for no gain in latency.
   */
  readonly allowSpinning?: boolean;
  /** Skip the warm-up run (the layout then comes from static output shapes only). Default false. */
  readonly skipWarmUp?: boolean;
}

function positiveNumber(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ModelError(`model metadata ${name} must be a positive number, got "${raw}"`);
  return value;
}

/** Ultralytics writes names as a Python dict literal: "{0: 'exosome', 1: 'debris'}". */
export function parseClassNames(raw: string | undefined): string[] {
  if (!raw) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed)) return parsed.map(String);
    if (parsed && typeof parsed === 'object') {
      return Object.entries(parsed as Record<string, unknown>)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([, v]) => String(v));
    }
  } catch {
    // Not JSON: try the Python dict form below.
  }
  const names: string[] = [];
  for (const m of raw.matchAll(/(\d+)\s*:\s*(['"])(.*?)\2/g)) names[Number(m[1])] = m[3]!;
  return Array.from(names, (n, i) => n ?? String(i));
}

function staticDims(meta: ort.InferenceSession.ValueMetadata | undefined): (number | undefined)[] {
  if (!meta || !meta.isTensor) return [];
  return meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
}

/** Checks the `outlines` output's dims against the detections' ([N, K, 2V] beside [N, K, 6]). */
export function checkOutlineDims(dims: readonly number[], detectionDims: readonly number[], key: string): void {
  const [, k, width = 0] = dims;
  if (dims.length !== 3 || k !== detectionDims[1] || width < 6 || width % 2 !== 0) {
    throw new ModelError(
      `model ${key}: output "${OUTLINE_OUTPUT_NAME}" is [${dims.join(', ')}]; it must be [N, K, 2V] (V >= 3 vertices) beside detections [${detectionDims.join(', ')}]`,
    );
  }
}

/** Layout from the output dims of one run, cross-checked with what the metadata claims. */
export function layoutFromOutputDims(dims: readonly number[], claimsExodetect: boolean, outputName: string): ModelLayout {
  if (dims.length !== 3) throw new ModelError(`output "${outputName}" has rank ${dims.length} (dims [${dims.join(', ')}]); expected rank 3`);
  const [, d1 = 0, d2 = 0] = dims;
  if (claimsExodetect) {
    if (d2 !== 6) throw new ModelError(`output "${outputName}" is [${dims.join(', ')}]; the exodetect layout is [N, K, 6]`);
    return 'exodetect';
  }
  if (d1 < d2 && d1 >= 5) return 'yolov8';
  if (d1 > d2 && d2 >= 6) return 'yolov5';
  throw new ModelError(
    `output "${outputName}" is [${dims.join(', ')}]: not a known layout (exodetect [N,K,6], YOLOv5 [N,M,5+nc], YOLOv8 [N,4+nc,M])`,
  );
}

/**
 * Our format's version must be one this code reads: a model from a newer exporter
 * would otherwise load as today's format and be decoded wrongly.
 */
function checkFormatVersion(version: string | undefined, key: string): void {
  if (version === undefined) {
    throw new ModelError(`model ${key}: its metadata has ${MODEL_METADATA_KEYS.format} but no ${MODEL_METADATA_KEYS.formatVersion}; export it again with the trainer`);
  }
  if (!MODEL_FORMAT_VERSIONS.includes(version)) {
    throw new ModelError(
      `model ${key}: format version "${version}" is not one this exodetect reads (${MODEL_FORMAT_VERSIONS.join(', ')}); it comes from a newer trainer: update exodetect`,
    );
  }
}

export async function loadModel(bytes: Uint8Array, props: LoadModelProps): Promise<LoadedModel> {
  if (bytes.length === 0) throw new ModelError(`model ${props.key} is empty (0 bytes)`);
  const metadata = readOnnxMetadata(bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const intraOpThreads = props.intraOpThreads ?? os.availableParallelism();
  if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) {
    throw new ModelError(`intraOpThreads must be a positive integer, got ${intraOpThreads}`);
  }

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: props.allowSpinning ? '1' : '0' } } },
    });
  } catch (err) {
    throw new ModelError(`cannot load model ${props.key}: ${(err as Error).message}`, { cause: err });
  }

  const inputName = session.inputNames[0];
  const outputName = session.outputNames.includes(DETECTIONS_OUTPUT_NAME) ? DETECTIONS_OUTPUT_NAME : session.outputNames[0];
  if (!inputName || !outputName) throw new ModelError(`model ${props.key} has no inputs or no outputs`);
  const inputDims = staticDims(session.inputMetadata.find((m) => m.name === inputName));
  if (inputDims.length !== 4) throw new ModelError(`model ${props.key}: input "${inputName}" must be [N, C, H, W], got rank ${inputDims.length}`);
  const channels = inputDims[1];
  if (channels !== 1 && channels !== 3) {
    throw new ModelError(`model ${props.key}: input "${inputName}" must have 1 or 3 channels, got ${channels ?? 'a dynamic count'}`);
  }
  const fixedH = inputDims[2];
  const fixedW = inputDims[3];
  const fixedInputSize = fixedH !== undefined && fixedW !== undefined ? { height: fixedH, width: fixedW } : undefined;

  const claimsExodetect = metadata[MODEL_METADATA_KEYS.format] === MODEL_FORMAT_NAME || outputName === DETECTIONS_OUTPUT_NAME;
  const isOurs = metadata[MODEL_METADATA_KEYS.format] === MODEL_FORMAT_NAME;
  if (isOurs) checkFormatVersion(metadata[MODEL_METADATA_KEYS.formatVersion], props.key);
  const imgsz = /\d+/.exec(metadata.imgsz ?? '')?.[0];
  const tileSize =
    fixedInputSize !== undefined
      ? Math.min(fixedInputSize.height, fixedInputSize.width)
      : (positiveNumber(metadata[MODEL_METADATA_KEYS.tileSize], MODEL_METADATA_KEYS.tileSize) ??
        (imgsz ? Number(imgsz) : undefined) ??
        props.defaultTileSize ??
        (claimsExodetect ? 512 : 640));
  if (!Number.isInteger(tileSize) || tileSize % 32 !== 0) {
    throw new ModelError(`model ${props.key}: tile size must be a multiple of 32, got ${tileSize}`);
  }

  let layout: ModelLayout;
  // Only our layout pairs an outline with each detection row.
  const outlineOutputName = claimsExodetect && outputName !== OUTLINE_OUTPUT_NAME && session.outputNames.includes(OUTLINE_OUTPUT_NAME) ? OUTLINE_OUTPUT_NAME : undefined;
  const outputStatic = staticDims(session.outputMetadata.find((m) => m.name === outputName));
  const outlineStatic = outlineOutputName ? staticDims(session.outputMetadata.find((m) => m.name === outlineOutputName)) : [];
  const staticKnown = outputStatic.length === 3 && outputStatic[1] !== undefined && outputStatic[2] !== undefined;
  if (props.skipWarmUp && staticKnown && (!outlineOutputName || (outlineStatic.length === 3 && outlineStatic[2] !== undefined))) {
    layout = layoutFromOutputDims([1, outputStatic[1]!, outputStatic[2]!], claimsExodetect, outputName);
    if (outlineOutputName) checkOutlineDims([1, outlineStatic[1] ?? outputStatic[1]!, outlineStatic[2]!], [1, outputStatic[1]!, outputStatic[2]!], props.key);
  } else {
    const h = fixedInputSize?.height ?? tileSize;
    const w = fixedInputSize?.width ?? tileSize;
    let dims: readonly number[];
    let outlineDims: readonly number[] | undefined;
    try {
      const input = new ort.Tensor('float32', new Float32Array(channels * h * w), [1, channels, h, w]);
      const output = await session.run({ [inputName]: input }, outlineOutputName ? [outputName, outlineOutputName] : [outputName]);
      dims = output[outputName]!.dims;
      outlineDims = outlineOutputName ? output[outlineOutputName]!.dims : undefined;
    } catch (err) {
      throw new ModelError(`model ${props.key} fails on a ${w}x${h} input: ${(err as Error).message}`, { cause: err });
    }
    layout = layoutFromOutputDims(dims, claimsExodetect, outputName);
    if (outlineDims) checkOutlineDims(outlineDims, dims, props.key);
  }

  const classNames = isOurs
    ? parseClassNames(metadata[MODEL_METADATA_KEYS.classNames])
    : parseClassNames(metadata[MODEL_METADATA_KEYS.classNames] ?? metadata.names);
  const scoreThreshold = positiveNumber(metadata[MODEL_METADATA_KEYS.scoreThreshold], MODEL_METADATA_KEYS.scoreThreshold);

  return {
    session,
    key: props.key,
    version: metadata[MODEL_METADATA_KEYS.modelVersion] ?? metadata.version ?? sha256.slice(0, 12),
    sha256,
    layout,
    inputName,
    outputName,
    ...(outlineOutputName && { outlineOutputName, outlineKind: metadata[MODEL_METADATA_KEYS.outline] ?? 'polygons' }),
    inputChannels: channels,
    fixedInputSize,
    tileSize,
    nmPerPx: positiveNumber(metadata[MODEL_METADATA_KEYS.nmPerPx], MODEL_METADATA_KEYS.nmPerPx),
    scoreThreshold,
    classNames,
    metadata,
    intraOpThreads,
  };
}
