/**
 * Bounds-checked reads from a file's bytes for the scientific formats
 * (DM3/DM4, MRC): every read past the end becomes an ImageError TRUNCATED
 * naming the file, the format and where the bytes ran out, decided from the
 * bytes alone.
 */
import { ImageError } from '../../shared/errors.js';

export class ByteView {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    /** The image's key or path, for error messages. */
    readonly key: string,
    /** The format's name, for error messages ("DM4", "MRC"). */
    readonly format: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws TRUNCATED unless bytes [at, at + length) exist; `what` says what was being read. */
  need(at: number, length: number, what: string): void {
    if (!(at >= 0 && length >= 0 && at + length <= this.bytes.length)) {
      throw new ImageError(
        this.key,
        'TRUNCATED',
        `${this.format} file is truncated: ${what} needs bytes ${at}..${at + length} but the file ends at byte ${this.bytes.length}`,
      );
    }
  }

  /** An inconsistency in the file's own structure (not a short file). */
  damaged(message: string): ImageError {
    return new ImageError(this.key, 'UNREADABLE', `damaged ${this.format} file: ${message}`);
  }

  u8(at: number): number {
    this.need(at, 1, 'a field');
    return this.view.getUint8(at);
  }

  u16(at: number, little: boolean): number {
    this.need(at, 2, 'a field');
    return this.view.getUint16(at, little);
  }

  i32(at: number, little: boolean): number {
    this.need(at, 4, 'a field');
    return this.view.getInt32(at, little);
  }

  u32(at: number, little: boolean): number {
    this.need(at, 4, 'a field');
    return this.view.getUint32(at, little);
  }

  /** A 64-bit unsigned integer as a number; above 2^53 it cannot be a size in a file that fits in memory. */
  u64(at: number, little: boolean): number {
    this.need(at, 8, 'a field');
    const value = this.view.getBigUint64(at, little);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.damaged(`a 64-bit size at byte ${at} is ${value}`);
    return Number(value);
  }

  f32(at: number, little: boolean): number {
    this.need(at, 4, 'a field');
    return this.view.getFloat32(at, little);
  }

  f64(at: number, little: boolean): number {
    this.need(at, 8, 'a field');
    return this.view.getFloat64(at, little);
  }

  latin1(at: number, length: number): string {
    this.need(at, length, 'a text field');
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, length).toString('latin1');
  }
}
