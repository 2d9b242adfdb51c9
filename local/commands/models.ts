/**
 * `exodetect models`: the models in the local store (the bundled default and
 * every trained one), their validation figures, and which one `exodetect run`
 * uses; `exodetect models use <version|default>` chooses it by hand (a way
 * back to the bundled model, or to an earlier champion).
 */
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { CHAMPION_KEY, DEFAULT_MODEL_VERSION, modelKey, modelMetricsKey, modelPromotionKey, modelRegistrationKey, PREFIX } from '../../lambdas/shared/keys.js';
import { InputError } from '../errors.js';
import { LocalWorkflow } from '../workflow.js';
import { DEFAULT_DATA_DIR, uploadBundledModel } from './run.js';
import { plural } from './wording.js';

export interface StoredModel {
  readonly version: string;
  readonly champion: boolean;
  readonly validation?: { readonly ap50?: number; readonly f1?: number; readonly n_images?: number };
  /** The validation figures are the promotion's, through the inference path (what train printed), not the trainer's own. */
  readonly inferencePath?: boolean;
  readonly dataset?: string;
  /** How many images a refit model trained on after its validated run (its figures are that run's). */
  readonly refitImages?: number;
  /** The model flip-averages each image (trainer hyperparameter tta): four passes an image. */
  readonly tta?: boolean;
  /** The model also runs each image at half size (trainer hyperparameter half_scale_pass): about 1.25x the network time per image. */
  readonly halfScalePass?: boolean;
  /** The score threshold it ships with (its metrics.json). */
  readonly scoreThreshold?: number;
  /** False when its training run's promotion kept the model run uses (promotion.json); absent without a record. */
  readonly promoted?: boolean;
  /** The model its promotion scored on the same validation images, and its figures there: what these figures compare with. */
  readonly comparedWith?: { readonly version: string; readonly ap50?: number; readonly f1?: number };
}

async function withStore<T>(dataDir: string | undefined, port: number | undefined, fn: (workflow: LocalWorkflow) => Promise<T>): Promise<T> {
  const workflow = await LocalWorkflow.start({ dataDir: path.resolve(dataDir ?? DEFAULT_DATA_DIR), port, logLevel: 'ERROR' });
  try {
    await uploadBundledModel(workflow, false);
    return await fn(workflow);
  } finally {
    await workflow.close();
  }
}

export async function listModels(dataDir?: string, port?: number): Promise<StoredModel[]> {
  return withStore(dataDir, port, async (workflow) => {
    const champion = (await workflow.listKeys(CHAMPION_KEY)).length ? (await workflow.getJson<{ version: string }>(CHAMPION_KEY)).version : undefined;
    const versions = (await workflow.listKeys(PREFIX.models))
      .filter((key) => key.endsWith('/model.onnx'))
      .map((key) => key.slice(PREFIX.models.length, -'/model.onnx'.length));
    const out: StoredModel[] = [];
    for (const version of versions.sort()) {
      const metrics = await workflow
        .getJson<{ validation?: StoredModel['validation']; refit?: { images?: number } | null; tta?: boolean; half_scale_pass?: boolean; score_threshold?: number }>(modelMetricsKey(version))
        .catch(() => undefined);
      const registration = await workflow.getJson<{ dataset?: string }>(modelRegistrationKey(version)).catch(() => undefined);
      // The promotion scored the model on its validation images through the inference path (models trained before it kept
      // this record, and the bundled model, have the trainer's figures only).
      const promotion = await workflow
        .getJson<{ promoted?: boolean; champion?: { version?: string } | null; headToHead?: { candidate?: StoredModel['validation']; champion?: StoredModel['validation'] } | null }>(
          modelPromotionKey(version),
        )
        .catch(() => undefined);
      const inferencePath = promotion?.headToHead?.candidate;
      const contender = promotion?.headToHead?.champion;
      const contenderVersion = promotion?.champion?.version;
      out.push({
        version,
        champion: version === champion,
        validation: inferencePath ?? metrics?.validation,
        ...(inferencePath && { inferencePath: true }),
        dataset: registration?.dataset,
        ...(metrics?.refit?.images && { refitImages: metrics.refit.images }),
        ...(metrics?.tta && { tta: true }),
        ...(metrics?.half_scale_pass && { halfScalePass: true }),
        ...(metrics?.score_threshold !== undefined && { scoreThreshold: metrics.score_threshold }),
        ...(promotion?.promoted !== undefined && { promoted: promotion.promoted }),
        ...(contender && contenderVersion && { comparedWith: { version: contenderVersion, ap50: contender.ap50, f1: contender.f1 } }),
      });
    }
    return out;
  });
}

/** Makes `version` the model `exodetect run` uses; `default` removes the champion record, so runs use the bundled model. */
export async function useModel(version: string, dataDir?: string, port?: number): Promise<string> {
  return withStore(dataDir, port, async (workflow) => {
    if (version === DEFAULT_MODEL_VERSION) {
      await workflow.s3.send(new DeleteObjectCommand({ Bucket: workflow.bucket, Key: CHAMPION_KEY }));
      return 'exodetect run now uses the bundled default model (the champion record is removed; the trained models stay in the store).';
    }
    if ((await workflow.listKeys(modelKey(version))).length === 0) throw new InputError(`model ${version} is not in the local store (see exodetect models)`);
    const previous = (await workflow.listKeys(CHAMPION_KEY)).length ? (await workflow.getJson<{ version: string }>(CHAMPION_KEY)).version : null;
    const metrics = await workflow.getJson<{ validation?: unknown }>(modelMetricsKey(version)).catch(() => undefined);
    await workflow.putObject(
      CHAMPION_KEY,
      JSON.stringify(
        {
          format: 'exodetect-champion',
          version,
          model_key: modelKey(version),
          metrics_key: modelMetricsKey(version),
          weights_key: `${PREFIX.models}${version}/model.pt`,
          ...(metrics?.validation ? { metrics: { validation: metrics.validation } } : {}),
          promoted_at: new Date().toISOString(),
          previous_version: previous,
          reason: 'chosen by hand with exodetect models use',
        },
        null,
        2,
      ),
    );
    return `exodetect run now uses model ${version}${previous ? ` (was ${previous})` : ''}.`;
  });
}

export function describeModels(models: readonly StoredModel[]): string[] {
  const champion = models.find((m) => m.champion);
  const rows = models.map((m) => {
    const v = m.validation;
    const bundled = m.version === DEFAULT_MODEL_VERSION;
    // Each model's own validation images: the bundled model's are synthetic, so its figures do not compare with the others'.
    const on = v?.n_images
      ? ` on ${plural(v.n_images, `${bundled ? 'synthetic ' : ''}validation image`)}${
          m.inferencePath ? ' through the inference path' : bundled ? ' (not comparable with models trained on real images: exodetect evaluate scores both on the same ones)' : " (the trainer's own figures)"
        }`
      : '';
    const c = m.comparedWith;
    const against =
      c?.ap50 !== undefined
        ? ` (${c.version === DEFAULT_MODEL_VERSION ? 'the bundled default model' : `model ${c.version}`} there: AP50 ${c.ap50.toFixed(3)}, F1 ${c.f1?.toFixed(3) ?? '?'})`
        : '';
    const figures = v?.ap50 !== undefined ? `AP50 ${v.ap50.toFixed(3)}, F1 ${v.f1?.toFixed(3) ?? '?'}${on}${against}` : 'no metrics';
    const what =
      (bundled ? 'bundled default, trained on synthetic micrographs' : m.dataset ? `trained on ${m.dataset}` : 'trained') +
      (m.refitImages ? `, refit on all ${m.refitImages} images (the figures are its validated run's)` : '') +
      (m.tta ? ', averaging each image with its mirror images (tta: 4x the network time per image)' : '') +
      (m.halfScalePass ? ', a second pass over each image at half size for large particles (half_scale_pass: about 1.25x the network time per image)' : '');
    const inUse = m.champion || (!champion && m.version === DEFAULT_MODEL_VERSION) ? '  <- exodetect run uses this' : '';
    const threshold = m.scoreThreshold !== undefined ? `; score threshold ${m.scoreThreshold}` : '';
    const kept = m.promoted === false && !m.champion ? '; not promoted by its training run' : '';
    return `  ${m.version}: ${what}; ${figures}${threshold}${kept}${inUse}`;
  });
  return [
    `${models.length} model${models.length === 1 ? '' : 's'} in the local store (each with the figures of its own validation images; exodetect evaluate scores them on the same images):`,
    ...rows,
    'exodetect models use <version|default> chooses the one exodetect run uses; --model does it for one run.',
  ];
}
