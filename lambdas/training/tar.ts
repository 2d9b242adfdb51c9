/**
 * A small reader for the tar archives SageMaker writes (model.tar.gz): ustar,
 * GNU long names ('L') and pax headers ('x', path=...). Regular files only;
 * enough for a model directory, no dependency.
 */
import { gunzipSync } from 'node:zlib';

export interface TarEntry {
  /** Without a leading './'. */
  readonly path: string;
  readonly data: Buffer;
}

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

const BLOCK = 512;

function readString(block: Buffer, offset: number, length: number): string {
  const slice = block.subarray(offset, offset + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end === -1 ? slice.length : end).toString('utf8');
}

function readOctal(block: Buffer, offset: number, length: number): number {
  // GNU base-256 for sizes >= 8 GiB: high bit set in the first byte.
  if ((block[offset]! & 0x80) !== 0) {
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + block[i]!;
    return value;
  }
  const text = readString(block, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`invalid octal field "${text}"`);
  return parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = readOctal(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored;
}

function paxPath(data: Buffer): string | undefined {
  // Records: "<len> key=value\n"
  let offset = 0;
  let path: string | undefined;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(data.subarray(offset, space).toString('ascii'));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    offset += length;
  }
  return path;
}

const normalise = (path: string): string => path.replace(/^(\.\/)+/, '').replace(/^\/+/, '');

/** The regular files of an uncompressed tar archive. */
export function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let pendingName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    if (!checksumOk(header)) throw new TarFormatError(`bad header checksum at byte ${offset}`);
    const size = readOctal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) throw new TarFormatError(`entry at byte ${offset} runs past the end of the archive`);
    const data = archive.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'L') {
      pendingName = readString(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      pendingName = paxPath(data) ?? pendingName;
      continue;
    }
    if (type === 'g') continue;
    let name = readString(header, 0, 100);
    const magic = readString(header, 257, 6);
    const prefix = magic.startsWith('ustar') ? readString(header, 345, 155) : '';
    if (prefix) name = `${prefix}/${name}`;
    if (pendingName !== undefined) name = pendingName;
    pendingName = undefined;
    if (type === '0' || type === '\0' || type === '7') {
      entries.push({ path: normalise(name), data: Buffer.from(data) });
    }
  }
  return entries;
}

/** gunzip then readTar. */
export function readTarGz(archive: Uint8Array): TarEntry[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive);
  } catch (error) {
    throw new TarFormatError(`not a gzip file (${(error as Error).message})`);
  }
  return readTar(tar);
}
