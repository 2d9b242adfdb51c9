/**
 * Listing a user's folder the way they see it: symbolic links to files and to
 * folders are followed (shared storage often links images in), loops and
 * broken links are skipped and said, hidden files are left out.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DatasetSource } from '../lambdas/training/ingest/ingest.js';
import { InputError } from './errors.js';

export interface SkippedPath {
  readonly path: string;
  readonly reason: string;
}

export interface FolderListing {
  /** Absolute paths of regular files (or links to them), sorted. */
  readonly files: string[];
  readonly skipped: SkippedPath[];
}

export async function walkFolder(root: string): Promise<FolderListing> {
  let info;
  try {
    info = await stat(root);
  } catch {
    throw new InputError(`folder ${root} does not exist`);
  }
  if (!info.isDirectory()) throw new InputError(`${root} is not a folder`);
  const files: string[] = [];
  const skipped: SkippedPath[] = [];
  const visited = new Set<string>();
  const visit = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (visited.has(real)) {
      skipped.push({ path: dir, reason: `a link back to ${real}, already listed (a loop)` });
      return;
    }
    visited.add(real);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      let target;
      try {
        target = entry.isSymbolicLink() ? await stat(full) : entry;
      } catch (err) {
        skipped.push({ path: full, reason: `broken link (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
        continue;
      }
      if (target.isDirectory()) await visit(full);
      else if (target.isFile()) files.push(full);
      else skipped.push({ path: full, reason: 'not a regular file' });
    }
  };
  await visit(root);
  return { files: files.sort(), skipped };
}

/** A folder on disk as a dataset source for the ingestion (paths relative to it, with '/'). */
export async function folderDatasetSource(root: string): Promise<DatasetSource & { readonly skipped: SkippedPath[] }> {
  const listing = await walkFolder(root);
  const relative = new Map(listing.files.map((f) => [path.relative(root, f).split(path.sep).join('/'), f]));
  return {
    description: root,
    skipped: listing.skipped,
    list: async () => [...relative.keys()].sort(),
    read: async (file) => {
      const full = relative.get(file);
      if (!full) throw new InputError(`${file} is not in ${root}`);
      return readFile(full);
    },
  };
}
