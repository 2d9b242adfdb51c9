import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Detection } from '../../lambdas/shared/contracts.js';
import type { KeyStrip } from '../../lambdas/detect/key-strip.js';
import { blendRgba, detectionKey, drawBoxes, renderOverlay, renderOverlayPictures, scaleBarNm, scaleBarSvg, toDisplay8 } from '../../lambdas/detect/overlay.js';

function detection(box: [number, number, number, number], extra: Partial<Detection> = {}): Detection {
  return {
    id: 0,
    box_px: box,
    box_nm: box,
    diameter_nm: 50,
    box_diameter_nm: 50,
    area_nm2: 1963.5,
    feret_min_nm: 50,
    feret_max_nm: 50,
    roundness: 1,
    outline_px: null,
    outline_method: 'box',
    score: 0.9,
    class_id: 0,
    class_name: 'exosome',
    on_edge: false,
    in_size_range: true,
    ...extra,
  };
}

/** A key's SVG pieces as one text. */
const svgText = (key: KeyStrip) => key.pieces.map((piece) => piece.svg).join('');

const pixel = (rgb: Uint8Array, width: number, x: number, y: number) => Array.from(rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));

describe('overlay', () => {
  it('draws green boxes for in-range objects and orange for the rest, dashed on the edge', () => {
    const width = 100;
    const rgb = new Uint8Array(width * 100 * 3).fill(128);
    drawBoxes(rgb, width, 100, [detection([10, 10, 30, 30]), detection([50, 50, 80, 70], { in_size_range: false }), detection([0, 85, 100, 100], { on_edge: true })], 1, 1);
    expect(pixel(rgb, width, 10, 20)).toEqual([0x34, 0xe0, 0x5a]); // left edge
    expect(pixel(rgb, width, 29, 29)).toEqual([0x34, 0xe0, 0x5a]); // bottom-right corner (x2, y2 exclusive)
    expect(pixel(rgb, width, 20, 20)).toEqual([128, 128, 128]); // inside untouched
    expect(pixel(rgb, width, 65, 50)).toEqual([0xff, 0x9d, 0x2e]);
    const edgeRow = Array.from({ length: 100 }, (_, x) => pixel(rgb, width, x, 85)[0]);
    expect(edgeRow.filter((v) => v === 0x34).length).toBeGreaterThan(40);
    expect(edgeRow.filter((v) => v === 128).length).toBeGreaterThan(20);
  });

  it('picks round scale bars and stretches 16-bit contrast to 8 bits', () => {
    expect(scaleBarNm(1000)).toBe(200);
    expect(scaleBarNm(2400)).toBe(500);
    expect(scaleBarNm(70)).toBe(10);
    const bar = scaleBarSvg(1000, 800, 2);
    expect(bar.svg).toContain('>500 nm<');
    expect(bar.left).toBeLessThan(100);
    expect(bar.top).toBeGreaterThan(700);
    const sixteen = new Uint16Array(1000).map((_, i) => 10_000 + i * 10);
    const display = toDisplay8({ width: 100, height: 10, bitDepth: 16, pixels: sixteen });
    expect(display[0]).toBe(0);
    expect(display[999]).toBe(255);
    expect(display[500]).toBeGreaterThan(100);
    expect(display[500]).toBeLessThan(155);
  });

  it('blends a raster clipped to the image', () => {
    const rgb = new Uint8Array(4 * 4 * 3);
    const over = { width: 2, height: 2, data: new Uint8Array([255, 0, 0, 255, 255, 0, 0, 0, 255, 0, 0, 128, 255, 0, 0, 255]) };
    blendRgba(rgb, 4, 4, over, 3, 3);
    expect(pixel(rgb, 4, 3, 3)).toEqual([255, 0, 0]);
    blendRgba(rgb, 4, 4, over, 0, 0);
    expect(pixel(rgb, 4, 1, 0)).toEqual([0, 0, 0]);
    expect(pixel(rgb, 4, 0, 1)).toEqual([128, 0, 0]);
  });

  it('encodes a JPEG of the image size, scaled down beyond the maximum edge', async () => {
    const pixels = new Uint8Array(300 * 200).fill(90);
    const small = await renderOverlay({ width: 300, height: 200, bitDepth: 8, pixels }, [detection([10, 10, 60, 60])], { nmPerPx: 1.5 });
    expect(await sharp(small).metadata()).toMatchObject({ format: 'jpeg', width: 300, height: 200, channels: 3 });
    const shrunk = await renderOverlay({ width: 300, height: 200, bitDepth: 8, pixels }, [], { nmPerPx: 1.5, maxEdge: 150 });
    expect(await sharp(shrunk).metadata()).toMatchObject({ width: 150, height: 100 });
  });

  it('encodes the preview beside the overlay: the same display pixels and size, grey, without boxes or scale bar', async () => {
    const pixels = new Uint8Array(600 * 400).fill(90);
    const image = { width: 600, height: 400, bitDepth: 8 as const, pixels };
    const { overlay, preview } = await renderOverlayPictures(image, [detection([20, 20, 120, 120])], { nmPerPx: 1.5, maxEdge: 300, preview: true });
    expect(await sharp(preview!).metadata()).toMatchObject({ format: 'jpeg', width: 300, height: 200, channels: 1 });
    expect(await sharp(overlay).metadata()).toMatchObject({ width: 300, height: 200, channels: 3 });
    const at = async (jpeg: Buffer, x: number, y: number): Promise<number[]> => {
      const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
      return [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x + 1) * info.channels)];
    };
    // The box's left edge (x 20 -> 10 at half size) is green on the overlay, plain background on the preview.
    const [r, g] = await at(overlay, 10, 30);
    expect(g! - r!).toBeGreaterThan(30); // a 1 px line, softened by JPEG chroma subsampling
    expect(Math.abs((await at(preview!, 10, 30))[0]! - 90)).toBeLessThanOrEqual(3);
    // The scale bar's corner (bottom left) is dark on the overlay only.
    expect(Math.abs((await at(preview!, 12, 190))[0]! - 90)).toBeLessThanOrEqual(3);
    expect((await renderOverlayPictures(image, [], { nmPerPx: 1.5 })).preview).toBeUndefined();
  });

  it('keys the colours with the image counts, the size range when there is one, and the threshold', () => {
    const detections = [
      detection([10, 10, 30, 30]),
      detection([40, 40, 60, 60], { on_edge: true }),
      detection([70, 70, 75, 75], { in_size_range: false }),
    ];
    const gated = svgText(detectionKey(600, detections, { scoreThreshold: 0.4989, sizeGateNm: [30, 150] }));
    expect(gated).toContain('>2 vesicles of 30-150 nm<');
    expect(gated).toContain('>1 outside that range<');
    expect(gated).toContain('>1 cut by the image edge<');
    expect(gated).toContain('0.499<');
    // The outside colour is drawn; the dashed swatch is the edge's.
    expect(gated).toContain('#ff9d2e');
    expect(gated.match(/stroke-dasharray/g)).toHaveLength(1);
    const plain = detectionKey(600, detections.slice(0, 1), { scoreThreshold: 0.5, sizeGateNm: null, caption: 'a.png \u00b7 model v1' });
    expect(svgText(plain)).toContain('>1 vesicle<');
    expect(svgText(plain)).not.toMatch(/outside|edge|#ff9d2e|dasharray/);
    expect(svgText(plain)).toContain('>a.png \u00b7 model v1<');
  });

  it('puts the key beneath the image, with the scale bar in it: nothing is drawn over the image but the outlines', async () => {
    const pixels = new Uint8Array(300 * 200).fill(90);
    const image = { width: 300, height: 200, bitDepth: 8 as const, pixels };
    let key: KeyStrip | undefined;
    const keyed = await renderOverlay(image, [], {
      nmPerPx: 1.5,
      below: (width, scaleBar) => (key = detectionKey(width, [], { scoreThreshold: 0.5, sizeGateNm: null, scaleBar })),
    });
    const { data, info } = await sharp(keyed).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([300, 200 + key!.height]);
    // The bottom left, where the bar goes without a key, is the image's own grey.
    for (const [x, y] of [[10, 190], [40, 185], [150, 199]] as const) expect(Math.abs(data[(y * 300 + x) * 3]! - 90)).toBeLessThanOrEqual(3);
    expect(data[((200 + key!.height - 2) * 300 + 5) * 3]!).toBeLessThan(50); // the strip: dark grey
    // The key's bar: 450 nm wide at 1.5 nm/px, a round tenth is 50 nm (33 px), white, at the strip's right end.
    expect(svgText(key!)).toContain('>50 nm<');
    const row = 200 + Math.round(key!.height / 2);
    const white = Array.from({ length: 300 }, (_, x) => data[(row * 300 + x) * 3]! > 200);
    expect(white.slice(240, 290).filter(Boolean).length).toBeGreaterThan(25);
  });
});
