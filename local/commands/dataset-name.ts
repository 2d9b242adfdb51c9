/** Names of datasets under datasets/ that the local commands create: they become S3 prefixes and training job names. */
import path from 'node:path';
import { InputError } from '../errors.js';

export const DATASET_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** A folder's name as a dataset name. */
export function datasetNameFrom(dir: string): string {
  return (
    path
      .basename(path.resolve(dir))
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'dataset'
  );
}

export function checkDatasetName(name: string): void {
  if (!DATASET_NAME_PATTERN.test(name)) throw new InputError(`dataset name "${name}" must be 1-40 characters of a-z, 0-9 and '-'`);
}
