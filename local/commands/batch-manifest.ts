/**
 * The batch manifest of a local batch: `batch.json` in the images folder
 * (the same fields as in S3, schema in lambdas/shared/contracts.ts), with
 * command-line flags overriding it field by field.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { BatchManifestSchema, type BatchManifest } from '../../lambdas/shared/contracts.js';
import { InputError } from '../errors.js';
import { parseJsonText } from '../../lambdas/shared/json-syntax.js';

export const FOLDER_MANIFEST = 'batch.json';

/** Flags of `exodetect run` / `upload` that set manifest fields. */
export interface ManifestFlags {
  readonly nmPerPx?: number;
  readonly sizeGate?: [number, number];
  readonly scoreThreshold?: number;
  readonly sample?: string;
  readonly notes?: string;
}

/** `--size-gate 30,150` -> [30, 150]. */
export function parseSizeGate(raw: string): [number, number] {
  const parts = raw.split(/[,\s]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || !parts.every((v) => Number.isFinite(v) && v >= 0) || !(parts[0]! < parts[1]!)) {
    throw new InvalidArgumentError(`--size-gate must be "min,max" in nm with 0 <= min < max, e.g. 30,150; got "${raw}"`);
  }
  return [parts[0]!, parts[1]!];
}

/** `--score-threshold 0.4`: a number in [0, 1]. */
export function parseScoreThreshold(raw: string): number {
  const value = Number(raw);
  if (!(raw.trim() !== '' && value >= 0 && value <= 1)) throw new InvalidArgumentError(`--score-threshold must be a number in [0, 1], got "${raw}"`);
  return value;
}

/** The folder's batch.json, checked; {} when there is none. */
export async function readFolderManifest(imagesDir: string): Promise<{ manifest: BatchManifest; file?: string }> {
  const file = path.join(imagesDir, FOLDER_MANIFEST);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { manifest: {} };
    if (code === 'ENOTDIR') throw new InputError(`${imagesDir} is a file: give the folder that holds the micrographs`);
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = parseJsonText(text);
  } catch (err) {
    throw new InputError(`${file}: ${(err as Error).message}`);
  }
  const parsed = BatchManifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ');
    throw new InputError(`${file} is not a valid batch manifest (${problems}); fields: nm_per_px, score_threshold, size_gate_nm, sample, notes, model_version`);
  }
  return { manifest: parsed.data, file };
}

/** The folder's manifest with the flags laid over it (a flag wins over the file, field by field). */
export async function batchManifest(imagesDir: string, flags: ManifestFlags): Promise<{ manifest: BatchManifest; file?: string }> {
  const { manifest, file } = await readFolderManifest(imagesDir);
  const merged: BatchManifest = {
    ...manifest,
    ...(flags.nmPerPx !== undefined && { nm_per_px: flags.nmPerPx }),
    ...(flags.sizeGate !== undefined && { size_gate_nm: flags.sizeGate }),
    ...(flags.scoreThreshold !== undefined && { score_threshold: flags.scoreThreshold }),
    ...(flags.sample !== undefined && { sample: flags.sample }),
    ...(flags.notes !== undefined && { notes: flags.notes }),
  };
  const checked = BatchManifestSchema.safeParse(merged);
  if (!checked.success) throw new InputError(`batch manifest: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { manifest: checked.data, file };
}
