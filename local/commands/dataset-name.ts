/** Names of datasets under datasets/ that the local commands create: they become S3 prefixes and training job names. */
import path from 'node:path';
import { DATASET_NAME_PATTERN } from '../../lambdas/shared/keys.js';
import { InputError } from '../errors.js';


/** A folder's name as a dataset name (a-z, 0-9 and '-': within DATASET_NAME_PATTERN, and the same on any file system). */
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
  if (!DATASET_NAME_PATTERN.test(name)) throw new InputError(`dataset name "${name}" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
}
