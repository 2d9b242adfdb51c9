/**
 * The summarize step: one pass over a batch's per-image results in S3,
 * streaming every per-detection file out as it goes, then the summary and
 * the report. Memory is bounded by the read concurrency, the upload part
 * buffers, 16 bytes per detection (diameters for the statistics) and the
 * report's review data (about 40 bytes of JSON text per detection).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ImageResult, SummarizeOutput } from '../shared/contracts.js';
import { analyticsKey, batchImagesPrefix, BATCH_ID_PATTERN, imageResultKey, RESULT_FILES, resultsPrefix } from '../shared/keys.js';
import { CocoDatasetWriter, cocoImageFor, cocoResultEntries } from './coco.js';
import { csvHeader, detectionCsvRows } from './csv.js';
import { detectionJsonLines } from './jsonl.js';
import { imageKeyFromResultKey } from './paths.js';
import { listKeys, readRecordsFromS3, type RecordEntry } from './record-source.js';
import { readDetectStepFailures, type DetectStepFailure } from './map-failures.js';
import { renderReport, type ReportProps } from './report/report.js';
import { ReviewDataCollector } from './report/review-data.js';
import { createS3TextSink, JsonArrayWriter, type TextSink } from './sinks.js';
import { SOFTWARE } from './software.js';
import { BatchSummaryBuilder, type BatchSummary, type BatchSummaryProps } from './summary.js';
import { ExodetectError } from '../shared/errors.js';

/** The summarize event lacks a valid bucket or batch id. */
export class SummarizeInputError extends ExodetectError {}

/** Failure codes the summarize step itself assigns (detect assigns the others). */
export const SUMMARY_FAILURE_CODES = {
  unreadable: 'RESULT_UNREADABLE',
  missing: 'MISSING_RESULT',
  /** The image's detect invocation failed as a whole (killed, timed out, a bug): the message has the map's error and cause. */
  detectStepFailed: 'DETECT_STEP_FAILED',
} as const;

export interface SummarizeBatchProps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly batchId: string;
  /** Result documents read in parallel. Default 32. */
  readonly concurrency?: number;
  /**
   * List batches/<id>/images/ too and record images that have no result
   * document as failed (MISSING_RESULT). Default true.
   */
  readonly reportMissingResults?: boolean;
  readonly summary?: Omit<BatchSummaryProps, 'batchId'>;
  /** Report options; its review data is collected here. */
  readonly report?: Omit<ReportProps, 'review'>;
  /** Multipart part size for the streamed outputs. Default 8 MiB. */
  readonly partSize?: number;
}

export interface SummarizeBatchResult extends SummarizeOutput {
  readonly keys: {
    readonly summary: string;
    readonly report: string;
    readonly csv: string;
    readonly cocoResults: string;
    readonly cocoDataset: string;
    readonly analytics: string;
  };
}

/** Per-detection outputs written in one pass: CSV, JSON Lines, COCO results, COCO dataset. */
class DetectionOutputs {
  private readonly cocoResults: JsonArrayWriter;
  private readonly cocoDataset: CocoDatasetWriter;
  private nextImageId = 1;

  constructor(
    private readonly batchId: string,
    private readonly sinks: { csv: TextSink; jsonl: TextSink; cocoResults: TextSink; cocoDataset: TextSink },
  ) {
    this.cocoResults = new JsonArrayWriter(sinks.cocoResults);
    this.cocoDataset = new CocoDatasetWriter(sinks.cocoDataset, {
      description: `exodetect predictions for batch ${batchId}`,
      version: SOFTWARE.version,
      contributor: `${SOFTWARE.name} ${SOFTWARE.version}`,
      date_created: new Date().toISOString(),
    });
  }

  async open(): Promise<void> {
    await this.sinks.csv.write(csvHeader());
    await this.cocoResults.open();
  }

  async add(result: ImageResult): Promise<void> {
    const imageId = this.nextImageId++;
    await Promise.all([
      this.sinks.csv.write(detectionCsvRows(this.batchId, result)),
      this.sinks.jsonl.write(detectionJsonLines(this.batchId, result)),
      this.cocoResults.add(cocoResultEntries(imageId, result.detections)),
      this.cocoDataset.addImage(cocoImageFor(this.batchId, imageId, result), result.detections),
    ]);
  }

  /** Stops every upload (aborting multipart uploads) after a failure. */
  async abort(): Promise<void> {
    await Promise.all(Object.values(this.sinks).map((sink) => sink.abort()));
  }

  async close(): Promise<void> {
    await this.cocoResults.closeArray('\n');
    await this.cocoDataset.finish();
    await Promise.all([this.sinks.csv.close(), this.sinks.jsonl.close(), this.sinks.cocoResults.close(), this.sinks.cocoDataset.close()]);
  }
}

function validate(props: SummarizeBatchProps): void {
  if (!props.bucket || typeof props.bucket !== 'string') throw new SummarizeInputError(`bucket must be a non-empty string, got ${JSON.stringify(props.bucket)}`);
  if (typeof props.batchId !== 'string' || !BATCH_ID_PATTERN.test(props.batchId)) {
    throw new SummarizeInputError(`batchId must match ${BATCH_ID_PATTERN}, got ${JSON.stringify(props.batchId)}`);
  }
  const tolerated = props.summary?.toleratedFailurePercentage;
  if (tolerated !== undefined && !(typeof tolerated === 'number' && tolerated >= 0 && tolerated <= 100)) {
    throw new SummarizeInputError(`toleratedFailurePercentage must be a number in [0, 100], got ${JSON.stringify(tolerated)}`);
  }
  if (props.concurrency !== undefined && (!Number.isInteger(props.concurrency) || props.concurrency < 1 || props.concurrency > 256)) {
    throw new SummarizeInputError(`concurrency must be an integer in 1..256, got ${props.concurrency}`);
  }
}

/**
 * Consume result entries into the summary builder and the outputs. Exported
 * for the CLI and tests: any RecordEntry source works.
 */
export async function consumeRecords(
  batchId: string,
  entries: AsyncIterable<RecordEntry>,
  builder: BatchSummaryBuilder,
  onResult: (result: ImageResult) => Promise<void>,
): Promise<Set<string>> {
  const seenImages = new Set<string>();
  for await (const entry of entries) {
    if (entry.record) {
      if (entry.record.batch_id !== batchId) {
        builder.addFailure(entry.record.image_key, SUMMARY_FAILURE_CODES.unreadable, `${entry.resultKey}: belongs to batch "${entry.record.batch_id}", not "${batchId}"`);
        seenImages.add(entry.record.image_key);
        continue;
      }
      seenImages.add(entry.record.image_key);
      builder.add(entry.record);
      if (entry.record.status === 'ok') await onResult(entry.record);
    } else {
      const imageKey = imageKeyFromResultKey(batchId, entry.resultKey);
      seenImages.add(imageKey);
      builder.addFailure(imageKey, SUMMARY_FAILURE_CODES.unreadable, entry.problem);
    }
  }
  return seenImages;
}

/** Whether an object under batches/<id>/images/ is meant to be analysed (folder markers and hidden files are not). */
function isImageObject(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name !== '' && !name.startsWith('.');
}

export async function summarizeBatch(props: SummarizeBatchProps): Promise<SummarizeBatchResult> {
  validate(props);
  const { s3, bucket, batchId } = props;
  const prefix = resultsPrefix(batchId);
  const keys = {
    summary: `${prefix}${RESULT_FILES.summary}`,
    report: `${prefix}${RESULT_FILES.report}`,
    csv: `${prefix}${RESULT_FILES.csv}`,
    cocoResults: `${prefix}${RESULT_FILES.cocoResults}`,
    cocoDataset: `${prefix}${RESULT_FILES.cocoDataset}`,
    analytics: analyticsKey(batchId),
  };
  const sink = (key: string, contentType: string): TextSink => createS3TextSink({ s3, bucket, key, contentType, partSize: props.partSize });
  const outputs = new DetectionOutputs(batchId, {
    csv: sink(keys.csv, 'text/csv; charset=utf-8'),
    jsonl: sink(keys.analytics, 'application/x-ndjson'),
    cocoResults: sink(keys.cocoResults, 'application/json'),
    cocoDataset: sink(keys.cocoDataset, 'application/json'),
  });
  const builder = new BatchSummaryBuilder({ ...props.summary, batchId });
  const review = new ReviewDataCollector({ batchId, excludeOnEdgeFromStatistics: props.summary?.excludeOnEdgeFromStatistics });
  let seen: Set<string>;
  try {
    await outputs.open();
    seen = await consumeRecords(batchId, readRecordsFromS3({ s3, bucket, batchId, concurrency: props.concurrency }), builder, (result) => {
      review.add(result);
      return outputs.add(result);
    });
    await outputs.close();
  } catch (err) {
    await outputs.abort();
    throw err;
  }

  if (props.reportMissingResults ?? true) {
    try {
      let stepFailures: Map<string, DetectStepFailure> | undefined;
      for await (const imageKey of listKeys(s3, bucket, batchImagesPrefix(batchId))) {
        if (!isImageObject(imageKey) || seen.has(imageKey)) continue;
        stepFailures ??= await readDetectStepFailures(s3, bucket, batchId);
        const stepFailure = stepFailures.get(imageKey);
        if (stepFailure) {
          builder.addFailure(imageKey, SUMMARY_FAILURE_CODES.detectStepFailed, `the detect step failed for this image (${stepFailure.error}): ${stepFailure.cause}`);
        } else {
          builder.addFailure(imageKey, SUMMARY_FAILURE_CODES.missing, `no result document at ${imageResultKey(batchId, imageKey)}: the detect step did not finish for this image`);
        }
      }
    } catch (err) {
      // Without list permission on batches/ the summary is still worth writing; say what it could not check.
      if ((err as Error).name !== 'AccessDenied') throw err;
      builder.addNote(`could not list ${batchImagesPrefix(batchId)} (AccessDenied): images without any result document are not reported`);
    }
  }

  const summary: BatchSummary = builder.build();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.summary, Body: JSON.stringify(summary, null, 1), ContentType: 'application/json' }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: keys.report, Body: renderReport(summary, { ...props.report, review: review.serialize() }), ContentType: 'text/html; charset=utf-8' }));
  return {
    batchId,
    images: summary.images.total,
    failed: summary.images.failed,
    detections: summary.detections.total,
    summaryKey: keys.summary,
    reportKey: keys.report,
    failedPercentage: summary.outcome.failed_percentage,
    toleratedFailurePercentage: summary.outcome.tolerated_failure_percentage,
    withinTolerance: summary.outcome.within_tolerance,
    outcomeReason: summary.outcome.reason,
    keys,
  };
}
