/**
 * notify's logic: turns a state machine event into a message a person reads
 * in an email, and records a failed batch next to its results.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { batchFailureKey, batchIdFromManifestKey, resultsPrefix, trainingRunKeys } from './keys.js';
import { EventShapeError } from './errors.js';
import { putJson } from './s3-objects.js';
import { readableCause } from './step-functions-cause.js';

export const NOTIFICATION_KINDS = ['batch.succeeded', 'batch.failed', 'model.promoted', 'model.rejected', 'training.failed'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export const NotificationEventSchema = z.object({
  kind: z.enum(NOTIFICATION_KINDS),
  detail: z.record(z.string(), z.unknown()),
});
export type NotificationEvent = z.infer<typeof NotificationEventSchema>;

export interface Notification {
  /** SNS subjects: at most 100 printable ASCII characters. */
  readonly subject: string;
  readonly message: string;
}

export function parseNotificationEvent(event: unknown): NotificationEvent {
  const parsed = NotificationEventSchema.safeParse(event);
  if (!parsed.success) throw new EventShapeError(`notify expects {kind, detail}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

type Detail = Record<string, unknown>;
const obj = (v: unknown): Detail => (v !== null && typeof v === 'object' ? (v as Detail) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? String(Number(v.toFixed(4))) : 'n/a');

/** Step Functions' {Error, Cause} as a person reads it. */
export function describeError(error: unknown): { error: string; cause: string } {
  const e = obj(error);
  return { error: str(e.Error) ?? 'Error', cause: readableCause(str(e.Cause) ?? '') || '(no details)' };
}

export function batchIdOf(detail: Detail): string | undefined {
  return str(detail.batchId) ?? (str(detail.key) ? batchIdFromManifestKey(str(detail.key)!) : undefined);
}

function subject(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length > 100 ? `${ascii.slice(0, 97)}...` : ascii;
}

export function formatNotification(event: NotificationEvent): Notification {
  const d = event.detail;
  switch (event.kind) {
    case 'batch.succeeded': {
      const s = obj(d.summary);
      const id = batchIdOf(d) ?? 'unknown';
      const where = `s3://${str(d.bucket) ?? '<bucket>'}/${str(d.resultsPrefix) ?? resultsPrefix(id)}`;
      return {
        subject: subject(`exodetect: batch ${id} done, ${num(s.detections)} detections`),
        message: [
          `Batch ${id} is done.`,
          `Images: ${num(s.images ?? d.imageCount)} (failed: ${num(s.failed)}), detections: ${num(s.detections)}, model: ${str(d.modelVersion) ?? 'n/a'}.`,
          `Results: ${where}`,
          str(s.reportKey) ? `Report: s3://${str(d.bucket)}/${str(s.reportKey)}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      };
    }
    case 'batch.failed': {
      const id = batchIdOf(d) ?? 'unknown';
      const { error, cause } = describeError(d.error);
      return {
        subject: subject(`exodetect: batch ${id} FAILED (${error})`),
        message: [
          `Batch ${id} failed: ${error}: ${cause}`,
          str(d.key) ? `Manifest: s3://${str(d.bucket)}/${str(d.key)}` : '',
          id !== 'unknown' ? `Failure record: s3://${str(d.bucket)}/${batchFailureKey(id)}` : '',
          'Fix the cause and upload batch.json again to re-run the batch.',
        ]
          .filter(Boolean)
          .join('\n'),
      };
    }
    case 'model.promoted':
    case 'model.rejected': {
      const p = obj(d.promotion);
      const c = obj(p.candidate);
      const v = obj(c.validation);
      const promoted = event.kind === 'model.promoted';
      return {
        subject: subject(`exodetect: model ${str(c.version) ?? '?'} ${promoted ? 'promoted to champion' : 'not promoted'}`),
        message: [
          `Training run ${str(d.runId) ?? '?'} on dataset ${str(d.dataset) ?? '?'} (job ${str(d.trainingJobName) ?? '?'}) produced model ${str(c.version) ?? '?'}.`,
          `Validation: AP50 ${num(v.ap50)}, F1 ${num(v.f1)}, precision ${num(v.precision)}, recall ${num(v.recall)}.`,
          `${promoted ? 'Promoted' : 'Kept the current champion'}: ${str(p.reason) ?? ''}`,
          promoted ? 'New batches use this model from now on.' : `The model stays available as ${str(c.modelKey) ?? 'models/<version>/model.onnx'} (name it in batch.json's model_version to use it).`,
        ].join('\n'),
      };
    }
    case 'training.failed': {
      const { error, cause } = describeError(d.error);
      const problems = obj(obj(obj(d.split).Payload).problems);
      const first = Array.isArray(problems.first) ? (problems.first as unknown[]).map(String) : [];
      return {
        subject: subject(`exodetect: training on ${str(d.dataset) ?? obj(d.request).dataset ?? 'dataset'} FAILED (${error})`),
        message: [
          `Training run ${str(d.runId) ?? '(not started)'} on dataset ${str(d.dataset) ?? String(obj(d.request).dataset ?? '?')} failed: ${error}: ${cause}`,
          first.length ? `The dataset has ${num(problems.count)} annotation problems; the first:\n${first.map((p) => `  ${p}`).join('\n')}` : '',
          str(problems.key) ? `All of them: s3://${str(d.bucket) ?? '<bucket>'}/${str(problems.key)}` : '',
          str(d.runId) ? `Failure record: s3://${str(d.bucket) ?? '<bucket>'}/${trainingFailureKey(str(d.runId)!)}` : '',
          str(d.trainingJobName) ? `SageMaker job: ${str(d.trainingJobName)} (its logs are in CloudWatch /aws/sagemaker/TrainingJobs).` : '',
          'The champion model is unchanged.',
        ]
          .filter(Boolean)
          .join('\n'),
      };
    }
  }
}

export const trainingFailureKey = (runId: string): string => trainingRunKeys(runId).failure;

/** training/<runId>/failure.json: why a training run failed, with the first annotation problems; written when the run id is known. */
export async function recordTrainingFailure(s3: S3Client, detail: Detail, now: Date = new Date()): Promise<string | undefined> {
  const runId = str(detail.runId);
  const bucket = str(detail.bucket);
  if (runId === undefined || bucket === undefined) return undefined;
  const key = trainingFailureKey(runId);
  const { error, cause } = describeError(detail.error);
  const problems = obj(obj(obj(detail.split).Payload).problems);
  await putJson(s3, bucket, key, {
    schema: 'exodetect.training-failure',
    run_id: runId,
    dataset: str(detail.dataset) ?? null,
    error,
    cause,
    problems: { count: typeof problems.count === 'number' ? problems.count : null, key: str(problems.key) ?? null, first: Array.isArray(problems.first) ? problems.first : [] },
    training_job_name: str(detail.trainingJobName) ?? null,
    failed_at: now.toISOString(),
  });
  return key;
}

/** results/<id>/failure.json: the batch failed as a whole; written for batch.failed when the batch id is known. */
export async function recordBatchFailure(s3: S3Client, detail: Detail, now: Date = new Date()): Promise<string | undefined> {
  const batchId = batchIdOf(detail);
  const bucket = str(detail.bucket);
  if (batchId === undefined || bucket === undefined) return undefined;
  const key = batchFailureKey(batchId);
  const { error, cause } = describeError(detail.error);
  await putJson(s3, bucket, key, {
    schema: 'exodetect.batch-failure',
    batch_id: batchId,
    error,
    cause,
    manifest_key: str(detail.key) ?? null,
    failed_at: now.toISOString(),
  });
  return key;
}
