/**
 * Text sinks: where the batch files are streamed to. Output is written in
 * chunks as images are read, so no file is ever held whole in memory: to S3
 * through a multipart upload (lib-storage), to a local file, or to memory
 * (tests). Writes are buffered into ~256 KiB chunks to keep overhead low.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export interface TextSink {
  write(text: string): Promise<void>;
  /** Flush and finish; resolves when the data is stored. */
  close(): Promise<void>;
  /** Give up: nothing partial is left behind where the target allows it (S3 multipart uploads are aborted). */
  abort(): Promise<void>;
}

const CHUNK_CHARS = 256 * 1024;

/** Buffers small writes and pushes them into a Node writable with back-pressure. */
class StreamTextSink implements TextSink {
  private buffer: string[] = [];
  private buffered = 0;

  constructor(
    private readonly stream: Writable,
    private readonly finished: Promise<unknown>,
    private readonly onAbort: () => Promise<void> = async () => undefined,
  ) {
    // A failure surfaces on the next write or at close; never as an unhandled rejection.
    finished.catch(() => undefined);
  }

  async write(text: string): Promise<void> {
    this.buffer.push(text);
    this.buffered += text.length;
    if (this.buffered >= CHUNK_CHARS) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const chunk = this.buffer.join('');
    this.buffer = [];
    this.buffered = 0;
    if (!this.stream.write(chunk)) {
      await Promise.race([once(this.stream, 'drain'), this.finished]);
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await this.finished;
  }

  async abort(): Promise<void> {
    this.buffer = [];
    this.buffered = 0;
    await this.onAbort().catch(() => undefined);
    this.stream.destroy();
  }
}

export interface S3TextSinkProps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  /** Multipart part size in bytes. Default 8 MiB (S3's minimum is 5 MiB). */
  readonly partSize?: number;
}

/** Streams to one S3 object; small outputs become a single PutObject. */
export function createS3TextSink(props: S3TextSinkProps): TextSink {
  const partSize = props.partSize ?? 8 * 1024 * 1024;
  if (partSize < 5 * 1024 * 1024) throw new RangeError(`partSize must be >= 5 MiB, got ${partSize}`);
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  const upload = new Upload({
    client: props.s3,
    params: { Bucket: props.bucket, Key: props.key, Body: body, ContentType: props.contentType },
    partSize,
    // One part in flight per file: bounded memory (a few parts per output at most).
    queueSize: 1,
    leavePartsOnError: false,
  });
  return new StreamTextSink(body, upload.done(), () => upload.abort());
}

export function createFileTextSink(path: string): TextSink {
  let stream: Writable | undefined;
  let finished: Promise<unknown> | undefined;
  let inner: StreamTextSink | undefined;
  const ready = async (): Promise<StreamTextSink> => {
    if (inner) return inner;
    await mkdir(dirname(path), { recursive: true });
    stream = createWriteStream(path, { encoding: 'utf8' });
    finished = new Promise((resolve, reject) => {
      stream!.on('finish', resolve);
      stream!.on('error', reject);
    });
    inner = new StreamTextSink(stream, finished);
    return inner;
  };
  return {
    write: async (text) => (await ready()).write(text),
    close: async () => (await ready()).close(),
    abort: async () => {
      await inner?.abort();
      await rm(path, { force: true });
    },
  };
}

/** Collects everything in memory: tests and small exports. */
export class MemoryTextSink implements TextSink {
  private parts: string[] = [];
  closed = false;
  async write(text: string): Promise<void> {
    if (this.closed) throw new Error('write after close');
    this.parts.push(text);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  async abort(): Promise<void> {
    this.parts = [];
    this.closed = true;
  }
  text(): string {
    return this.parts.join('');
  }
}

/** Writes a JSON array element by element: "[", items separated by ",\n", "]". */
export class JsonArrayWriter {
  private count = 0;
  constructor(private readonly sink: TextSink) {}

  get length(): number {
    return this.count;
  }

  async open(prefix = ''): Promise<void> {
    await this.sink.write(`${prefix}[`);
  }

  async add(items: readonly unknown[]): Promise<void> {
    if (items.length === 0) return;
    let text = '';
    for (const item of items) {
      text += (this.count++ === 0 ? '\n' : ',\n') + JSON.stringify(item);
    }
    await this.sink.write(text);
  }

  async closeArray(suffix = ''): Promise<void> {
    await this.sink.write(`${this.count > 0 ? '\n' : ''}]${suffix}`);
  }
}
