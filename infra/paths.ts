import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: entry files, the ASL files and the training container are found from here. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const fromRoot = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);
