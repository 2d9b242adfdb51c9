/**
 * The S3 -> EventBridge event that starts inference, defined once for the
 * stack's rule (infra/) and the local event bridge (local/eventbridge.ts).
 */
import { BATCH_MANIFEST_NAME, PREFIX } from './keys.js';

/** The part of S3's "Object Created" EventBridge event that exodetect reads. */
export interface ObjectCreatedEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'Object Created';
  readonly source: 'aws.s3';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: {
    readonly version: '0';
    readonly bucket: { readonly name: string };
    readonly object: {
      readonly key: string;
      readonly size?: number;
      readonly etag?: string;
      readonly 'version-id'?: string;
      readonly sequencer?: string;
    };
    readonly 'request-id': string;
    readonly requester: string;
    readonly 'source-ip-address'?: string;
    readonly reason: 'PutObject' | 'CompleteMultipartUpload' | 'CopyObject' | 'POST Object';
  };
}

/** An EventBridge event pattern (the subset of the pattern language exodetect uses). */
export type EventPattern = { readonly [field: string]: EventPattern | readonly unknown[] };

/** Batch manifests only (`batches/<id>/batch.json`), not the images uploaded before them. */
export const BATCH_MANIFEST_KEY_WILDCARD = `${PREFIX.batches}*/${BATCH_MANIFEST_NAME}`;

/**
 * The rule's pattern: S3 "Object Created" in the data bucket for a batch
 * manifest. In CDK: `{ source: ['aws.s3'], detailType: ['Object Created'],
 * detail: pattern.detail }`.
 */
export function batchManifestEventPattern(bucketName: string) {
  return {
    source: ['aws.s3'],
    'detail-type': ['Object Created'],
    detail: {
      bucket: { name: [bucketName] },
      object: { key: [{ wildcard: BATCH_MANIFEST_KEY_WILDCARD }] },
    },
  } as const;
}

/**
 * The inference execution name for one version of one batch manifest:
 * `<batchId>-<version id or ETag>`, at most 80 characters of [A-Za-z0-9_-].
 * Step Functions refuses a second execution with the same name, so the same
 * manifest uploaded again is not processed twice; a changed manifest is.
 */
export function inferenceExecutionName(batchId: string, versionOrEtag: string): string {
  const safe = (s: string) => s.replace(/"/g, '').replace(/[^A-Za-z0-9_-]/g, '_');
  const tag = safe(versionOrEtag).slice(0, 40);
  return `${safe(batchId).slice(0, 79 - tag.length)}-${tag}`;
}
