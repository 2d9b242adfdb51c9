/**
 * split-dataset's logic. Reads datasets/<name>/ once through the ingestion
 * (every annotation format, each image's nm/px by the inference calibration
 * rules, every problem with file and line), splits the labelled images
 * deterministically into train / validation / (test) by image or by sample
 * group, and lays out one SageMaker channel per split:
 *
 *   training/<runId>/channels/<channel>/...          the channel's images (server-side copies) + truth.json
 *   training/<runId>/manifests/<channel>.manifest    S3DataType ManifestFile listing them
 *   training/<runId>/split.json                      the whole split, for the record
 *   training/<runId>/problems.json                   every annotation problem of the dataset
 *
 * Why copies: the trainer reads truth.json from the channel root, and a
 * ManifestFile channel has a single prefix, so truth.json can only sit at the
 * channel root if the channel has its own prefix. The copy is also a snapshot:
 * edits to datasets/ during a run do not leak into it.
 */
import { createHash } from 'node:crypto';
import { CopyObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { modelWeightsKey, trainingRunKeys } from '../shared/keys.js';
import { ConfigError } from '../shared/errors.js';
import { parseTrainingRequest, type TrainingRequest } from './dataset-check.js';
import { groupOf, isPseudoLabelled, PSEUDO_LABEL_FOLDER } from './dataset-files.js';
import { ingestDataset, truthDocument, type IngestProblem } from './ingest/ingest.js';
import { s3DatasetSource } from './ingest/s3-source.js';
import { formatProblem, TRUTH_FILE } from './ingest/truth.js';
import { DatasetError } from './errors.js';
import { readChampion } from './champion.js';
import { mapWithConcurrency } from '../shared/concurrency.js';
import { copySource, objectExists, putJson } from '../shared/s3-objects.js';

export type Channel = 'train' | 'validation' | 'test';
/** The extra channel with the weights to fine-tune from (request.initFrom). */
export const INIT_CHANNEL = 'init';
/** Where the trainer finds them: init_from is relative to /opt/ml/input/data. */
export const INIT_FROM_HYPERPARAMETER = `${INIT_CHANNEL}/model.pt`;

export interface SplitProps {
  /** Hyperparameters every run gets unless the request overrides them. Default: none (the trainer's defaults). */
  readonly defaultHyperparameters?: Readonly<Record<string, string>>;
  /** Default 0.2. */
  readonly validationFraction?: number;
  /**
   * With the default fraction (a request that names none) and at least three times this many groups, at least this
   * many go to validation: the best epoch and the score threshold are chosen on validation, and 6 images (a fifth
   * of 30) are too few to choose them. Default 10 (30 images split 20/10, 200 split 160/40, 20 split 16/4).
   */
  readonly minValidationGroups?: number;
  /** Default 0 (no test channel). */
  readonly testFraction?: number;
  /** Default 42. */
  readonly seed?: number;
  /** Parallel CopyObject calls. Default 16. */
  readonly copyConcurrency?: number;
}

export interface SplitDatasetInput {
  readonly bucket: string;
  readonly dataset: string;
  readonly datasetPrefix: string;
  readonly runId: string;
  readonly fingerprint: string;
  readonly request: unknown;
}

/** Unscaled images named in a channel's counts (the rest counted): the counts travel in the state machine's payload. */
const UNSCALED_NAMED = 5;

export interface ChannelCounts {
  readonly images: number;
  readonly groups: number;
  readonly objects: number;
  /** Annotations, images or files skipped, with their reasons in the channel's truth.json. */
  readonly problems: number;
  /** Of these, images (and their objects) under pseudo-labels/: labelled by a model; only ever in train. */
  readonly pseudoLabelled: { readonly images: number; readonly objects: number };
  /** Images with no scale from any source (request, dataset.json, COCO, the file, a burned-in bar): the trainer
   * assumes its own nm_per_px for them. The first few named. */
  readonly unscaled: { readonly images: number; readonly first: readonly string[] };
}

export interface InputDataChannel {
  readonly ChannelName: Channel | typeof INIT_CHANNEL;
  readonly DataSource: {
    readonly S3DataSource: {
      readonly S3DataType: 'ManifestFile';
      readonly S3Uri: string;
      readonly S3DataDistributionType: 'FullyReplicated';
    };
  };
}

export interface SplitResult {
  readonly inputDataConfig: InputDataChannel[];
  readonly outputPath: string;
  readonly checkpointUri: string;
  readonly hyperparameters: Record<string, string>;
  readonly counts: Partial<Record<Channel, ChannelCounts>> & {
    readonly by: 'image' | 'group';
    readonly seed: number;
    /** Set when the minimum (minValidationGroups) held out more images or groups than the fraction would have. */
    readonly validationRaised?: { readonly fraction: number; readonly byFraction: number; readonly minimum: number };
  };
  readonly splitKey: string;
  /** The model version whose weights the run fine-tunes from, or null. */
  readonly initFrom: string | null;
  /** Annotation problems found by the ingestion: how many (by what they skip), where all of them are, the first few as text, and images the annotation files name but the dataset lacks. */
  readonly problems: {
    readonly count: number;
    readonly byKind: Record<IngestProblem['kind'], number>;
    readonly key: string;
    readonly first: string[];
    readonly missingImages: { readonly file: string; readonly images: number; readonly objects: number; readonly first: string[] }[];
  };
}

/** request.initFrom -> the model version: 'champion' reads models/champion.json; 'default' and versions are taken as named. */
export async function resolveInitFrom(s3: S3Client, bucket: string, initFrom: string | undefined): Promise<string | null> {
  if (initFrom === undefined) return null;
  let version = initFrom;
  if (initFrom === 'champion') {
    const champion = await readChampion(s3, bucket);
    if (!champion) throw new DatasetError('initFrom "champion": there is no models/champion.json yet; use "default" or omit initFrom');
    version = champion.version;
  }
  const key = modelWeightsKey(version);
  if (!(await objectExists(s3, bucket, key))) {
    throw new DatasetError(`initFrom "${initFrom}": s3://${bucket}/${key} does not exist (models registered before weights were kept have none)`);
  }
  return version;
}

export function validateSplitProps(props: SplitProps): Required<SplitProps> {
  const resolved = {
    defaultHyperparameters: props.defaultHyperparameters ?? {},
    validationFraction: props.validationFraction ?? 0.2,
    minValidationGroups: props.minValidationGroups ?? 10,
    testFraction: props.testFraction ?? 0,
    seed: props.seed ?? 42,
    copyConcurrency: props.copyConcurrency ?? 16,
  };
  checkFractions(resolved.validationFraction, resolved.testFraction);
  if (!Number.isInteger(resolved.copyConcurrency) || resolved.copyConcurrency < 1) {
    throw new ConfigError(`copyConcurrency must be a positive integer, got ${resolved.copyConcurrency}`);
  }
  return resolved;
}

function checkFractions(validation: number, test: number): void {
  if (!(validation > 0 && validation < 1)) throw new ConfigError(`validationFraction must be in (0, 1), got ${validation}`);
  if (!(test >= 0 && test < 1)) throw new ConfigError(`testFraction must be in [0, 1), got ${test}`);
  if (validation + test >= 1) {
    throw new ConfigError(`validationFraction + testFraction must leave images for training, got ${validation} + ${test}`);
  }
}

/** Seeded shuffles tried for a split whose held-out channels hold their share of the objects as well as of the images. */
export const SPLIT_BALANCE_TRIES = 64;
/** A split within this of the objects' shares (each held-out channel's object share against its image share) is kept. */
export const SPLIT_BALANCE_TOLERANCE = 0.05;

const hashOrder = (groups: readonly string[], key: (g: string) => string): string[] =>
  groups
    .map((g) => ({ g, h: createHash('sha256').update(key(g)).digest('hex') }))
    .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0))
    .map((x) => x.g);

/**
 * Assigns each group to a channel. Groups are ordered by SHA-256(seed:group),
 * so the result depends only on the set of groups (and their object counts)
 * and the seed; the first round(n*test) go to test, the next
 * round(n*validation) (at least 1) to validation (at least `minValidation`
 * when there are three times as many groups), the rest to train.
 *
 * With `objects` (each group's object count), a shuffle whose held-out
 * channels hold far more or fewer objects than their share of the images is
 * replaced: of SPLIT_BALANCE_TRIES seeded shuffles (SHA-256(seed:k:group) for
 * k >= 1), the first within SPLIT_BALANCE_TOLERANCE, else the closest. Real
 * sets are skewed (one grid with 39 particles, most with 1 or 2): a plain
 * shuffle once left 36 of 102 objects to train on in a 20/10 split.
 */
/** How many of n groups go to validation: the fraction's share (at least one), raised to minValidation when there
 * are at least three times that many groups. */
export function validationGroupCount(n: number, fraction: number, minValidation: number): number {
  return Math.max(1, Math.round(n * fraction), n >= 3 * minValidation ? minValidation : 0);
}

export function assignGroups(
  groups: readonly string[],
  fractions: { validation: number; test: number },
  seed: number,
  minValidation = 0,
  objects?: ReadonlyMap<string, number>,
): Map<string, Channel> {
  const unique = [...new Set(groups)];
  const n = unique.length;
  const nTest = fractions.test > 0 ? Math.max(1, Math.round(n * fractions.test)) : 0;
  const nValidation = validationGroupCount(n, fractions.validation, minValidation);
  if (n - nTest - nValidation < 1) {
    throw new DatasetError(
      `cannot split ${n} group(s) into train/validation${nTest ? '/test' : ''}: need at least ${nTest + nValidation + 1}`,
    );
  }
  const total = objects ? unique.reduce((sum, g) => sum + (objects.get(g) ?? 0), 0) : 0;
  const imbalance = (ordered: readonly string[]): number => {
    if (total === 0) return 0;
    const share = (from: number, to: number) => ordered.slice(from, to).reduce((sum, g) => sum + (objects!.get(g) ?? 0), 0) / total;
    return Math.abs(share(0, nTest) - nTest / n) + Math.abs(share(nTest, nTest + nValidation) - nValidation / n);
  };
  let best = hashOrder(unique, (g) => `${seed}:${g}`);
  let bestImbalance = imbalance(best);
  for (let k = 1; k < SPLIT_BALANCE_TRIES && bestImbalance > SPLIT_BALANCE_TOLERANCE; k++) {
    const ordered = hashOrder(unique, (g) => `${seed}:${k}:${g}`);
    const value = imbalance(ordered);
    if (value < bestImbalance) [best, bestImbalance] = [ordered, value];
  }
  const out = new Map<string, Channel>();
  best.forEach((g, i) => out.set(g, i < nTest ? 'test' : i < nTest + nValidation ? 'validation' : 'train'));
  return out;
}

/** Hyperparameters as SageMaker wants them: a flat map of strings. */
export function mergeHyperparameters(
  defaults: Readonly<Record<string, string>>,
  overrides: TrainingRequest['hyperparameters'],
): Record<string, string> {
  const out: Record<string, string> = { ...defaults };
  for (const [name, value] of Object.entries(overrides ?? {})) {
    if (!/^[A-Za-z0-9_.-]{1,256}$/.test(name)) throw new DatasetError(`hyperparameter name "${name}" is not valid`);
    const text = String(value);
    if (text.length > 2500) throw new DatasetError(`hyperparameter "${name}" is longer than SageMaker's 2500 characters`);
    out[name] = text;
  }
  if (Object.keys(out).length > 100) throw new DatasetError(`SageMaker allows at most 100 hyperparameters, got ${Object.keys(out).length}`);
  return out;
}

export async function splitDataset(s3: S3Client, input: SplitDatasetInput, props: SplitProps = {}): Promise<SplitResult> {
  const config = validateSplitProps(props);
  const request = parseTrainingRequest(input.request);
  const by = request.split?.by ?? 'image';
  const validationFraction = request.split?.validationFraction ?? config.validationFraction;
  const testFraction = request.split?.testFraction ?? config.testFraction;
  const seed = request.split?.seed ?? config.seed;
  checkFractions(validationFraction, testFraction);

  const { bucket, datasetPrefix, runId } = input;
  const initVersion = await resolveInitFrom(s3, bucket, request.initFrom);
  // Every annotation format is read here, once; the channels get the canonical truth.json.
  const ingested = await ingestDataset(s3DatasetSource(s3, bucket, datasetPrefix), { nmPerPx: request.nmPerPx, concurrency: config.copyConcurrency });
  if (ingested.images.length === 0) {
    const first = ingested.problems.slice(0, 20).map((p) => `  ${formatProblem(p)}`).join('\n');
    throw new DatasetError(
      `s3://${bucket}/${datasetPrefix} has no labelled, readable images (${ingested.annotationFiles.length} annotation files, ${ingested.problems.length} problems)` +
        (first ? `:\n${first}` : ''),
    );
  }
  const images = ingested.images.map((i) => i.file);
  // Only human labels are split; pseudo-labels train, so adding them leaves the held-out images as they were.
  const humanLabelled = images.filter((i) => !isPseudoLabelled(i));
  if (humanLabelled.length === 0) {
    throw new DatasetError(
      `s3://${bucket}/${datasetPrefix} holds only pseudo-labelled images (${images.length} under ${PSEUDO_LABEL_FOLDER}/): ` +
        'validation needs images labelled by a person, so add some beside that folder',
    );
  }
  const minValidation = request.split?.validationFraction === undefined ? config.minValidationGroups : 0;
  const objectsOfGroup = new Map<string, number>();
  for (const image of ingested.images) {
    if (isPseudoLabelled(image.file)) continue;
    const group = groupOf(image.file, by);
    objectsOfGroup.set(group, (objectsOfGroup.get(group) ?? 0) + image.objects.length);
  }
  const humanGroups = humanLabelled.map((i) => groupOf(i, by));
  const channelOfGroup = assignGroups(humanGroups, { validation: validationFraction, test: testFraction }, seed, minValidation, objectsOfGroup);
  const nGroups = new Set(humanGroups).size;
  const byFraction = validationGroupCount(nGroups, validationFraction, 0);
  const raisedTo = validationGroupCount(nGroups, validationFraction, minValidation);
  const channelOfImage = new Map(images.map((i): [string, Channel] => [i, isPseudoLabelled(i) ? 'train' : channelOfGroup.get(groupOf(i, by))!]));
  const channels: Channel[] = testFraction > 0 ? ['train', 'validation', 'test'] : ['train', 'validation'];

  const run = trainingRunKeys(runId);
  const channelPrefix = (c: Channel) => run.channel(c);
  // A channel holds its images (server-side copies: a snapshot that later edits to datasets/ do not touch) and truth.json.
  const copies = images.map((file) => ({ from: `${datasetPrefix}${file}`, to: `${channelPrefix(channelOfImage.get(file)!)}${file}` }));
  await mapWithConcurrency(copies, config.copyConcurrency, (copy) =>
    s3.send(new CopyObjectCommand({ Bucket: bucket, Key: copy.to, CopySource: copySource(bucket, copy.from) })),
  );

  // A problem of an image goes with it; a problem of a file as a whole (unreadable, labels for no image) counts in training.
  const problemsOf = (c: Channel) => ingested.problems.filter((p) => (p.image !== null && channelOfImage.has(p.image) ? channelOfImage.get(p.image) === c : c === 'train'));
  const counts: Partial<Record<Channel, ChannelCounts>> = {};
  const inputDataConfig: InputDataChannel[] = [];
  const splitImages: Partial<Record<Channel, string[]>> = {};
  for (const c of channels) {
    const channelImages = ingested.images.filter((i) => channelOfImage.get(i.file) === c);
    splitImages[c] = channelImages.map((i) => i.file);
    const problems = problemsOf(c);
    // Images the annotation files name but the dataset lacks are said once, with the training channel.
    await putJson(s3, bucket, `${channelPrefix(c)}${TRUTH_FILE}`, truthDocument(input.dataset, c, ingested, channelImages, problems, c === 'train' ? ingested.missingImages : []));
    const manifestKey = run.manifest(c);
    const manifest = [{ prefix: `s3://${bucket}/${channelPrefix(c)}` }, ...splitImages[c]!, TRUTH_FILE];
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: JSON.stringify(manifest), ContentType: 'application/json' }),
    );
    inputDataConfig.push({
      ChannelName: c,
      DataSource: {
        S3DataSource: { S3DataType: 'ManifestFile', S3Uri: `s3://${bucket}/${manifestKey}`, S3DataDistributionType: 'FullyReplicated' },
      },
    });
    const pseudo = channelImages.filter((i) => isPseudoLabelled(i.file));
    const unscaled = channelImages.filter((i) => i.nm_per_px === null);
    counts[c] = {
      images: channelImages.length,
      groups: new Set(splitImages[c]!.filter((i) => !isPseudoLabelled(i)).map((i) => groupOf(i, by))).size,
      objects: objectCount(channelImages),
      problems: problems.length,
      pseudoLabelled: { images: pseudo.length, objects: objectCount(pseudo) },
      unscaled: { images: unscaled.length, first: unscaled.slice(0, UNSCALED_NAMED).map((i) => i.file) },
    };
  }
  const problemsKey = run.problems;
  await putJson(s3, bucket, problemsKey, {
    dataset: input.dataset,
    run_id: runId,
    annotation_files: ingested.annotationFiles,
    ignored_files: ingested.ignoredFiles,
    problems: ingested.problems,
    missing_images: ingested.missingImages,
  });

  const hyperparameters = mergeHyperparameters(config.defaultHyperparameters, request.hyperparameters);
  // The version the model is registered under (models/<runId>/) is the one its metadata, card and every result name.
  hyperparameters.model_version ??= runId;
  if (initVersion !== null) {
    // A manifest rather than an S3Prefix: a prefix naming one key would also match model.pt.bak and the like.
    const manifestKey = run.manifest(INIT_CHANNEL);
    const weights = modelWeightsKey(initVersion);
    const manifest = [{ prefix: `s3://${bucket}/${weights.slice(0, weights.lastIndexOf('/') + 1)}` }, weights.slice(weights.lastIndexOf('/') + 1)];
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: manifestKey, Body: JSON.stringify(manifest), ContentType: 'application/json' }));
    inputDataConfig.push({
      ChannelName: INIT_CHANNEL,
      DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: `s3://${bucket}/${manifestKey}`, S3DataDistributionType: 'FullyReplicated' } },
    });
    hyperparameters.init_from ??= INIT_FROM_HYPERPARAMETER;
  }

  const splitKey = run.split;
  await putJson(s3, bucket, splitKey, {
    format: 'exodetect-split',
    version: 1,
    dataset: input.dataset,
    dataset_listing_fingerprint: input.fingerprint,
    run_id: runId,
    by,
    seed,
    fractions: { validation: validationFraction, test: testFraction },
    channels: Object.fromEntries(channels.map((c) => [c, { ...counts[c], images: splitImages[c] }])),
    init_from: initVersion,
  });

  return {
    inputDataConfig,
    outputPath: `s3://${bucket}/${run.output}`,
    checkpointUri: `s3://${bucket}/${run.checkpoints}`,
    hyperparameters,
    counts: { ...counts, by, seed, ...(raisedTo > byFraction && { validationRaised: { fraction: validationFraction, byFraction, minimum: raisedTo } }) },
    splitKey,
    initFrom: initVersion,
    problems: {
      count: ingested.problems.length,
      byKind: countByKind(ingested.problems),
      key: problemsKey,
      first: ingested.problems.slice(0, MAX_PROBLEMS_IN_OUTPUT).map(formatProblem),
      missingImages: ingested.missingImages.map((m) => ({ file: m.file, images: m.images.length, objects: m.objects, first: m.images.slice(0, 3) })),
    },
  };
}

const objectCount = (images: readonly { objects: readonly unknown[] }[]): number => images.reduce((n, i) => n + i.objects.length, 0);

export function countByKind(problems: readonly IngestProblem[]): Record<IngestProblem['kind'], number> {
  const counts = { file: 0, image: 0, object: 0 };
  for (const p of problems) counts[p.kind]++;
  return counts;
}

/** The state payload carries the first problems (for the console and the notification); problems.json has all of them. */
const MAX_PROBLEMS_IN_OUTPUT = 10;
