/**
 * The canonical ground-truth document (`truth.json`): what a training channel,
 * the promotion head-to-head and `exodetect evaluate` read. Annotation exports
 * (YOLO, COCO, VOC, makesense CSV, exodetect's own) are parsed once, by the
 * ingestion (ingest.ts), into this; nothing else parses exports.
 *
 * One document per channel, beside the channel's images. Paths are relative to
 * the document's folder, with '/'. Boxes are [x1, y1, x2, y2] in the image's
 * own pixels. The trainer's reader is training-container/exodetect_train/annotations.py;
 * tests/training/truth-contract.test.ts reads this side's output with it.
 */
import { z } from 'zod';

export const TRUTH_FILE = 'truth.json';
export const TRUTH_FORMAT = 'exodetect-truth';
/** Readers refuse other versions with a clear message. */
export const TRUTH_VERSION = 1;

export const ProblemSchema = z.object({
  /** Relative to the dataset root. */
  file: z.string(),
  /** 1-based, when the problem sits on a line. */
  line: z.number().int().positive().nullable(),
  problem: z.string(),
});
export type Problem = z.infer<typeof ProblemSchema>;

const Box = z.tuple([z.number(), z.number(), z.number(), z.number()]);

export const TruthObjectSchema = z.object({
  box: Box,
  /** The class as the annotation file names it (YOLO ids resolved through classes.txt). */
  class_name: z.string(),
  /** Closed outline [x0, y0, x1, y1, ...] in px, when the annotation has one (COCO segmentation, YOLO-seg). */
  polygon: z.array(z.number()).nullable(),
  /** Where the object was annotated, for problems found later (e.g. by the trainer's class or size checks). */
  source: z.object({ file: z.string(), line: z.number().int().positive().nullable() }),
});
export type TruthObject = z.infer<typeof TruthObjectSchema>;

export const TruthImageSchema = z.object({
  file: z.string(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** null: no source gave a scale; readers then assume the model's (or the trainer's) scale, and say so. */
  nm_per_px: z.number().positive().nullable(),
  /** 'dataset' (dataset.json, COCO nm_per_px, the request), 'file' (the image's own metadata), 'scale-bar' (its burned-in bar), as inference names them; null when unknown. */
  nm_per_px_source: z.string().nullable(),
  /** Which file and field gave the scale, for a person. */
  nm_per_px_detail: z.string().nullable(),
  /** The annotation file that labels the image. */
  labelled_by: z.string(),
  /** The id that file gives the image (COCO), so that predictions can be matched to it by COCO tools; null otherwise. */
  source_image_id: z.union([z.number(), z.string()]).nullable(),
  objects: z.array(TruthObjectSchema),
});
export type TruthImage = z.infer<typeof TruthImageSchema>;

export const TruthDocumentSchema = z.object({
  format: z.literal(TRUTH_FORMAT),
  version: z.literal(TRUTH_VERSION),
  dataset: z.string(),
  /** 'train', 'validation', 'test', or 'all' for a whole dataset (evaluate). */
  channel: z.string(),
  /** Every class name seen, sorted; dataset.json's classes first when it lists them. */
  class_names: z.array(z.string()),
  /** dataset.json's `classes`, which fix the class list (and the name of the single class); null when it gives none. */
  declared_classes: z.array(z.string()).nullable(),
  images: z.array(TruthImageSchema),
  /** Everything skipped, with file and line. Each problem stands for one skipped item (an object, an image or a file). */
  problems: z.array(ProblemSchema),
  /**
   * Images an annotation file for a whole folder (COCO, makesense CSV) names that the dataset does not hold:
   * their boxes are not used, and not counted as bad (a held-out or not-yet-copied part of a project).
   */
  missing_images: z.array(z.object({ file: z.string(), images: z.array(z.string()), objects: z.number().int().nonnegative() })),
});
export type TruthDocument = z.infer<typeof TruthDocumentSchema>;

export function formatProblem(p: Problem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}: ${p.problem}`;
}
