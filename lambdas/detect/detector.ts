/**
 * Runs a detector over an image that is already at the model's scale: one
 * run when it fits in a tile, overlapping tiles merged at the seams
 * otherwise. The model call is a `TileRunner`, so the tiling logic is tested
 * without onnxruntime; the ONNX runner (onnx-runner.ts) is a thin adapter.
 */
import { BufferPool } from './buffer-pool.js';
import type { GreyImage } from './image-decode.js';
import type { ScoredBox } from './nms.js';
import { fillTensor } from './preprocess.js';
import { chooseTileEdge, mergeTileDetections, planTiles, roundUp32, type TileDetections } from './tiling.js';

/** What one model run on a tile found. */
export interface TileOutput {
  /** In tensor pixels. */
  readonly boxes: ScoredBox[];
  /**
   * The run filled every detection slot the model has above the threshold: there may be more
   * objects in the tile than it reported.
   */
  readonly saturated: boolean;
}

/** Runs the model on one [1, C, H, W] tensor. */
export type TileRunner = (tensor: Float32Array, dims: readonly [number, number, number, number]) => Promise<TileOutput>;

export interface DetectorGeometry {
  readonly tileSize: number;
  readonly fixedInputSize?: { readonly height: number; readonly width: number };
  readonly inputChannels: number;
}

export interface DetectTiledProps {
  /** Overlap between tiles in px at the model's scale. */
  readonly overlap: number;
  /**
   * Images up to this many tile edges (both sides) run whole on models with dynamic H and W.
   * Default 1.25. Set 1 to tile everything larger than the tile.
   */
  readonly singleRunSlack?: number;
}

export interface DetectTiledResult {
  /** In the (resampled) image's pixels, best first. */
  readonly boxes: ScoredBox[];
  readonly tiles: number;
  /** Time inside the runner, summed over tiles. */
  readonly inferenceMs: number;
  /** Time filling tensors. */
  readonly tensorMs: number;
  /** Tiles whose run reported as many objects as the model can (see TileOutput.saturated). */
  readonly saturatedTiles: number;
}

/** Model input tensors, reused across images of the same tile size. */
const tensorPool = new BufferPool((length) => new Float32Array(length));

export async function detectTiled(
  image: GreyImage,
  geometry: DetectorGeometry,
  runner: TileRunner,
  props: DetectTiledProps,
): Promise<DetectTiledResult> {
  const fixed = geometry.fixedInputSize;
  // A model with dynamic H and W runs an image a little larger than its tile in one go (four
  // mostly-overlapping tiles would cost up to four times as much), and takes tiles of up to the
  // same slack where that covers the image with fewer pixels.
  const slack = props.singleRunSlack ?? 1.25;
  if (!(slack >= 1)) throw new RangeError(`singleRunSlack must be >= 1, got ${slack}`);
  const overlap = Math.min(props.overlap, Math.floor(geometry.tileSize / 2));
  const edges = { baseTile: geometry.tileSize, maxTile: Math.max(geometry.tileSize, Math.floor((geometry.tileSize * slack) / 32) * 32), overlap };
  const tileWidth = fixed ? fixed.width : chooseTileEdge(image.width, edges);
  const tileHeight = fixed ? fixed.height : chooseTileEdge(image.height, edges);
  const tensorWidth = fixed ? fixed.width : roundUp32(tileWidth);
  const tensorHeight = fixed ? fixed.height : roundUp32(tileHeight);
  const channels = geometry.inputChannels;
  const tiles = planTiles({ imageWidth: image.width, imageHeight: image.height, tileWidth, tileHeight, overlap });
  const dims = [1, channels, tensorHeight, tensorWidth] as const;
  // One buffer for every tile (each run completes before the next fill), from a pool.
  const { perTile, inferenceMs, tensorMs, saturatedTiles } = await tensorPool.with(channels * tensorWidth * tensorHeight, async (tensor) => {
    const perTile: TileDetections[] = [];
    let inferenceMs = 0;
    let tensorMs = 0;
    let saturatedTiles = 0;
    for (const tile of tiles) {
      const t0 = performance.now();
      fillTensor(image, tile, tensor, tensorWidth, tensorHeight, channels);
      const t1 = performance.now();
      const output = await runner(tensor, dims);
      inferenceMs += performance.now() - t1;
      tensorMs += t1 - t0;
      if (output.saturated) saturatedTiles++;
      const boxes: ScoredBox[] = [];
      for (const b of output.boxes) {
        // Clip to the real pixels of the tile: padding holds no image.
        const x1 = Math.max(0, b.x1) + tile.x;
        const y1 = Math.max(0, b.y1) + tile.y;
        const x2 = Math.min(tile.width, b.x2) + tile.x;
        const y2 = Math.min(tile.height, b.y2) + tile.y;
        if (!(x2 > x1 && y2 > y1)) continue;
        const box: ScoredBox = { x1, y1, x2, y2, score: b.score, classId: b.classId };
        if (b.outline) box.outline = b.outline.map((v, i) => v + (i % 2 === 0 ? tile.x : tile.y));
        boxes.push(box);
      }
      perTile.push({ tile, boxes });
    }
    return { perTile, inferenceMs, tensorMs, saturatedTiles };
  });
  const boxes = mergeTileDetections(perTile, { imageWidth: image.width, imageHeight: image.height });
  return { boxes, tiles: tiles.length, inferenceMs, tensorMs, saturatedTiles };
}

