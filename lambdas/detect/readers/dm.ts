/**
 * Gatan DigitalMicrograph files (.dm3, .dm4): a tree of tag groups and
 * tags; images live under ImageList.<i>.ImageData (Data, DataType,
 * Dimensions) with their spatial calibration under
 * ImageData.Calibrations.Dimension.<axis> (Scale, Units, Origin).
 *
 * Layout (big-endian structure, data in the header's byte order):
 *   header: version u32 (3|4), root length (u32 | u64 in DM4), byte order u32 (1 little, 0 big)
 *   group:  sorted u8, open u8, entry count (u32 | u64)
 *   entry:  kind u8 (20 group, 21 tag), label length u16, label, [DM4: entry byte length u64]
 *   tag:    "%%%%", info count (u32 | u64), info values (u32 | u64), data
 *   info:   [simple type] | [18 string, length] | [15 struct, name length, field count, (name length, type)...]
 *           | [20 array, element type, length] | [20 array, 15, name length, field count, (name length, type)..., length]
 *   simple types: 2 int16, 3 int32, 4 uint16, 5 uint32, 6 float32, 7 float64, 8 bool, 9 int8, 10 uint8, 11 int64, 12 uint64
 *
 * The first ImageList entry is usually a small RGB thumbnail; the largest
 * grey image is the micrograph.
 */
import { ImageError } from '../../shared/errors.js';
import { ByteView } from './byte-view.js';
import { SAMPLE_BYTES, type SampleType } from './raster.js';
import type { PixelSizeField, ScientificImage } from './types.js';

const SIMPLE_TYPES: Record<number, SampleType> = {
  2: 'int16',
  3: 'int32',
  4: 'uint16',
  5: 'uint32',
  6: 'float32',
  7: 'float64',
  8: 'uint8',
  9: 'int8',
  10: 'uint8',
  11: 'int64',
  12: 'uint64',
};
const TYPE_STRUCT = 15;
const TYPE_STRING = 18;
const TYPE_ARRAY = 20;
const ENTRY_GROUP = 20;
const ENTRY_TAG = 21;
const MAX_DEPTH = 64;
const MAX_INFO = 1000;
/** ImageData.DataType values that are not grey images. */
const COMPLEX_DATA_TYPES = new Set([3, 5, 13, 27, 28]);
const RGB_DATA_TYPES = new Set([8, 23]);

interface DmArray {
  readonly kind: 'array';
  readonly elementType: number;
  readonly length: number;
  readonly offset: number;
  readonly byteLength: number;
}
type DmValue = number | number[] | string | DmArray;
interface DmTag {
  readonly kind: 'tag';
  readonly value: DmValue;
}
interface DmGroup {
  readonly kind: 'group';
  readonly entries: { readonly label: string; readonly node: DmGroup | DmTag }[];
}

/** 3 or 4 when the bytes start like a DigitalMicrograph file. */
export function dmVersion(bytes: Uint8Array): 3 | 4 | undefined {
  if (bytes.length < 20 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0) return undefined;
  const version = bytes[3];
  if (version !== 3 && version !== 4) return undefined;
  const orderAt = version === 3 ? 8 : 12;
  const order = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(orderAt, false);
  const root = orderAt + 4;
  return order <= 1 && bytes[root]! <= 1 && bytes[root + 1]! <= 1 ? version : undefined;
}

class TagTreeParser {
  private pos: number;
  private readonly wide: boolean;
  readonly little: boolean;

  constructor(
    private readonly b: ByteView,
    version: 3 | 4,
  ) {
    this.wide = version === 4;
    const orderAt = this.wide ? 12 : 8;
    this.little = b.u32(orderAt, false) === 1;
    this.pos = orderAt + 4;
  }

  private size(): number {
    const value = this.wide ? this.b.u64(this.pos, false) : this.b.u32(this.pos, false);
    this.pos += this.wide ? 8 : 4;
    return value;
  }

  group(depth = 0): DmGroup {
    if (depth > MAX_DEPTH) throw this.b.damaged(`tag groups nested deeper than ${MAX_DEPTH} levels at byte ${this.pos}`);
    this.b.need(this.pos, 2, 'a tag group header');
    this.pos += 2; // sorted, open
    const count = this.size();
    const entries: DmGroup['entries'] = [];
    // Each entry takes at least 3 bytes, so a short file ends this loop with TRUNCATED long before a huge count would.
    for (let i = 0; i < count; i++) entries.push(this.entry(depth));
    return { kind: 'group', entries };
  }

  private entry(depth: number): DmGroup['entries'][number] {
    const at = this.pos;
    const kind = this.b.u8(at);
    const labelLength = this.b.u16(at + 1, false);
    const label = this.b.latin1(at + 3, labelLength);
    this.pos = at + 3 + labelLength;
    if (kind !== ENTRY_GROUP && kind !== ENTRY_TAG) throw this.b.damaged(`tag entry at byte ${at} has kind ${kind} (expected 20 or 21)`);
    if (this.wide) this.size(); // the entry's length in bytes: not needed when reading every entry in order
    return { label, node: kind === ENTRY_GROUP ? this.group(depth + 1) : this.tag(label) };
  }

  private tag(label: string): DmTag {
    const at = this.pos;
    if (this.b.latin1(at, 4) !== '%%%%') throw this.b.damaged(`tag "${label}" at byte ${at} lacks its %%%% marker`);
    this.pos += 4;
    const count = this.size();
    if (count < 1 || count > MAX_INFO) throw this.b.damaged(`tag "${label}" at byte ${at} declares ${count} type descriptors`);
    const info: number[] = [];
    for (let i = 0; i < count; i++) info.push(this.size());
    return { kind: 'tag', value: this.value(label, info) };
  }

  private simple(type: number): number {
    const sample = SIMPLE_TYPES[type]!;
    const at = this.pos;
    this.b.need(at, SAMPLE_BYTES[sample], 'a tag value');
    this.pos += SAMPLE_BYTES[sample];
    const view = new DataView(this.b.bytes.buffer, this.b.bytes.byteOffset, this.b.bytes.byteLength);
    switch (sample) {
      case 'int16':
        return view.getInt16(at, this.little);
      case 'int32':
        return view.getInt32(at, this.little);
      case 'uint16':
        return view.getUint16(at, this.little);
      case 'uint32':
        return view.getUint32(at, this.little);
      case 'float32':
        return view.getFloat32(at, this.little);
      case 'float64':
        return view.getFloat64(at, this.little);
      case 'int8':
        return view.getInt8(at);
      case 'int64':
        return Number(view.getBigInt64(at, this.little));
      case 'uint64':
        return Number(view.getBigUint64(at, this.little));
      default:
        return view.getUint8(at);
    }
  }

  /** Field types of a struct described from info[first] on: name length, field count, (name length, type)... */
  private structTypes(label: string, info: number[], first: number): number[] {
    const fields = info[first + 1] ?? -1;
    if (fields < 0 || info.length < first + 2 + 2 * fields) throw this.b.damaged(`struct tag "${label}" has an incomplete type description`);
    const types: number[] = [];
    for (let i = 0; i < fields; i++) {
      const type = info[first + 3 + 2 * i]!;
      if (SIMPLE_TYPES[type] === undefined) throw this.b.damaged(`struct tag "${label}" has a field of type ${type}`);
      types.push(type);
    }
    return types;
  }

  private value(label: string, info: number[]): DmValue {
    const type = info[0]!;
    if (SIMPLE_TYPES[type] !== undefined) return this.simple(type);
    if (type === TYPE_STRING) {
      const length = info[1] ?? 0;
      const text = this.b.latin1(this.pos, length);
      this.pos += length;
      return text;
    }
    if (type === TYPE_STRUCT) return this.structTypes(label, info, 1).map((t) => this.simple(t));
    if (type !== TYPE_ARRAY) throw this.b.damaged(`tag "${label}" has unknown type ${type}`);
    const elementType = info[1] ?? -1;
    let elementBytes: number;
    let length: number;
    if (SIMPLE_TYPES[elementType] !== undefined) {
      elementBytes = SAMPLE_BYTES[SIMPLE_TYPES[elementType]];
      length = info[2] ?? -1;
    } else if (elementType === TYPE_STRUCT) {
      const types = this.structTypes(label, info, 2);
      elementBytes = types.reduce((sum, t) => sum + SAMPLE_BYTES[SIMPLE_TYPES[t]!], 0);
      length = info[4 + 2 * types.length] ?? -1;
    } else {
      throw this.b.damaged(`array tag "${label}" has elements of unknown type ${elementType}`);
    }
    if (length < 0) throw this.b.damaged(`array tag "${label}" has no length`);
    const byteLength = length * elementBytes;
    this.b.need(this.pos, byteLength, `the ${length} values of tag "${label}"`);
    const array: DmArray = { kind: 'array', elementType, length, offset: this.pos, byteLength };
    this.pos += byteLength;
    return array;
  }
}

function child(group: DmGroup | undefined, label: string): DmGroup | DmTag | undefined {
  return group?.entries.find((e) => e.label === label)?.node;
}
function childGroup(group: DmGroup | undefined, label: string): DmGroup | undefined {
  const node = child(group, label);
  return node?.kind === 'group' ? node : undefined;
}
function childValue(group: DmGroup | undefined, label: string): DmValue | undefined {
  const node = child(group, label);
  return node?.kind === 'tag' ? node.value : undefined;
}

/** A Units tag: an array of UTF-16 code units (usual), of bytes, or a string. */
function text(b: ByteView, value: DmValue | undefined, little: boolean): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (value.elementType === 4) {
    let out = '';
    for (let i = 0; i < value.length; i++) out += String.fromCharCode(b.u16(value.offset + 2 * i, little));
    return out.replace(/\0+$/, '');
  }
  if (value.elementType === 9 || value.elementType === 10) return b.latin1(value.offset, value.length).replace(/\0+$/, '');
  return undefined;
}

interface Candidate {
  readonly index: number;
  readonly imageData: DmGroup;
  readonly data: DmArray;
  readonly dims: number[];
  readonly dataType: number | undefined;
}

function candidates(root: DmGroup): Candidate[] {
  const list = childGroup(root, 'ImageList');
  const out: Candidate[] = [];
  list?.entries.forEach((entry, index) => {
    if (entry.node.kind !== 'group') return;
    const imageData = childGroup(entry.node, 'ImageData');
    const data = childValue(imageData, 'Data');
    const dimensions = childGroup(imageData, 'Dimensions');
    if (!imageData || typeof data !== 'object' || Array.isArray(data) || !dimensions) return;
    const dims = dimensions.entries.map((e) => (e.node.kind === 'tag' && typeof e.node.value === 'number' ? e.node.value : NaN));
    const dataType = childValue(imageData, 'DataType');
    out.push({ index, imageData, data, dims, dataType: typeof dataType === 'number' ? dataType : undefined });
  });
  return out;
}

function pixelSize(b: ByteView, c: Candidate, little: boolean): PixelSizeField | undefined {
  const axes = childGroup(childGroup(c.imageData, 'Calibrations'), 'Dimension');
  const axis = (i: number) => {
    const node = axes?.entries[i]?.node;
    if (node?.kind !== 'group') return undefined;
    const scale = childValue(node, 'Scale');
    return typeof scale === 'number' ? { scale, unit: text(b, childValue(node, 'Units'), little) ?? '' } : undefined;
  };
  const x = axis(0);
  if (!x) return undefined;
  const y = axis(1);
  // DM's default for an uncalibrated axis: scale 1, no unit.
  if (x.unit.trim() === '' && x.scale === 1) return undefined;
  return {
    x: x.scale,
    ...(y && y.unit === x.unit && { y: y.scale }),
    unit: x.unit,
    field: `ImageList.${c.index}.ImageData.Calibrations.Dimension.0.Scale`,
  };
}

export function readDm(bytes: Uint8Array, key: string): ScientificImage {
  const version = dmVersion(bytes);
  if (version === undefined) throw new ImageError(key, 'NOT_AN_IMAGE', 'not a DigitalMicrograph DM3/DM4 file');
  const format = version === 3 ? 'dm3' : 'dm4';
  const b = new ByteView(bytes, key, format.toUpperCase());
  const parser = new TagTreeParser(b, version);
  const root = parser.group();
  const all = candidates(root);
  const grey = all.filter((c) => c.dataType === undefined || !(RGB_DATA_TYPES.has(c.dataType) || COMPLEX_DATA_TYPES.has(c.dataType)));
  if (grey.length === 0) {
    if (all.length > 0) {
      const types = [...new Set(all.map((c) => c.dataType))].join(', ');
      throw new ImageError(key, 'UNSUPPORTED_FORMAT', `${format.toUpperCase()} file holds only RGB or complex images (DataType ${types}): use a grey image`);
    }
    throw b.damaged('no image in its tag tree (ImageList.<i>.ImageData with Data and Dimensions)');
  }
  const area = (c: Candidate) => (c.dims[0] ?? 0) * (c.dims[1] ?? 1);
  const chosen = grey.reduce((best, c) => (area(c) > area(best) ? c : best));
  const [width, height = 1, ...rest] = chosen.dims;
  if (chosen.dims.length < 2) {
    throw new ImageError(key, 'UNSUPPORTED_FORMAT', `${format.toUpperCase()} file holds a ${chosen.dims.length}-D dataset (a spectrum?), not an image`);
  }
  if (!chosen.dims.every((d) => Number.isInteger(d) && d > 0)) throw b.damaged(`image dimensions ${chosen.dims.join(' x ')} are not positive integers`);
  const sample = SIMPLE_TYPES[chosen.data.elementType];
  if (!sample) throw b.damaged(`image data of element type ${chosen.data.elementType}`);
  const pages = rest.reduce((a, d) => a * d, 1);
  const expected = width! * height * pages;
  if (chosen.data.length !== expected) {
    throw b.damaged(`ImageList.${chosen.index}.ImageData.Data holds ${chosen.data.length} values but Dimensions say ${chosen.dims.join(' x ')} = ${expected}`);
  }
  const frameBytes = width! * height * SAMPLE_BYTES[sample];
  const warnings: string[] = [];
  if (pages > 1) warnings.push(`file holds ${pages} frames (${chosen.dims.join(' x ')}): only the first was analysed`);
  return {
    format,
    raster: { width: width!, height, type: sample, littleEndian: parser.little, bytes: bytes.subarray(chosen.data.offset, chosen.data.offset + frameBytes) },
    pages,
    pixelSize: pixelSize(b, chosen, parser.little),
    warnings,
  };
}
