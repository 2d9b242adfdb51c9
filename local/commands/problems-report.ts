/** How `exodetect check` and `exodetect train` tell a person what the ingestion skipped, and why. */
import { plural } from './wording.js';

export interface ProblemsSummary {
  readonly count: number;
  readonly byKind: { readonly file: number; readonly image: number; readonly object: number };
  /** The first problems as text, files first. */
  readonly first: readonly string[];
  readonly missingImages: readonly { readonly file: string; readonly images: number; readonly objects: number; readonly first: readonly string[] }[];
}

/** The trainer's default max_bad_annotation_fraction (training-container/exodetect_train/hyperparams.py; a test keeps the two equal). */
export const DEFAULT_MAX_BAD_FRACTION = 0.1;
export const MAX_LISTED_PROBLEMS = 10;


export function problemLines(summary: ProblemsSummary, allOf?: string): string[] {
  const lines: string[] = [];
  for (const m of summary.missingImages) {
    lines.push(
      `${m.file} names ${plural(m.images, 'image')} that ${m.images === 1 ? 'is' : 'are'} not in the folder (${m.first.join(', ')}${m.images > m.first.length ? ', ...' : ''}): ` +
        `${m.objects === 1 ? 'its box is' : `their ${m.objects} boxes are`} not used (not an error: the rest of the project may be elsewhere).`,
    );
  }
  if (summary.count === 0) return lines;
  const kinds = [
    summary.byKind.file && `${summary.byKind.file} with a whole file`,
    summary.byKind.image && `${plural(summary.byKind.image, 'image')} skipped`,
    summary.byKind.object && `${plural(summary.byKind.object, 'annotation')} skipped`,
  ].filter(Boolean);
  lines.push(`${plural(summary.count, 'problem')} (${kinds.join(', ')})${summary.count > MAX_LISTED_PROBLEMS ? `, the first ${MAX_LISTED_PROBLEMS}` : ''}:`);
  for (const p of summary.first.slice(0, MAX_LISTED_PROBLEMS)) lines.push(`  ${p}`);
  if (allOf && summary.count > MAX_LISTED_PROBLEMS) lines.push(`All of them: ${allOf}`);
  return lines;
}

/** Whether the trainer would stop on these problems (its rule: skipped / (used objects + skipped) above the limit). */
export function badShareVerdict(problems: number, objects: number, limit = DEFAULT_MAX_BAD_FRACTION): { share: number; fails: boolean } {
  const share = problems + objects > 0 ? problems / (problems + objects) : 0;
  return { share, fails: share > limit };
}
