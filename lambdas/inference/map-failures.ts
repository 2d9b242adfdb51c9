/**
 * Why an image has no result document: the detect step's Distributed Map
 * writes its run's outcome (ResultWriter) under results/<id>/map/<run>/, and
 * every FAILED child record holds the images it was given (Input) with the
 * error and cause that ended it (an out-of-memory kill, a timeout, a bug).
 * Summarize reads those records so a missing result says what happened to
 * the image instead of only that nothing came back.
 *
 * The SUCCEEDED records (each invocation's per-image status list) are left
 * for people inspecting a map run; every fact in them is also in the
 * per-image result documents summarize reads.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { mapResultsPrefix } from '../shared/keys.js';
import { getJson, listAllKeys } from '../shared/s3-objects.js';
import { readableCause } from '../shared/step-functions-cause.js';

export interface DetectStepFailure {
  /** The Step Functions error name, e.g. Lambda.Unknown, States.Timeout, TypeError. */
  readonly error: string;
  /** One readable line: the Lambda's own errorMessage when the cause is Lambda's JSON. */
  readonly cause: string;
}

const ManifestSchema = z.object({
  ResultFiles: z.object({ FAILED: z.array(z.object({ Key: z.string() })).default([]) }).passthrough(),
});
const FailedRecordSchema = z.object({ Input: z.string(), Error: z.string().optional(), Cause: z.string().optional() });
const ChildInputSchema = z.object({ Items: z.array(z.object({ Key: z.string() })) });

const MAX_CAUSE_CHARS = 300;

/** One line of at most 300 characters: the map's records carry whole stack traces. */
function oneLine(cause: string | undefined): string {
  const line = readableCause((cause ?? '').trim()).split('\n')[0]!.trim();
  return line.length <= MAX_CAUSE_CHARS ? line : `${line.slice(0, MAX_CAUSE_CHARS - 1)}…`;
}

/**
 * Image key -> the failure of the child execution that held it, over every
 * map run of the batch (a redriven run writes its own manifest; the last
 * one listed wins). Empty when the map wrote nothing (it never ran).
 */
export async function readDetectStepFailures(s3: S3Client, bucket: string, batchId: string): Promise<Map<string, DetectStepFailure>> {
  const failures = new Map<string, DetectStepFailure>();
  const manifests = (await listAllKeys(s3, bucket, mapResultsPrefix(batchId))).filter((k) => k.endsWith('/manifest.json'));
  for (const manifestKey of manifests) {
    const manifest = ManifestSchema.safeParse(await readJson(s3, bucket, manifestKey));
    if (!manifest.success) continue;
    for (const { Key } of manifest.data.ResultFiles.FAILED) {
      const records = z.array(FailedRecordSchema).safeParse(await readJson(s3, bucket, Key));
      if (!records.success) continue;
      for (const record of records.data) {
        const input = parseChildInput(record.Input);
        if (!input) continue;
        const failure = { error: record.Error ?? 'States.TaskFailed', cause: oneLine(record.Cause) };
        for (const item of input.Items) failures.set(item.Key, failure);
      }
    }
  }
  return failures;
}

/** A record that is not JSON explains nothing; it must not stop the summary either. */
async function readJson(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  try {
    return await getJson<unknown>(s3, bucket, key);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

function parseChildInput(text: string): z.infer<typeof ChildInputSchema> | undefined {
  try {
    const parsed = ChildInputSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
