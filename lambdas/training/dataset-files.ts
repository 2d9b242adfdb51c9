/**
 * What the files under datasets/<name>/ are: images, annotation files, and
 * which annotation file belongs to which image. Pure: works on key lists.
 */
import { posix } from 'node:path';
import { isTrainableImage } from '../shared/image-files.js';

/** YOLO txt, COCO json, Pascal VOC xml, makesense csv. */
export const ANNOTATION_EXTENSIONS = new Set(['.txt', '.json', '.xml', '.csv']);
/** Files with a fixed meaning that are not annotations. */
export const DATASET_CONFIG_FILES = new Set(['dataset.json', 'split.json']);

const extension = (path: string): string => posix.extname(path).toLowerCase();
const stem = (path: string): string => posix.basename(path, posix.extname(path));

/** An image a training dataset can hold (lambdas/shared/image-files.ts). */
export const isImage = isTrainableImage;

export function isAnnotationFile(path: string): boolean {
  const base = posix.basename(path);
  if (DATASET_CONFIG_FILES.has(base) || base === 'classes.txt' || base.startsWith('.')) return false;
  return ANNOTATION_EXTENSIONS.has(extension(path));
}

/** Folder names that conventionally mirror each other (YOLO images/labels, VOC JPEGImages/Annotations). */
const MIRROR_DIRS: ReadonlyArray<[string, string]> = [
  ['labels', 'images'],
  ['annotations', 'images'],
  ['Annotations', 'JPEGImages'],
  ['Annotations', 'images'],
];

/**
 * The image a per-image annotation file (a.txt, a.xml) belongs to: the image
 * with the same stem, preferring one in the same or the mirrored folder when
 * several share the stem. Undefined for shared files (COCO json, CSV).
 */
export function ownerImage(annotationPath: string, imagesByStem: ReadonlyMap<string, readonly string[]>): string | undefined {
  const ext = extension(annotationPath);
  if (ext !== '.txt' && ext !== '.xml') return undefined;
  const candidates = imagesByStem.get(stem(annotationPath)) ?? [];
  if (candidates.length === 1) return candidates[0];
  if (candidates.length === 0) return undefined;
  const dir = posix.dirname(annotationPath);
  const wanted = new Set([dir]);
  for (const [from, to] of MIRROR_DIRS) {
    wanted.add(dir.split('/').map((part) => (part === from ? to : part)).join('/'));
  }
  return candidates.find((image) => wanted.has(posix.dirname(image)));
}

export function indexImagesByStem(images: readonly string[]): Map<string, string[]> {
  const byStem = new Map<string, string[]>();
  for (const image of images) {
    const list = byStem.get(stem(image)) ?? [];
    list.push(image);
    byStem.set(stem(image), list);
  }
  return byStem;
}

/**
 * The top-level folder of a dataset whose labels came from a model, not a person (self-training:
 * `exodetect export-annotations <results> --out <dataset>/pseudo-labels/<batch>`). Its images are trained on
 * and never held out: the best epoch, the threshold and the promotion are decided on human labels only.
 */
export const PSEUDO_LABEL_FOLDER = 'pseudo-labels';

export function isPseudoLabelled(imagePath: string): boolean {
  return imagePath.startsWith(`${PSEUDO_LABEL_FOLDER}/`);
}

/**
 * The split unit of an image. `image`: the image itself. `group`: its first
 * folder below the images root (a leading `images/` is skipped), so all fields
 * of view of one grid or sample stay together; a top-level image is its own group.
 */
export function groupOf(imagePath: string, by: 'image' | 'group'): string {
  if (by === 'image') return imagePath;
  const parts = imagePath.split('/');
  if (parts[0] === 'images' || parts[0] === 'JPEGImages') parts.shift();
  return parts.length > 1 ? parts[0]! : imagePath;
}
