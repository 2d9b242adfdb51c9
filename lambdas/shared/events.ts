/**
 * The S3 -> EventBridge event that starts inference, defined once for the
 * stack's rule (infra/) and the local event bridge (local/eventbridge.ts).
 */
import { z } from 'zod';
import { BATCH_MANIFEST_NAME, PREFIX } from './keys.js';

/**
 * S3's "Object Created" EventBridge event: what start-inference validates and the local event bridge
 * builds. The envelope's fields are optional here because start-inference reads only `detail`.
 */
export const ObjectCreatedEventSchema = z.object({
  version: z.literal('0').optional(),
  id: z.string().optional(),
  'detail-type': z.literal('Object Created').optional(),
  source: z.literal('aws.s3').optional(),
  account: z.string().optional(),
  time: z.string().optional(),
  region: z.string().optional(),
  resources: z.array(z.string()).optional(),
  detail: z.object({
    version: z.literal('0').optional(),
    bucket: z.object({ name: z.string().min(1) }),
    object: z
      .object({
        key: z.string().min(1),
        size: z.number().optional(),
        etag: z.string().optional(),
        'version-id': z.string().optional(),
        sequencer: z.string().optional(),
      })
      .passthrough(),
    'request-id': z.string().optional(),
    requester: z.string().optional(),
    'source-ip-address': z.string().optional(),
    reason: z.enum(['PutObject', 'CompleteMultipartUpload', 'CopyObject', 'POST Object']).optional(),
  }),
});
export type ObjectCreatedEvent = z.infer<typeof ObjectCreatedEventSchema>;

/** Which version of the object an event announces: its version id, else its ETag, else the event's sequencer. */
export function announcedVersion(event: ObjectCreatedEvent): string | undefined {
  const object = event.detail.object;
  return object['version-id'] ?? object.etag ?? object.sequencer;
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
