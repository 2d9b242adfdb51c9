/**
 * promote-model's logic. The rule (team contract): promote when the
 * candidate's validation AP50 is not lower than the contender's and its F1 is
 * strictly higher. AP50 guards ranking quality over all thresholds, F1 the
 * operating point users see; requiring F1 to rise stops a tie from churning
 * the champion.
 *
 * The contender is the champion; while no trained champion exists it is the
 * bundled default model (models/default/), which inference would otherwise
 * keep using: a first model that finds less than the bundled one is rejected.
 * Only when there is neither is the candidate promoted unopposed.
 *
 * Like with like: when a head-to-head is available (model-comparison.ts),
 * both models are scored on this run's validation split through the
 * inference path and the rule is applied to those figures. Otherwise (the
 * contender's model file is missing, head-to-head switched off) the rule
 * falls back to the champion's recorded validation metrics, and the reason
 * says so; the bundled model's recorded metrics are on synthetic images and
 * are never compared with a real validation split.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { readChampion, writeChampion, type ChampionRecord, type Evaluation } from './champion.js';
import { ChampionRecordError } from './errors.js';
import { ConfigError } from '../shared/errors.js';
import { DEFAULT_MODEL_VERSION, modelHeldOutCheckKey, modelKey, modelPromotionKey } from '../shared/keys.js';
import { getObjectText, objectExists, putJson } from '../shared/s3-objects.js';
import { parseMetrics, RegisteredModelSchema, type RegisteredModel } from './model-registration.js';
import { cardSection } from './promotion-words.js';

export interface PromotionDecision {
  readonly promoted: boolean;
  readonly reason: string;
}

const f = (x: number): string => x.toFixed(4);

export function decidePromotion(candidate: Evaluation, champion: Evaluation | undefined, championVersion?: string, contenderLabel?: string): PromotionDecision {
  if (champion === undefined) return { promoted: true, reason: 'first model: there is no champion yet' };
  const who = contenderLabel ?? (championVersion ? `the champion ${championVersion}` : 'the champion');
  const apOk = candidate.ap50 >= champion.ap50;
  const f1Ok = candidate.f1 > champion.f1;
  const figures = `AP50 ${f(candidate.ap50)} vs ${f(champion.ap50)}, F1 ${f(candidate.f1)} vs ${f(champion.f1)} (${who})`;
  if (apOk && f1Ok) return { promoted: true, reason: `better than ${who}: ${figures}` };
  const why = [!apOk && 'AP50 is lower', !f1Ok && 'F1 is not higher'].filter(Boolean).join(' and ');
  return { promoted: false, reason: `not promoted: ${why}: ${figures}` };
}

export interface HeadToHead {
  readonly champion: Evaluation;
  readonly candidate: Evaluation;
  readonly images: number;
}

/** The model the candidate must beat. */
export interface Contender {
  readonly kind: 'champion' | 'bundled-default';
  readonly version: string;
  readonly modelKey: string;
  /** For messages: "champion 20261130-0612" or "the bundled default model". */
  readonly label: string;
}

/** Scores contender and candidate on the run's validation split, or says why it cannot. */
export type CompareModels = (contender: Contender, candidate: RegisteredModel, runId: string) => Promise<HeadToHead | { unavailable: string }>;

export const BUNDLED_DEFAULT_LABEL = 'the bundled default model';

export interface PromoteModelInput {
  readonly bucket: string;
  readonly dataset: string;
  readonly runId: string;
  readonly fingerprint: string;
  readonly candidate: RegisteredModel;
}

/**
 * Below this many annotated objects in the validation split, AP50 and F1 swing by tenths from one
 * object to the next: no promotion is decided on so few (the model stays registered and can be chosen
 * by hand). 30 objects put one object at about 3 % of recall.
 */
export const DEFAULT_MIN_VALIDATION_OBJECTS = 30;

export interface PromoteProps {
  /** Default DEFAULT_MIN_VALIDATION_OBJECTS. */
  readonly minValidationObjects?: number;
}

export interface PromotionResult extends PromotionDecision {
  readonly candidate: { readonly version: string; readonly modelKey: string; readonly validation: Evaluation };
  readonly champion: { readonly version: string; readonly validation: Evaluation | null } | null;
  /** What the candidate was compared with: the champion, the bundled default model (no trained champion yet), or nothing. */
  readonly contender: Contender['kind'] | null;
  /** Which figures the rule compared. */
  readonly comparison: 'first-model' | 'head-to-head' | 'recorded';
  /** Both models on this run's validation split, when the head-to-head ran. */
  readonly headToHead: HeadToHead | null;
}

/** The champion's validation figures: from champion.json, else from its metrics.json. */
async function appendToCard(s3: S3Client, bucket: string, cardKey: string, section: string): Promise<void> {
  const card = await getObjectText(s3, bucket, cardKey);
  if (card === undefined) return; // registered without a card: nothing to add to
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: cardKey, Body: `${card.replace(/\n*$/, '\n')}${section}`, ContentType: 'text/markdown; charset=utf-8' }));
}

async function championValidation(s3: S3Client, bucket: string, champion: ChampionRecord): Promise<Evaluation> {
  if (champion.metrics?.validation) return champion.metrics.validation;
  const key = champion.metrics_key ?? `models/${champion.version}/metrics.json`;
  const text = await getObjectText(s3, bucket, key);
  if (text === undefined) {
    throw new ChampionRecordError(`champion ${champion.version} has no validation metrics: ${key} not found`);
  }
  return parseMetrics(text, `s3://${bucket}/${key}`).validation;
}

export async function promoteModel(
  s3: S3Client,
  input: PromoteModelInput,
  now: Date = new Date(),
  compare?: CompareModels,
  props: PromoteProps = {},
): Promise<PromotionResult> {
  const minObjects = props.minValidationObjects ?? DEFAULT_MIN_VALIDATION_OBJECTS;
  if (!(Number.isInteger(minObjects) && minObjects >= 0)) throw new ConfigError(`minValidationObjects must be a whole number >= 0, got ${minObjects}`);
  const champion = await readChampion(s3, input.bucket);
  // A refit model has trained on this run's validation images (the candidate) or may have (a champion refit on the
  // same dataset): on the held-out images each is represented by its validated run's model, trained without them.
  const championHeldOutCheck = champion && (await objectExists(s3, input.bucket, modelHeldOutCheckKey(champion.version))) ? modelHeldOutCheckKey(champion.version) : undefined;
  const contender: Contender | undefined = champion
    ? { kind: 'champion', version: champion.version, modelKey: championHeldOutCheck ?? champion.model_key, label: `the champion ${champion.version}` }
    : (await objectExists(s3, input.bucket, modelKey(DEFAULT_MODEL_VERSION)))
      ? { kind: 'bundled-default', version: DEFAULT_MODEL_VERSION, modelKey: modelKey(DEFAULT_MODEL_VERSION), label: BUNDLED_DEFAULT_LABEL }
      : undefined;
  const refitNote = [input.candidate.heldOutCheckKey && "the candidate's", championHeldOutCheck && "the champion's"].filter(Boolean);
  let headToHead: HeadToHead | null = null;
  let fallbackWhy = 'head-to-head disabled';
  if (contender && compare) {
    const outcome = await compare(contender, { ...input.candidate, modelKey: input.candidate.heldOutCheckKey ?? input.candidate.modelKey }, input.runId);
    if ('unavailable' in outcome) fallbackWhy = outcome.unavailable;
    else headToHead = outcome;
  }
  const contenderEval = headToHead?.champion ?? (champion ? await championValidation(s3, input.bucket, champion) : undefined);
  const candidateEval = headToHead?.candidate ?? input.candidate.validation;
  const rule = decidePromotion(candidateEval, contenderEval, champion?.version, contender?.label);
  const comparison: PromotionResult['comparison'] = headToHead ? 'head-to-head' : champion ? 'recorded' : 'first-model';
  const reason =
    comparison === 'head-to-head'
      ? `${rule.reason}; both models on this run's validation split (${headToHead!.images} image${headToHead!.images === 1 ? '' : 's'}, inference path` +
        `${refitNote.length ? `; ${refitNote.join(' and ')} refit model${refitNote.length > 1 ? 's' : ''} represented by ${refitNote.length > 1 ? 'their' : 'its'} validated run's, trained without those images` : ''})`
      : comparison === 'recorded'
        ? `${rule.reason}; recorded validation metrics of each model (no head-to-head: ${fallbackWhy})`
        : contender
          ? `first trained model: ${BUNDLED_DEFAULT_LABEL} could not be compared on this run's validation split (${fallbackWhy})`
          : 'first model: there is no champion and no bundled default model to compare with';
  const validationObjects = candidateEval.n_objects;
  const tooFew = validationObjects !== undefined && validationObjects < minObjects;
  const decision: PromotionDecision = tooFew
    ? {
        promoted: false,
        reason:
          `not promoted: this run's validation split holds ${validationObjects} annotated object${validationObjects === 1 ? '' : 's'}, ` +
          `too few to tell two models apart (at least ${minObjects}: annotate more images). What it measured: ${reason}`,
      }
    : { promoted: rule.promoted, reason };
  if (decision.promoted) {
    await writeChampion(s3, input.bucket, {
      version: input.candidate.version,
      model_key: input.candidate.modelKey,
      metrics_key: input.candidate.metricsKey,
      weights_key: input.candidate.weightsKey ?? null,
      metrics: { validation: input.candidate.validation, ...(input.candidate.test && { test: input.candidate.test }) },
      dataset: input.dataset,
      dataset_listing_fingerprint: input.fingerprint,
      run_id: input.runId,
      promoted_at: now.toISOString(),
      previous_version: champion?.version ?? null,
      reason: decision.reason,
    });
  }
  const result: PromotionResult = {
    ...decision,
    candidate: { version: input.candidate.version, modelKey: input.candidate.modelKey, validation: input.candidate.validation },
    champion: contender ? { version: contender.version, validation: contenderEval ?? null } : null,
    contender: contender?.kind ?? null,
    comparison,
    headToHead,
  };
  // Beside the model, promoted or not: `exodetect models` shows its figures through the inference path from here.
  await putJson(s3, input.bucket, modelPromotionKey(input.candidate.version), { format: 'exodetect-promotion', version: 1, decided_at: now.toISOString(), ...result });
  // The card gives the trainer's figures (PyTorch, training scale); the ones to quote went through the inference path.
  if (headToHead) await appendToCard(s3, input.bucket, input.candidate.cardKey, cardSection(result, Boolean(input.candidate.heldOutCheckKey)));
  return result;
}

export const PromoteModelEventSchema = z.object({
  bucket: z.string().min(1),
  dataset: z.string().min(1),
  runId: z.string().min(1),
  fingerprint: z.string().min(1),
  candidate: RegisteredModelSchema,
});
