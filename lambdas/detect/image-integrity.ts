/**
 * Decides from a file's bytes alone whether a PNG, JPEG or TIFF is whole:
 * every structure the format declares must lie inside the file. The error
 * code is therefore a function of the bytes, never of a decoder's message
 * (libvips keeps one error buffer per process, and another image decoding at
 * the same time can wipe a failed decode's text to "Unknown error").
 *
 * - TRUNCATED: the file ends before what it declares (a chunk, a segment, the
 *   entropy-coded data, a strip or tile, the image directory).
 * - UNREADABLE: the structure itself is damaged (bad signature, a chunk whose
 *   CRC does not match, markers where data should be, no image data at all).
 */
import { crc32 } from 'node:zlib';
import type { ImageErrorCode } from '../shared/errors.js';
import { readTiffLayout, TiffLayoutError } from './tiff-layout.js';

export type IntegrityFormat = 'png' | 'jpeg' | 'tiff';

export interface IntegrityProblem {
  readonly code: Extract<ImageErrorCode, 'TRUNCATED' | 'UNREADABLE'>;
  /** What is wrong and where (byte offsets), for the error record. */
  readonly detail: string;
}

const truncated = (detail: string): IntegrityProblem => ({ code: 'TRUNCATED', detail });
const damaged = (detail: string): IntegrityProblem => ({ code: 'UNREADABLE', detail });

/** undefined when the file is structurally whole; else what is wrong. */
export function checkImageIntegrity(bytes: Uint8Array, format: IntegrityFormat): IntegrityProblem | undefined {
  switch (format) {
    case 'png':
      return checkPng(bytes);
    case 'jpeg':
      return checkJpeg(bytes);
    case 'tiff':
      return checkTiff(bytes);
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_MAX_CHUNK_LENGTH = 0x7fffffff;

function checkPng(bytes: Uint8Array): IntegrityProblem | undefined {
  if (bytes.length < PNG_SIGNATURE.length) return truncated(`PNG file ends inside its signature (${bytes.length} bytes)`);
  if (PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) return damaged('PNG signature is damaged (bytes 0-7)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = PNG_SIGNATURE.length;
  let chunks = 0;
  let sawImageData = false;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) return truncated(`PNG ends inside a chunk header at byte ${at} (file is ${bytes.length} bytes)`);
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) return damaged(`PNG chunk at byte ${at} has no valid type (${JSON.stringify(type)})`);
    if (length > PNG_MAX_CHUNK_LENGTH) return damaged(`PNG chunk ${type} at byte ${at} declares ${length} bytes, more than PNG allows`);
    if (chunks === 0 && (type !== 'IHDR' || length !== 13)) return damaged(`PNG does not start with a 13-byte IHDR chunk (found ${type}, ${length} bytes)`);
    const end = at + 12 + length;
    if (end > bytes.length) {
      return truncated(`PNG chunk ${type} at byte ${at} declares ${length} bytes of data but the file ends after ${bytes.length} bytes`);
    }
    // Critical chunks (upper-case first letter) carry the image: a CRC mismatch there is damage.
    // Ancillary ones are skipped by every decoder when broken, so they do not fail the image.
    const critical = type.charCodeAt(0) < 0x61;
    if (critical && crc32(bytes.subarray(at + 4, at + 8 + length)) !== view.getUint32(at + 8 + length)) {
      return damaged(`PNG chunk ${type} at byte ${at} fails its CRC check`);
    }
    if (type === 'IDAT') sawImageData = true;
    if (type === 'IEND') return sawImageData ? undefined : damaged('PNG has no IDAT (image data) chunk before IEND');
    chunks++;
    at = end;
  }
  return truncated(`PNG ends after ${bytes.length} bytes without its IEND chunk`);
}

const JPEG = {
  SOI: 0xd8,
  EOI: 0xd9,
  SOS: 0xda,
  TEM: 0x01,
} as const;
const isRestart = (marker: number): boolean => marker >= 0xd0 && marker <= 0xd7;
/** SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
const isFrameStart = (marker: number): boolean => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

function checkJpeg(bytes: Uint8Array): IntegrityProblem | undefined {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== JPEG.SOI) return damaged('JPEG does not start with its SOI marker');
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 2;
  let sawFrame = false;
  let sawScan = false;
  for (;;) {
    if (at >= bytes.length) return truncated(`JPEG ends after ${bytes.length} bytes without its end-of-image marker`);
    if (bytes[at] !== 0xff) return damaged(`JPEG has data where a marker should be, at byte ${at}`);
    // Any number of 0xFF fill bytes may precede a marker.
    while (at < bytes.length && bytes[at] === 0xff) at++;
    if (at >= bytes.length) return truncated(`JPEG ends inside a marker at byte ${at}`);
    const marker = bytes[at]!;
    const markerAt = at - 1;
    at++;
    if (marker === JPEG.EOI) {
      if (!sawFrame || !sawScan) return damaged('JPEG ends (EOI) before any image data');
      return undefined;
    }
    if (marker === JPEG.SOI || marker === 0x00) return damaged(`JPEG has an unexpected marker 0x${marker.toString(16)} at byte ${markerAt}`);
    if (isRestart(marker) || marker === JPEG.TEM) continue;
    if (at + 2 > bytes.length) return truncated(`JPEG ends inside the segment at byte ${markerAt}`);
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    if (length < 2) return damaged(`JPEG segment 0x${marker.toString(16)} at byte ${markerAt} has an impossible length ${length}`);
    if (at + length > bytes.length) {
      return truncated(`JPEG segment 0x${marker.toString(16)} at byte ${markerAt} declares ${length} bytes but the file ends after ${bytes.length}`);
    }
    if (isFrameStart(marker)) sawFrame = true;
    at += length;
    if (marker !== JPEG.SOS) continue;
    if (!sawFrame) return damaged(`JPEG starts a scan at byte ${markerAt} before any frame header`);
    sawScan = true;
    // Entropy-coded data runs to the next marker: 0xFF followed by neither 0x00 (a stuffed byte) nor a restart.
    for (;;) {
      const ff = buffer.indexOf(0xff, at);
      if (ff < 0 || ff + 1 >= bytes.length) {
        return truncated(`JPEG image data is cut off: the file ends after ${bytes.length} bytes without its end-of-image marker`);
      }
      const next = bytes[ff + 1]!;
      if (next === 0x00 || isRestart(next) || next === 0xff) {
        at = next === 0xff ? ff + 1 : ff + 2;
        continue;
      }
      at = ff;
      break;
    }
  }
}

function checkTiff(bytes: Uint8Array): IntegrityProblem | undefined {
  let layout;
  try {
    layout = readTiffLayout(bytes);
  } catch (err) {
    if (err instanceof TiffLayoutError) return err.truncated ? truncated(err.message) : damaged(err.message);
    throw err;
  }
  const { offsets, byteCounts, kind } = layout.firstPageData;
  if (offsets.length === 0) return damaged(`TIFF's first image directory has no ${kind} offsets`);
  if (byteCounts.length !== offsets.length) {
    return damaged(`TIFF's first image directory lists ${offsets.length} ${kind} offsets but ${byteCounts.length} byte counts`);
  }
  for (let i = 0; i < offsets.length; i++) {
    const end = offsets[i]! + byteCounts[i]!;
    if (end > bytes.length) {
      return truncated(`TIFF ${kind} ${i + 1} of ${offsets.length} ends at byte ${end}, beyond the end of the file (${bytes.length} bytes)`);
    }
  }
  return undefined;
}
