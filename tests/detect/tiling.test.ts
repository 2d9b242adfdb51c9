import { describe, expect, it } from 'vitest';
import { detectTiled, type TileRunner } from '../../lambdas/detect/detector.js';
import type { GreyImage } from '../../lambdas/detect/image-decode.js';
import type { ScoredBox } from '../../lambdas/detect/nms.js';
import { toDetections } from '../../lambdas/detect/postprocess.js';
import { axisStarts, chooseTileEdge, mergeTileDetections, planTiles, tileCount } from '../../lambdas/detect/tiling.js';

/**
 * A stand-in detector: bounding boxes of the bright connected regions of the
 * tile it is given, like a perfect model that sees only its tile (objects cut
 * by the tile edge come out cut).
 */
const brightBlobRunner: TileRunner = async (tensor, dims) => {
  const [, , h, w] = dims;
  const seen = new Uint8Array(w * h);
  const boxes: ScoredBox[] = [];
  for (let start = 0; start < w * h; start++) {
    if (seen[start] || tensor[start]! < 0.5) continue;
    let [x1, y1, x2, y2] = [w, h, 0, 0];
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w;
      const y = (p - x) / w;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x + 1);
      y2 = Math.max(y2, y + 1);
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
        const q = ny * w + nx;
        if (nx >= 0 && ny >= 0 && nx < w && ny < h && !seen[q] && tensor[q]! >= 0.5) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    boxes.push({ x1, y1, x2, y2, score: 0.9, classId: 0 });
  }
  return { boxes, saturated: false };
};

/** brightBlobRunner that also notes the tensor dims of every run. */
function recordingRunner(dims: (readonly number[])[]): TileRunner {
  return async (tensor, d) => {
    dims.push(d);
    return brightBlobRunner(tensor, d);
  };
}

function imageWithSquares(width: number, height: number, squares: readonly [number, number, number][]): GreyImage {
  const pixels = new Uint8Array(width * height).fill(20);
  for (const [x, y, size] of squares) {
    for (let r = y; r < Math.min(height, y + size); r++) pixels.fill(250, r * width + x, r * width + Math.min(width, x + size));
  }
  return { width, height, bitDepth: 8, pixels };
}

describe('planTiles', () => {
  it('covers every pixel, and gives every pixel to exactly one core', () => {
    for (const [w, h] of [
      [1000, 700],
      [513, 512],
      [300, 2000],
    ] as const) {
      const tiles = planTiles({ imageWidth: w, imageHeight: h, tileWidth: Math.min(256, w), tileHeight: Math.min(256, h), overlap: 64 });
      const cover = new Uint8Array(w * h);
      const core = new Uint8Array(w * h);
      for (const t of tiles) {
        expect(t.x + t.width).toBeLessThanOrEqual(w);
        expect(t.y + t.height).toBeLessThanOrEqual(h);
        for (let y = t.y; y < t.y + t.height; y++) for (let x = t.x; x < t.x + t.width; x++) cover[y * w + x] = 1;
        for (let y = t.core.y0; y < t.core.y1; y++) for (let x = t.core.x0; x < t.core.x1; x++) core[y * w + x]!++;
      }
      expect(cover.every((v) => v === 1)).toBe(true);
      expect(core.every((v) => v === 1)).toBe(true);
    }
  });

  it('keeps at least the requested overlap between neighbours', () => {
    const starts = axisStarts(1000, 256, 64);
    expect(starts[0]).toBe(0);
    expect(starts.at(-1)).toBe(1000 - 256);
    for (let i = 1; i < starts.length; i++) expect(starts[i - 1]! + 256 - starts[i]!).toBeGreaterThanOrEqual(64);
    expect(axisStarts(200, 256, 64)).toEqual([0]);
    expect(() => axisStarts(1000, 256, 256)).toThrow(/overlap/);
  });
});

describe('chooseTileEdge', () => {
  const edges = { baseTile: 512, maxTile: 640, overlap: 128 };

  it('runs an axis that fits in the largest tile whole', () => {
    expect(chooseTileEdge(300, edges)).toBe(300);
    expect(chooseTileEdge(640, edges)).toBe(640);
  });

  it('picks the edge that runs the fewest pixels, never below the model tile', () => {
    // 1024 px: 3 tiles of 512 (1536 px run) or 2 of 576 (1152).
    expect(chooseTileEdge(1024, edges)).toBe(576);
    expect(tileCount(1024, 576, 128)).toBe(2);
    // 2048 px: 5 x 512 = 2560, 4 x 608 = 2432, 4 x 640 = 2560.
    expect(chooseTileEdge(2048, edges)).toBe(608);
    // 700 px: nothing beats 2 x 512.
    expect(chooseTileEdge(700, edges)).toBe(512);
    for (const length of [641, 900, 1125, 1500, 3000, 4096]) {
      const chosen = chooseTileEdge(length, edges);
      expect(chosen).toBeGreaterThanOrEqual(512);
      expect(chosen).toBeLessThanOrEqual(640);
      const cost = tileCount(length, chosen, 128) * chosen;
      for (let edge = 512; edge <= 640; edge += 32) expect(cost).toBeLessThanOrEqual(tileCount(length, edge, 128) * edge);
    }
  });

  it('keeps the model tile when no slack is allowed, and rejects a bad range', () => {
    expect(chooseTileEdge(1024, { baseTile: 512, maxTile: 512, overlap: 128 })).toBe(512);
    expect(() => chooseTileEdge(1024, { baseTile: 512, maxTile: 480, overlap: 128 })).toThrow(/baseTile 512, maxTile 480/);
    expect(() => chooseTileEdge(0, edges)).toThrow(/length/);
  });
});

describe('tiled detection', () => {
  it('finds every object exactly once across seams, and flags the ones cut by the image border', async () => {
    const squares: [number, number, number][] = [
      [100, 100, 30], // inside one tile
      [180, 60, 40], // across the first vertical seam
      [470, 170, 36], // across a seam in both directions
      [0, 300, 25], // cut by the left image border
      [960, 660, 40], // bottom-right corner
      [600, 0, 20], // top border
      [330, 400, 50], // large, in an overlap region
      [700, 500, 3], // tiny
    ];
    const image = imageWithSquares(1000, 700, squares);
    const result = await detectTiled(image, { tileSize: 256, inputChannels: 1 }, brightBlobRunner, { overlap: 64 });
    expect(result.tiles).toBeGreaterThan(9);
    const found = result.boxes.map((b) => [b.x1, b.y1, b.x2, b.y2]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    const expected = squares
      .map(([x, y, s]) => [x, y, Math.min(1000, x + s), Math.min(700, y + s)])
      .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    expect(found).toEqual(expected);

    const detections = toDetections(result.boxes, { width: 1000, height: 700, scaleX: 1, scaleY: 1, nmPerPx: 2, classNames: ['exosome'] });
    const onEdge = detections.filter((d) => d.on_edge).map((d) => d.box_px[0]).sort((a, b) => a - b);
    expect(onEdge).toEqual([0, 600, 960]);
  });

  it('gives the same answer with one big tile as with many small ones', async () => {
    const squares: [number, number, number][] = Array.from({ length: 40 }, (_, i) => [(i * 97) % 560, (i * 53) % 380, 12 + (i % 5) * 4]);
    const image = imageWithSquares(600, 400, squares);
    const whole = await detectTiled(image, { tileSize: 640, inputChannels: 1 }, brightBlobRunner, { overlap: 64 });
    const tiled = await detectTiled(image, { tileSize: 128, inputChannels: 1 }, brightBlobRunner, { overlap: 48 });
    expect(whole.tiles).toBe(1);
    const key = (b: ScoredBox) => `${b.x1},${b.y1},${b.x2},${b.y2}`;
    expect(tiled.boxes.map(key).sort()).toEqual(whole.boxes.map(key).sort());
  });

  it('runs an image a little larger than the tile whole on a dynamic-size model, but tiles for a fixed-size one', async () => {
    const image = imageWithSquares(600, 560, [[290, 270, 30]]);
    const dims: (readonly number[])[] = [];
    const recording = recordingRunner(dims);
    const once = await detectTiled(image, { tileSize: 512, inputChannels: 1 }, recording, { overlap: 64 });
    expect(once.tiles).toBe(1);
    expect(dims).toEqual([[1, 1, 576, 608]]);
    expect(once.boxes).toHaveLength(1);
    const strict = await detectTiled(image, { tileSize: 512, inputChannels: 1 }, brightBlobRunner, { overlap: 64, singleRunSlack: 1 });
    expect(strict.tiles).toBe(4);
    dims.length = 0;
    const fixed = await detectTiled(image, { tileSize: 512, inputChannels: 3, fixedInputSize: { height: 512, width: 512 } }, recording, { overlap: 64 });
    expect(fixed.tiles).toBe(4);
    expect(dims.every((d) => d.join() === '1,3,512,512')).toBe(true);
    expect(fixed.boxes.map((b) => [b.x1, b.y1, b.x2, b.y2])).toEqual([[290, 270, 320, 300]]);
  });

  it('covers a 1024 px image with 4 runs of 576 px instead of 9 of 512, finding the same objects', async () => {
    const squares: [number, number, number][] = Array.from({ length: 60 }, (_, i) => [(i * 173) % 990, (i * 89) % 990, 10 + (i % 7) * 4]);
    const image = imageWithSquares(1024, 1024, squares);
    const dims: (readonly number[])[] = [];
    const recording = recordingRunner(dims);
    const planned = await detectTiled(image, { tileSize: 512, inputChannels: 1 }, recording, { overlap: 128 });
    expect(planned.tiles).toBe(4);
    expect(dims.every((d) => d.join() === '1,1,576,576')).toBe(true);
    const strict = await detectTiled(image, { tileSize: 512, inputChannels: 1 }, brightBlobRunner, { overlap: 128, singleRunSlack: 1 });
    expect(strict.tiles).toBe(9);
    const key = (b: ScoredBox) => `${b.x1},${b.y1},${b.x2},${b.y2}`;
    expect(planned.boxes.map(key).sort()).toEqual(strict.boxes.map(key).sort());
    expect(planned.boxes.length).toBeGreaterThan(40);
  });

  it('prefers the whole box over a cut one from the neighbouring tile', () => {
    const [left, right] = planTiles({ imageWidth: 400, imageHeight: 100, tileWidth: 256, tileHeight: 100, overlap: 112 });
    expect([left!.x, right!.x, left!.core.x1]).toEqual([0, 144, 200]);
    // The right tile (144..400) reports the object whole at 150..250 (centre 200, its core). The left
    // tile (0..256) reports a looser box that runs into its edge (140..255, centre 197.5, its core).
    const cut = { x1: 140, y1: 10, x2: 255, y2: 60, score: 0.9, classId: 0 };
    const whole = { x1: 150, y1: 10, x2: 250, y2: 60, score: 0.6, classId: 0 };
    const merged = mergeTileDetections(
      [
        { tile: left!, boxes: [cut] },
        { tile: right!, boxes: [whole] },
      ],
      { imageWidth: 400, imageHeight: 100 },
    );
    expect(merged).toEqual([whole]);
  });
});

describe('toDetections', () => {
  it('maps boxes back to original pixels, sizes them in nm, and marks (never drops) out-of-gate objects', () => {
    const boxes: ScoredBox[] = [
      { x1: 20, y1: 20, x2: 60, y2: 60, score: 0.5, classId: 0 }, // 20x20 px original -> 40 nm at 2 nm/px
      { x1: 100, y1: 100, x2: 110, y2: 110, score: 0.9, classId: 1 }, // 5x5 px -> 10 nm: below the gate
      { x1: 150, y1: 0, x2: 400, y2: 50, score: 0.7, classId: 0 }, // clipped at x=200 original, on the edge
    ];
    const d = toDetections(boxes, {
      width: 200,
      height: 100,
      scaleX: 2,
      scaleY: 2,
      nmPerPx: 2,
      sizeGateNm: [20, 250],
      classNames: ['exosome', 'debris'],
    });
    expect(d.map((x) => x.id)).toEqual([0, 1, 2]);
    expect(d.map((x) => x.score)).toEqual([0.9, 0.7, 0.5]);
    expect(d[0]).toMatchObject({ box_px: [50, 50, 55, 55], box_nm: [100, 100, 110, 110], diameter_nm: 10, class_name: 'debris', in_size_range: false, on_edge: false });
    expect(d[1]).toMatchObject({ box_px: [75, 0, 200, 25], on_edge: true, in_size_range: true });
    expect(d[1]!.diameter_nm).toBeCloseTo(Math.sqrt(125 * 25) * 2, 1);
    expect(d[2]).toMatchObject({ box_px: [10, 10, 30, 30], diameter_nm: 40, in_size_range: true, on_edge: false });
    const ungated = toDetections(boxes, { width: 200, height: 100, scaleX: 2, scaleY: 2, nmPerPx: 2, classNames: [] });
    expect(ungated.every((x) => x.in_size_range)).toBe(true);
    expect(ungated[0]!.class_name).toBe('1');
  });
});
