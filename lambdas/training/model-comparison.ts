/**
 * Head-to-head on the candidate's held-out split: the contender (the
 * champion, or the bundled default model while no trained champion exists)
 * and the candidate run through the production inference path over the run's
 * validation channel, scored by the trainer's metric code on the channel's
 * truth.json (AP50, AP50:95, F1 at each model's recommended threshold),
 * class-agnostic. The promotion then compares like with like.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { trainingRunKeys } from '../shared/keys.js';
import { loadModel, type LoadedModel } from '../detect/model.js';
import { TRUTH_FILE } from './ingest/truth.js';
import type { CompareModels } from './promotion.js';
import { getObjectBytes, getObjectText } from '../shared/s3-objects.js';
import { parseTruthDocument, scoreModelsOnTruth } from '../evaluation/truth-scoring.js';

export interface ComparerProps {
  /** onnxruntime intra-op threads per model. Default: loadModel's default (the vCPUs available). */
  readonly intraOpThreads?: number;
}

/** The CompareModels that promote-model uses: loads both ONNX files from S3 and scores them on training/<runId>/channels/validation/. */
export function createModelComparer(s3: S3Client, bucket: string, props: ComparerProps = {}): CompareModels {
  return async (contender, candidate, runId) => {
    const channelPrefix = trainingRunKeys(runId).channel('validation');
    const text = await getObjectText(s3, bucket, `${channelPrefix}${TRUTH_FILE}`);
    if (text === undefined) return { unavailable: `the run has no ${channelPrefix}${TRUTH_FILE}` };
    const truth = parseTruthDocument(text, `s3://${bucket}/${channelPrefix}${TRUTH_FILE}`);
    if (truth.images.length === 0) return { unavailable: 'the validation split has no labelled images' };
    const load = async (key: string): Promise<LoadedModel | undefined> => {
      const bytes = await getObjectBytes(s3, bucket, key);
      return bytes ? loadModel(bytes, { key, ...(props.intraOpThreads !== undefined && { intraOpThreads: props.intraOpThreads }) }) : undefined;
    };
    const contenderModel = await load(contender.modelKey);
    if (!contenderModel) return { unavailable: `${contender.label}'s model ${contender.modelKey} is missing` };
    const candidateModel = await load(candidate.modelKey);
    if (!candidateModel) {
      await contenderModel.session.release().catch(() => undefined);
      return { unavailable: `the candidate's model ${candidate.modelKey} is missing` };
    }
    try {
      const scores = await scoreModelsOnTruth(truth, [contenderModel, candidateModel], { read: (file) => getObjectBytes(s3, bucket, `${channelPrefix}${file}`) });
      const [c, n] = scores.models;
      return { champion: { ...c!.metrics }, candidate: { ...n!.metrics }, images: n!.metrics.n_images };
    } finally {
      await contenderModel.session.release().catch(() => undefined);
      await candidateModel.session.release().catch(() => undefined);
    }
  };
}
