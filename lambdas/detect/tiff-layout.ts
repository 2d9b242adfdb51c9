/**
 * Where a TIFF's first page keeps its pixel data: the strip (or tile) offsets
 * and byte counts of the first image directory, read from the bytes alone.
 * Classic TIFF and BigTIFF, either byte order. Used to tell a truncated file
 * from a damaged one without asking a decoder.
 */
import { ExodetectError } from '../shared/errors.js';

/** The layout cannot be read; `truncated` when the file ends before a structure it declares. */
export class TiffLayoutError extends ExodetectError {
  constructor(
    message: string,
    readonly truncated: boolean,
  ) {
    super(message);
  }
}

export interface TiffLayout {
  readonly bigTiff: boolean;
  readonly littleEndian: boolean;
  readonly firstIfdOffset: number;
  readonly firstPageData: {
    readonly kind: 'strip' | 'tile';
    readonly offsets: readonly number[];
    readonly byteCounts: readonly number[];
  };
}

const TAG = { stripOffsets: 273, stripByteCounts: 279, tileOffsets: 324, tileByteCounts: 325 } as const;
/** Bytes per value of each TIFF field type (SHORT 3, LONG 4, LONG8 16, IFD 13, IFD8 18, ...). */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

export function readTiffLayout(bytes: Uint8Array): TiffLayout {
  const fileSize = bytes.length;
  const cut = (what: string, at: number, size: number) =>
    new TiffLayoutError(`TIFF ${what} at byte ${at} (${size} bytes) lies beyond the end of the file (${fileSize} bytes)`, true);
  if (fileSize < 8) throw new TiffLayoutError(`TIFF ends inside its header (${fileSize} bytes)`, true);
  const little = bytes[0] === 0x49;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  const u64 = (at: number) => Number(view.getBigUint64(at, little));
  const version = u16(2);
  if (version !== 42 && version !== 43) throw new TiffLayoutError(`TIFF header has version ${version}, not 42 (TIFF) or 43 (BigTIFF)`, false);
  const bigTiff = version === 43;
  if (bigTiff && fileSize < 16) throw new TiffLayoutError(`BigTIFF ends inside its header (${fileSize} bytes)`, true);
  const offsetSize = bigTiff ? 8 : 4;
  const readOffset = bigTiff ? u64 : u32;
  const firstIfdOffset = bigTiff ? u64(8) : u32(4);
  if (firstIfdOffset === 0) throw new TiffLayoutError('TIFF has no image directory (its first IFD offset is 0)', false);
  if (firstIfdOffset < (bigTiff ? 16 : 8)) throw new TiffLayoutError(`TIFF's first image directory offset ${firstIfdOffset} points into its header`, false);

  const countSize = bigTiff ? 8 : 2;
  const entrySize = bigTiff ? 20 : 12;
  if (firstIfdOffset + countSize > fileSize) throw cut('first image directory', firstIfdOffset, countSize);
  const entryCount = bigTiff ? u64(firstIfdOffset) : u16(firstIfdOffset);
  const entriesAt = firstIfdOffset + countSize;
  // The directory ends with the offset of the next one.
  const directorySize = countSize + entryCount * entrySize + offsetSize;
  if (firstIfdOffset + directorySize > fileSize) throw cut(`first image directory (${entryCount} entries)`, firstIfdOffset, directorySize);

  const arrays = new Map<number, number[]>();
  for (let i = 0; i < entryCount; i++) {
    const entry = entriesAt + i * entrySize;
    const tag = u16(entry);
    const type = u16(entry + 2);
    const count = bigTiff ? u64(entry + 4) : u32(entry + 4);
    const valueAt = entry + 4 + (bigTiff ? 8 : 4);
    const isDataTag = Object.values(TAG).includes(tag as never);
    const size = TYPE_SIZE[type];
    if (size === undefined) {
      // Readers skip fields of unknown types (TIFF 6.0, section 2); the pixel data tags may not be one.
      if (isDataTag) throw new TiffLayoutError(`TIFF tag ${tag} has unknown type ${type}`, false);
      continue;
    }
    // Every value stored outside the directory must lie inside the file, not only the pixel data's.
    const dataAt = size * count <= offsetSize ? valueAt : readOffset(valueAt);
    if (dataAt + size * count > fileSize) throw cut(`tag ${tag}'s ${count} values`, dataAt, size * count);
    if (!isDataTag) continue;
    if (![3, 4, 16].includes(type)) throw new TiffLayoutError(`TIFF tag ${tag} has type ${type}, not SHORT, LONG or LONG8`, false);
    const values: number[] = new Array(count);
    for (let k = 0; k < count; k++) values[k] = type === 3 ? u16(dataAt + 2 * k) : type === 4 ? u32(dataAt + 4 * k) : u64(dataAt + 8 * k);
    arrays.set(tag, values);
  }
  const tiled = arrays.has(TAG.tileOffsets);
  return {
    bigTiff,
    littleEndian: little,
    firstIfdOffset,
    firstPageData: {
      kind: tiled ? 'tile' : 'strip',
      offsets: arrays.get(tiled ? TAG.tileOffsets : TAG.stripOffsets) ?? [],
      byteCounts: arrays.get(tiled ? TAG.tileByteCounts : TAG.stripByteCounts) ?? [],
    },
  };
}
