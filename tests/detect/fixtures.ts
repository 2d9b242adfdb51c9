/** Shared inputs of the detect tests: the event fixtures, a tiny model and images. */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import type { DetectEvent } from '../../lambdas/shared/contracts.js';
import { buildConstantDetectorModel } from '../helpers/onnx-builder.js';
import { writeTiff } from './fixtures/tiff-writer.js';
import { exodetectMetadata } from '../helpers/model-metadata.js';

export function loadEvent(name: string): DetectEvent {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as DetectEvent;
}

export const testModelBytes = buildConstantDetectorModel({
  layout: 'exodetect',
  rows: [
    [10, 10, 50, 50, 0.9, 0],
    [60, 60, 70, 70, 0.8, 0],
  ],
  metadata: exodetectMetadata({ classNames: ['exosome'], nmPerPx: 1, scoreThreshold: 0.5, tileSize: 256, modelVersion: 'test-1' }),
});

export const goodPng = (): Promise<Buffer> =>
  sharp({ create: { width: 128, height: 96, channels: 3, background: { r: 100, g: 100, b: 100 } } })
    .png()
    .toBuffer();

export const goodTiff = (): Buffer => writeTiff([{ width: 100, height: 80, pixels: new Uint16Array(8000).fill(20000) }]);

export const notAnImage = Buffer.from('this is a text file, not a micrograph\n');
