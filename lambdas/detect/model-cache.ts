/**
 * One model per Lambda container: fetched from S3 once and reused across
 * invocations while its ETag is unchanged (a HEAD per invocation notices a
 * replaced object). Concurrent callers share the same load.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from '../shared/s3-objects.js';
import { ModelError } from '../shared/errors.js';
import { loadModel, type LoadedModel, type LoadModelProps } from './model.js';

export type ModelLoader = (bytes: Uint8Array, props: LoadModelProps) => Promise<LoadedModel>;

export interface ModelCacheProps {
  readonly s3: S3Client;
  /** Passed to loadModel for every model loaded. Default: loadModel's defaults. */
  readonly loadProps?: Omit<LoadModelProps, 'key'>;
  /** Injectable for tests. Default loadModel. */
  readonly loader?: ModelLoader;
}

export class ModelCache {
  private entry: { bucket: string; key: string; etag: string; model: Promise<LoadedModel> } | undefined;

  constructor(private readonly props: ModelCacheProps) {}

  async get(bucket: string, key: string): Promise<LoadedModel> {
    let etag: string;
    try {
      const head = await this.props.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      etag = head.ETag ?? '';
    } catch (err) {
      if (isNotFound(err)) throw new ModelError(`model s3://${bucket}/${key} does not exist`, { cause: err });
      throw err;
    }
    const cached = this.entry;
    if (cached && cached.bucket === bucket && cached.key === key && cached.etag === etag && etag !== '') return cached.model;

    const model = this.fetchAndLoad(bucket, key);
    this.entry = { bucket, key, etag, model };
    // A failed load must not be cached: the next invocation (a Step Functions retry) tries again.
    model.catch(() => {
      if (this.entry?.model === model) this.entry = undefined;
    });
    return model;
  }

  private async fetchAndLoad(bucket: string, key: string): Promise<LoadedModel> {
    let bytes: Uint8Array;
    try {
      const object = await this.props.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!object.Body) throw new ModelError(`model s3://${bucket}/${key} has no body`);
      bytes = await object.Body.transformToByteArray();
    } catch (err) {
      if (isNotFound(err)) throw new ModelError(`model s3://${bucket}/${key} does not exist`, { cause: err });
      throw err;
    }
    const loader = this.props.loader ?? loadModel;
    return loader(bytes, { ...this.props.loadProps, key });
  }
}
