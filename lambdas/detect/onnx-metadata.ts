/**
 * Reads an ONNX model's `metadata_props` straight from the protobuf wire
 * format (onnxruntime-node does not expose them). Only the top level of
 * ModelProto is walked; the graph (field 7) is skipped without decoding, so
 * this costs microseconds even for large models.
 */
import { ModelError } from '../shared/errors.js';

const MODEL_PROTO_METADATA_PROPS = 14;
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

class WireReader {
  position = 0;
  constructor(readonly bytes: Uint8Array, readonly end: number = bytes.length) {}

  done(): boolean {
    return this.position >= this.end;
  }

  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) throw new RangeError('truncated varint');
      const byte = this.bytes[this.position++]!;
      result += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return result;
      multiplier *= 128;
    }
    throw new RangeError('varint too long');
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.position += 8;
        break;
      case WIRE_LEN: {
        const length = this.varint();
        this.position += length;
        break;
      }
      case WIRE_I32:
        this.position += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.position > this.end) throw new RangeError('field runs past the end');
  }

  bytesField(): Uint8Array {
    const length = this.varint();
    const start = this.position;
    this.position += length;
    if (this.position > this.end) throw new RangeError('field runs past the end');
    return this.bytes.subarray(start, this.position);
  }
}

const utf8 = new TextDecoder('utf-8');

function readStringEntry(bytes: Uint8Array): [string, string] {
  const reader = new WireReader(bytes);
  let key = '';
  let value = '';
  while (!reader.done()) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === WIRE_LEN && (field === 1 || field === 2)) {
      const text = utf8.decode(reader.bytesField());
      if (field === 1) key = text;
      else value = text;
    } else reader.skip(wireType);
  }
  return [key, value];
}

/** `metadata_props` as a plain object. Throws ModelError if the bytes are not a protobuf message. */
export function readOnnxMetadata(model: Uint8Array): Record<string, string> {
  const props: Record<string, string> = {};
  const reader = new WireReader(model);
  try {
    while (!reader.done()) {
      const tag = reader.varint();
      const field = Math.floor(tag / 8);
      const wireType = tag & 7;
      if (field === MODEL_PROTO_METADATA_PROPS && wireType === WIRE_LEN) {
        const [key, value] = readStringEntry(reader.bytesField());
        props[key] = value;
      } else reader.skip(wireType);
    }
  } catch (err) {
    throw new ModelError(`model is not a valid ONNX file: ${(err as Error).message}`, { cause: err });
  }
  return props;
}
