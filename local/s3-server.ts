/**
 * The local stand-in for S3: s3rver on loopback, data in a folder.
 * Used by the `exodetect` command, the demo, integration tests and benchmarks.
 */
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';

const require = createRequire(import.meta.url);

/**
 * s3rver encrypts list continuation tokens with single DES, which OpenSSL 3
 * only offers in its legacy provider: paginated listings then fail with HTTP
 * 500. Two-key triple DES with both keys equal is single DES, and is in the
 * default provider, so swap it in for 'des' alone.
 */
function patchDesForS3rver(): void {
  const marker = Symbol.for('exodetect.desPatched');
  const mod = crypto as unknown as Record<symbol, boolean>;
  if (mod[marker]) return;
  const original = { cipher: crypto.createCipheriv, decipher: crypto.createDecipheriv };
  const swap = (algorithm: string, key: crypto.CipherKey): [string, crypto.CipherKey] =>
    algorithm === 'des' && Buffer.isBuffer(key) && key.length === 8
      ? ['des-ede-cbc', Buffer.concat([key, key])]
      : [algorithm, key];
  (crypto as { createCipheriv: unknown }).createCipheriv = (algorithm: string, key: crypto.CipherKey, ...rest: unknown[]) =>
    (original.cipher as (...a: unknown[]) => unknown)(...swap(algorithm, key), ...rest);
  (crypto as { createDecipheriv: unknown }).createDecipheriv = (algorithm: string, key: crypto.CipherKey, ...rest: unknown[]) =>
    (original.decipher as (...a: unknown[]) => unknown)(...swap(algorithm, key), ...rest);
  mod[marker] = true;
}

/** An S3 notification record as s3rver emits it (the shape of S3's own event notifications). */
export interface S3EventRecord {
  readonly eventName: string; // e.g. 'ObjectCreated:Put', 'ObjectCreated:Post' (multipart)
  readonly eventTime: string;
  readonly s3: {
    readonly bucket: { readonly name: string };
    readonly object: { readonly key: string; readonly size?: number; readonly eTag?: string; readonly sequencer?: string };
  };
}

export interface LocalS3ServerProps {
  /** Folder for the objects. */
  readonly directory: string;
  /** Buckets to create at start. Default: none. */
  readonly buckets?: readonly string[];
  /** Port on 127.0.0.1. Default: 0, a free port. */
  readonly port?: number;
}

export interface LocalS3Server {
  /** e.g. http://127.0.0.1:43123 */
  readonly endpoint: string;
  readonly port: number;
  /** Emits 'object' with an S3EventRecord for every object created or deleted. */
  readonly events: EventEmitter;
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} on 127.0.0.1 is already in use: stop the other process or choose another port`);
    this.name = 'PortInUseError';
  }
}

/**
 * s3rver's run() never rejects on a taken port: listen's error goes to an
 * unhandled 'error' event and run() hangs. So a fixed port is probed first.
 */
async function assertPortFree(port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

export async function startLocalS3Server(props: LocalS3ServerProps): Promise<LocalS3Server> {
  patchDesForS3rver();
  await mkdir(props.directory, { recursive: true });
  await assertPortFree(props.port ?? 0);
  const S3rver = require('s3rver');
  const server = new S3rver({
    address: '127.0.0.1',
    port: props.port ?? 0,
    directory: props.directory,
    silent: true,
    configureBuckets: (props.buckets ?? []).map((name) => ({ name })),
  });
  // s3rver decodes x-amz-copy-source with decodeURI, which leaves %2B, %2F etc. encoded: a key with
  // '+' (sent as %2B, as real S3 requires) would not be found. Re-encode so decodeURI gives the key back.
  (server.middleware as Array<(ctx: { headers: Record<string, string | undefined> }, next: () => Promise<unknown>) => unknown>).unshift(
    (ctx, next) => {
      const source = ctx.headers['x-amz-copy-source'];
      if (source) ctx.headers['x-amz-copy-source'] = encodeURI(decodeURIComponent(source));
      return next();
    },
  );
  const events = new EventEmitter();
  server.on('event', (event: { Records?: S3EventRecord[] }) => {
    for (const record of event.Records ?? []) events.emit('object', record);
  });
  let address: AddressInfo;
  try {
    address = (await server.run()) as AddressInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(props.port ?? 0);
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    port: address.port,
    events,
    close: async () => {
      await server.close();
    },
  };
}
