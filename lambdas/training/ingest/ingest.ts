/**
 * The one owner of dataset ingestion. A dataset folder (in S3 or on disk)
 * holds images and annotation exports in any mix: YOLO txt (+ classes.txt),
 * COCO JSON (one file for the whole folder or several, boxes or polygons),
 * Pascal VOC XML, makesense.ai CSV, exodetect's own exports, and optionally
 * dataset.json ({nm_per_px, images: {<file>: {nm_per_px}}, classes}).
 * Ingestion resolves every label to its image, checks it against the image's
 * real size, resolves each image's nm/px by the same calibration rules as
 * inference, and reports every skipped item with its file and line.
 *
 * The split step writes the result as one truth.json per channel; the
 * trainer, promotion and `exodetect evaluate` read that.
 */
import { posix } from 'node:path';
import type { Box } from '../../shared/contracts.js';
import type { Calibration } from '../../detect/calibration.js';
import { calibrateImageBytes } from '../../detect/image-calibration.js';
import type { LabelOcr } from '../../detect/scale-bar/ocr.js';
import { mapWithConcurrency } from '../../shared/concurrency.js';
import { ImageError } from '../../shared/errors.js';
import { isCameraImage } from '../../shared/image-files.js';
import { isImage, isPseudoLabelled } from '../dataset-files.js';
import { looksLikeCoco, parseCoco } from './coco.js';
import { parseMakesenseCsv } from './makesense-csv.js';
import { finite, stripBom, type Mention, type ParsedAnnotations, type RawObject } from './parsed.js';
import { TRUTH_FILE, TRUTH_FORMAT, TRUTH_VERSION, type Problem, type TruthDocument, type TruthImage, type TruthObject } from './truth.js';
import { parseVoc } from './voc.js';
import { parseYolo, YOLO_CLASS_FILES } from './yolo.js';
import { findJsonSyntaxError } from '../../shared/json-syntax.js';

/** Where a dataset's files come from: a prefix in S3, a folder on disk. */
export interface DatasetSource {
  /** Every file, relative to the dataset root with '/', sorted. */
  list(): Promise<string[]>;
  read(file: string): Promise<Uint8Array>;
  /** For messages: s3://bucket/datasets/x/ or the folder's path. */
  readonly description: string;
}

export interface IngestProps {
  /** A scale for every image (the training request, `--nm-per-px`): wins over every other source. */
  readonly nmPerPx?: number;
  /** Images read at once. Default 8. */
  readonly concurrency?: number;
  /** Extra annotation files outside the folder (`exodetect evaluate --annotations`), by the name they should have in it. */
  readonly extraFiles?: ReadonlyMap<string, Uint8Array>;
  /** The OCR that reads burned-in scale bars. Default: the process's shared worker. */
  readonly ocr?: LabelOcr;
}

/** A problem, and the image it belongs to when it belongs to one (so a split can put it in that image's channel). */
export interface IngestProblem extends Problem {
  readonly image: string | null;
  /** What it skips: a whole file, an image, or one annotation. Files first when they are listed: they explain the rest. */
  readonly kind: 'file' | 'image' | 'object';
}

/** Images an annotation file (COCO, CSV) names that are not in the dataset folder: said, not counted as bad. */
export interface MissingImages {
  readonly file: string;
  readonly images: string[];
  readonly objects: number;
}

export interface IngestedDataset {
  /** Labelled, readable images, sorted by file. */
  readonly images: TruthImage[];
  readonly problems: IngestProblem[];
  readonly classNames: string[];
  /** dataset.json's classes, or null. */
  readonly declaredClasses: string[] | null;
  /** Files that are neither images nor annotations (read-me files, notes): listed, not counted as problems. */
  readonly ignoredFiles: string[];
  readonly annotationFiles: string[];
  /**
   * Images that one annotation file for a whole folder (COCO, makesense CSV) names but the folder does not
   * hold: a held-out or not-yet-copied part of a project. Their boxes are not used; this is said, and not
   * counted against the bad-annotation limit (an orphan per-image label file is a problem).
   */
  readonly missingImages: MissingImages[];
}

/** Boxes may overshoot the frame by this much (rounding in annotation tools); they are clipped. */
export const EDGE_TOLERANCE_PX = 1;
export const DATASET_CONFIG_FILE = 'dataset.json';
const DATASET_CONFIG_KEYS = ['nm_per_px', 'images', 'classes'];
/** Files with a fixed meaning at the dataset root that are never annotations. */
const RESERVED_ROOT_FILES = new Set([DATASET_CONFIG_FILE, 'split.json', TRUTH_FILE, 'problems.json']);
/** Text files that are not YOLO labels. */
const NOT_LABEL_TXT = new Set([...YOLO_CLASS_FILES, 'labels.txt', 'readme.txt', 'license.txt', 'notes.txt']);
/** Folder names that conventionally mirror each other (YOLO images/labels, VOC JPEGImages/Annotations). */
const MIRRORED_FOLDERS: ReadonlyArray<[string, string[]]> = [
  ['labels', ['images']],
  ['annotations', ['images']],
  ['Annotations', ['JPEGImages', 'images']],
];

interface DatasetConfig {
  readonly nmPerPx?: number;
  readonly images: ReadonlyMap<string, number>;
  readonly classes?: string[];
}

const decoder = new TextDecoder();
const stemOf = (file: string): string => posix.basename(file, posix.extname(file));
const dirOf = (file: string): string => (posix.dirname(file) === '.' ? '' : posix.dirname(file));

function readDatasetConfig(text: string, problems: IngestProblem[]): DatasetConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(stripBom(text));
  } catch (err) {
    const at = findJsonSyntaxError(stripBom(text));
    problems.push({
      file: DATASET_CONFIG_FILE,
      line: at?.line ?? null,
      problem: `not valid JSON (${at ? at.message.replace(/^line \d+, /, '') : (err as Error).message}): its scales and classes are ignored`,
      image: null,
      kind: 'file',
    });
    return { images: new Map() };
  }
  const d = (doc ?? {}) as { nm_per_px?: unknown; images?: unknown; classes?: unknown };
  const images = new Map<string, number>();
  if (d.images && typeof d.images === 'object') {
    for (const [file, entry] of Object.entries(d.images as Record<string, { nm_per_px?: unknown }>)) {
      const nm = entry?.nm_per_px;
      if (finite(nm) && nm > 0) images.set(file.replace(/\\/g, '/'), nm);
      else problems.push({ file: DATASET_CONFIG_FILE, line: null, problem: `images["${file}"].nm_per_px must be a positive number, got ${JSON.stringify(nm)}`, image: null, kind: 'file' });
    }
  }
  const classes = Array.isArray(d.classes) && d.classes.length > 0 ? d.classes.map(String) : undefined;
  const nmPerPx = finite(d.nm_per_px) && d.nm_per_px > 0 ? d.nm_per_px : undefined;
  if (d.nm_per_px !== undefined && nmPerPx === undefined) {
    problems.push({ file: DATASET_CONFIG_FILE, line: null, problem: `nm_per_px must be a positive number, got ${JSON.stringify(d.nm_per_px)}`, image: null, kind: 'file' });
  }
  const unknown = Object.keys(d as object).filter((key) => !DATASET_CONFIG_KEYS.includes(key));
  if (unknown.length > 0) {
    problems.push({ file: DATASET_CONFIG_FILE, line: null, problem: `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${DATASET_CONFIG_KEYS.join(', ')}): ignored`, image: null, kind: 'file' });
  }
  return { nmPerPx, images, ...(classes && { classes }) };
}

/** Resolves an annotation's image reference (a path, a file name or, for YOLO, a stem) to one image of the dataset. */
export function imageResolver(images: readonly string[]): (ref: string, refDir: string) => { image?: string; ambiguous?: string[] } {
  const all = new Set(images);
  const group = (key: (f: string) => string) => {
    const map = new Map<string, string[]>();
    for (const f of images) map.set(key(f), [...(map.get(key(f)) ?? []), f]);
    return map;
  };
  const byBase = group((f) => posix.basename(f));
  const byStem = group(stemOf);
  return (ref, refDir) => {
    const clean = ref.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
    for (const candidate of [posix.normalize(posix.join(refDir, clean)), posix.normalize(clean)]) {
      if (all.has(candidate)) return { image: candidate };
    }
    const base = posix.basename(clean);
    const pool = (isImage(base) ? (byBase.get(base) ?? byStem.get(stemOf(base))) : byStem.get(base)) ?? [];
    if (pool.length === 1) return { image: pool[0] };
    if (pool.length === 0) return {};
    // Several images share the name: the one beside the annotation, or in its mirrored folder, is meant.
    const near = new Set([refDir]);
    for (const [from, tos] of MIRRORED_FOLDERS) {
      for (const to of tos) near.add(refDir.split('/').map((part) => (part === from ? to : part)).join('/'));
    }
    const close = pool.filter((f) => near.has(dirOf(f)));
    return close.length === 1 ? { image: close[0] } : { ambiguous: pool };
  };
}

/**
 * The scale the dataset itself declares for an image, most specific first: the request (--nm-per-px),
 * dataset.json for the image, the annotation file's entry for it, dataset.json for the folder, the
 * annotation file for all its images.
 */
function declaredScale(
  image: string,
  owner: { file: string; mention: Mention; fileScale?: number },
  config: DatasetConfig,
  requested: number | undefined,
): { nmPerPx: number; detail: string } | undefined {
  const base = posix.basename(image);
  const candidates: [number | undefined, string][] = [
    [requested, 'the training request (--nm-per-px)'],
    [config.images.get(image), `${DATASET_CONFIG_FILE} images["${image}"]`],
    [config.images.get(base), `${DATASET_CONFIG_FILE} images["${base}"]`],
    [owner.mention.nmPerPx, `${owner.file} images[].nm_per_px`],
    [config.nmPerPx, `${DATASET_CONFIG_FILE} nm_per_px`],
    [owner.fileScale, `${owner.file} info.nm_per_px`],
  ];
  const found = candidates.find(([value]) => value !== undefined);
  return found ? { nmPerPx: found[0]!, detail: found[1] } : undefined;
}

function unresolved(ref: string, ambiguous: readonly string[] | undefined): string {
  return ambiguous
    ? `'${ref}' matches ${ambiguous.length} images (${ambiguous.slice(0, 3).join(', ')}): give its path relative to the dataset folder`
    : `label without image: '${ref}' not found in the dataset`;
}

/** The nearest classes.txt / obj.names at or above a label file's folder. */
function yoloClassFileFor(labelFile: string, files: ReadonlySet<string>): string | undefined {
  let dir = dirOf(labelFile);
  for (;;) {
    for (const name of YOLO_CLASS_FILES) {
      const candidate = dir ? `${dir}/${name}` : name;
      if (files.has(candidate)) return candidate;
    }
    if (dir === '') return undefined;
    dir = dirOf(dir);
  }
}

type AnnotationKind = 'yolo' | 'coco' | 'voc' | 'csv';

const isReservedRootFile = (file: string): boolean => dirOf(file) === '' && RESERVED_ROOT_FILES.has(posix.basename(file).toLowerCase());

function annotationKind(file: string, text: () => string): AnnotationKind | undefined {
  const base = posix.basename(file);
  const lower = base.toLowerCase();
  if (base.startsWith('.') || isReservedRootFile(file)) return undefined;
  const ext = posix.extname(lower);
  if (ext === '.txt') return NOT_LABEL_TXT.has(lower) ? undefined : 'yolo';
  if (ext === '.xml') return 'voc';
  if (ext === '.csv') return 'csv';
  if (ext === '.json') {
    // A JSON file that is not COCO (a results summary, a tool's project file) is not an annotation file.
    try {
      return looksLikeCoco(JSON.parse(stripBom(text()))) ? 'coco' : undefined;
    } catch {
      return 'coco'; // unreadable: the COCO parser reports it with the reason
    }
  }
  return undefined;
}

/** Clips a checked box to the image; undefined with a problem when it is empty or lies outside. */
function placeBox(object: RawObject, width: number, height: number, image: string): { box: Box; polygon: number[] | null } | { problem: string } {
  const [bx1, by1, bx2, by2] = object.box;
  const scale = (v: number, i: number) => (object.normalised ? v * (i % 2 === 0 ? width : height) : v);
  const [x1, y1, x2, y2] = [bx1, by1, bx2, by2].map(scale) as Box;
  const shown = `[${[x1, y1, x2, y2].map((v) => v.toFixed(1)).join(', ')}]`;
  if (![x1, y1, x2, y2].every(Number.isFinite) || x2 - x1 <= 0 || y2 - y1 <= 0) return { problem: `zero or negative area box ${shown} in ${image}` };
  const t = EDGE_TOLERANCE_PX;
  if (x1 < -t || y1 < -t || x2 > width + t || y2 > height + t) return { problem: `box ${shown} outside the ${width}x${height} image ${image}` };
  const clip = (v: number, max: number) => Math.min(max, Math.max(0, v));
  const polygon = object.polygon ? object.polygon.map((v, i) => clip(scale(v, i), i % 2 === 0 ? width : height)) : null;
  return { box: [clip(x1, width), clip(y1, height), clip(x2, width), clip(y2, height)], polygon };
}

export async function ingestDataset(source: DatasetSource, props: IngestProps = {}): Promise<IngestedDataset> {
  const problems: IngestProblem[] = [];
  const extra = props.extraFiles ?? new Map<string, Uint8Array>();
  const files = [...new Set([...(await source.list()), ...extra.keys()])].filter((f) => !posix.basename(f).startsWith('.')).sort();
  const fileSet = new Set(files);
  const texts = new Map<string, string>();
  const text = async (file: string): Promise<string> => {
    let t = texts.get(file);
    if (t === undefined) {
      t = decoder.decode(extra.get(file) ?? (await source.read(file)));
      texts.set(file, t);
    }
    return t;
  };

  const config = fileSet.has(DATASET_CONFIG_FILE) ? readDatasetConfig(await text(DATASET_CONFIG_FILE), problems) : { images: new Map<string, number>() };
  const images = files.filter(isImage);
  const annotationFiles: string[] = [];
  const ignoredFiles: string[] = [];
  const parsed: { file: string; kind: AnnotationKind; result: ParsedAnnotations }[] = [];
  for (const file of files) {
    if (isImage(file)) continue;
    if (isCameraImage(file)) {
      problems.push({ file, line: null, problem: 'DM3/DM4 and MRC images can be analysed but not yet trained on (the trainer reads PNG, JPEG and TIFF): export it as a 16-bit TIFF', image: null, kind: 'image' });
      continue;
    }
    const ext = posix.extname(file).toLowerCase();
    const reserved = isReservedRootFile(file);
    const body = ['.txt', '.xml', '.csv', '.json'].includes(ext) && !reserved ? await text(file) : '';
    const kind = annotationKind(file, () => body);
    if (!kind) {
      if (!reserved && !YOLO_CLASS_FILES.includes(posix.basename(file).toLowerCase())) ignoredFiles.push(file);
      continue;
    }
    annotationFiles.push(file);
    if (kind === 'yolo') {
      const classFile = yoloClassFileFor(file, fileSet);
      const names = classFile
        ? (await text(classFile)).split(/\r?\n/).map((l) => l.trim()).filter(Boolean)
        : config.classes;
      parsed.push({ file, kind, result: parseYolo(body, file, names) });
    } else if (kind === 'coco') parsed.push({ file, kind, result: parseCoco(body, file) });
    else if (kind === 'voc') parsed.push({ file, kind, result: parseVoc(body, file) });
    else parsed.push({ file, kind, result: parseMakesenseCsv(body, file) });
  }
  for (const { result } of parsed) for (const p of result.problems) problems.push({ ...p, image: null, kind: result.unreadable ? 'file' : 'object' });
  // One file for a whole folder may name images the folder does not hold (a held-out part of a project).
  const wholeFolderFiles = new Set(parsed.filter((p) => p.kind === 'coco' || p.kind === 'csv').map((p) => p.file));
  const missing = new Map<string, { images: Set<string>; objects: number }>();
  const noteMissing = (file: string, ref: string, objects: number): void => {
    const entry = missing.get(file) ?? { images: new Set<string>(), objects: 0 };
    entry.images.add(ref);
    entry.objects += objects;
    missing.set(file, entry);
  };

  // Which annotation file labels which image: the first (in path order) that mentions it.
  const resolve = imageResolver(images);
  const owner = new Map<string, { file: string; mention: Mention; fileScale?: number }>();
  for (const { file, result } of parsed) {
    const refsWithObjects = new Set(result.objects.map((o) => o.imageRef));
    for (const mention of result.mentions) {
      const { image, ambiguous } = resolve(mention.imageRef, mention.refDir);
      if (!image) {
        // A mention without objects (an explicit negative) is reported here; otherwise each object is, below.
        if (!refsWithObjects.has(mention.imageRef)) {
          if (!ambiguous && wholeFolderFiles.has(file)) noteMissing(file, mention.imageRef, 0);
          else problems.push({ file, line: mention.line, problem: unresolved(mention.imageRef, ambiguous), image: null, kind: 'object' });
        }
        continue;
      }
      const current = owner.get(image);
      if (current && current.file !== file) {
        problems.push({ file, line: mention.line, problem: `${image} is already labelled by ${current.file}; these labels are ignored`, image, kind: 'image' });
        continue;
      }
      if (!current) owner.set(image, { file, mention, fileScale: result.nmPerPx });
    }
  }

  // Each labelled image's size and scale, by the inference rules (its metadata, then its burned-in scale bar);
  // an unreadable image is one problem.
  const headers = new Map<string, { width: number; height: number; calibration: Calibration | undefined }>();
  const labelled = images.filter((i) => owner.has(i));
  await mapWithConcurrency(labelled, props.concurrency ?? 8, async (image) => {
    const declared = declaredScale(image, owner.get(image)!, config, props.nmPerPx);
    try {
      const { width, height, calibration } = await calibrateImageBytes(await source.read(image), image, {
        nmPerPx: declared?.nmPerPx,
        nmPerPxField: declared?.detail,
        ...(props.ocr && { ocr: props.ocr }),
      });
      headers.set(image, { width, height, calibration });
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      problems.push({ file: image, line: null, problem: `unreadable image (${err.code}: ${err.message.slice(image.length + 2)})`, image, kind: 'image' });
    }
  });

  // Every object against its image.
  const objectsOf = new Map<string, TruthObject[]>(labelled.map((i) => [i, []]));
  for (const { file, result } of parsed) {
    for (const object of result.objects) {
      const r = resolve(object.imageRef, object.refDir);
      if (!r.image) {
        if (!r.ambiguous && wholeFolderFiles.has(file)) noteMissing(file, object.imageRef, 1);
        else problems.push({ ...object.source, problem: unresolved(object.imageRef, r.ambiguous), image: null, kind: 'object' });
        continue;
      }
      const image = r.image;
      if (owner.get(image)?.file !== file) continue; // reported once per file and image above
      const header = headers.get(image);
      if (!header) continue; // unreadable image: reported once
      const placed = placeBox(object, header.width, header.height, image);
      if ('problem' in placed) {
        problems.push({ ...object.source, problem: placed.problem, image, kind: 'object' });
        continue;
      }
      objectsOf.get(image)!.push({ box: placed.box, class_name: object.className, polygon: placed.polygon, source: object.source });
    }
  }

  // An annotation file that is not JSON may hold the labels of the images below: say so beside each.
  const unparsed = problems.find((p) => p.kind === 'file' && p.file !== DATASET_CONFIG_FILE && p.problem.startsWith('not valid JSON'))?.file;
  for (const image of images) {
    if (!owner.has(image)) {
      problems.push({
        file: image,
        line: null,
        problem: unparsed
          ? `image without label (no annotation file that could be read mentions it; ${unparsed}, which is not valid JSON, may)`
          : 'image without label (no annotation file mentions it; an empty YOLO txt or a COCO image entry marks an image with no vesicles)',
        image,
        kind: 'image',
      });
    }
  }

  let truthImages: TruthImage[] = labelled
    .filter((image) => headers.has(image))
    .map((image) => {
      const { width, height, calibration } = headers.get(image)!;
      return {
        file: image,
        width,
        height,
        nm_per_px: calibration?.nmPerPx ?? null,
        // 'batch' is the dataset's own declaration here (dataset.json, the COCO file, --nm-per-px).
        nm_per_px_source: calibration ? (calibration.source === 'batch' ? 'dataset' : calibration.source) : null,
        nm_per_px_detail: calibration?.detail ?? null,
        labelled_by: owner.get(image)!.file,
        source_image_id: owner.get(image)!.mention.id ?? null,
        objects: objectsOf.get(image)!,
      };
    });
  // A pseudo-labelled copy of an annotated image (a batch that held it too) would train on the model's labels of
  // an image the person labelled, or one held out for validation: the person's labels win.
  const annotatedNames = new Set(truthImages.filter((i) => !isPseudoLabelled(i.file)).map((i) => posix.basename(i.file)));
  const copies = new Set(truthImages.filter((i) => isPseudoLabelled(i.file) && annotatedNames.has(posix.basename(i.file))).map((i) => i.file));
  for (const file of copies) {
    problems.push({ file, line: null, problem: `a pseudo-labelled copy of the annotated image ${posix.basename(file)}: its pseudo-labels are not used`, image: file, kind: 'image' });
  }
  if (copies.size) truthImages = truthImages.filter((i) => !copies.has(i.file));
  const seen = new Set(truthImages.flatMap((i) => i.objects.map((o) => o.class_name)));
  const classNames = config.classes ? [...config.classes, ...[...seen].filter((c) => !config.classes!.includes(c)).sort()] : [...seen].sort();
  // Files first (an unreadable file explains much of what follows), then images, then single annotations.
  const rank = { file: 0, image: 1, object: 2 } as const;
  problems.sort((a, b) => rank[a.kind] - rank[b.kind] || (a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1));
  // Entries of dataset.json for images the folder does not hold: a typo or a removed image, said.
  for (const file of config.images.keys()) {
    if (!images.includes(file) && !images.some((i) => posix.basename(i) === file)) {
      problems.push({ file: DATASET_CONFIG_FILE, line: null, problem: `images["${file}"]: there is no such image in the dataset`, image: null, kind: 'file' });
    }
  }
  const missingImages = [...missing].map(([file, m]) => ({ file, images: [...m.images].sort(), objects: m.objects }));
  return { images: truthImages, problems, classNames, declaredClasses: config.classes ?? null, ignoredFiles, annotationFiles, missingImages };
}

/** The truth document of some of a dataset's images (a channel), with the problems that belong to them. */
export function truthDocument(
  dataset: string,
  channel: string,
  ingested: IngestedDataset,
  images: readonly TruthImage[],
  problems: readonly IngestProblem[],
  missingImages: readonly MissingImages[] = ingested.missingImages,
): TruthDocument {
  return {
    format: TRUTH_FORMAT,
    version: TRUTH_VERSION,
    dataset,
    channel,
    class_names: ingested.classNames,
    declared_classes: ingested.declaredClasses,
    images: [...images],
    problems: problems.map(({ file, line, problem }) => ({ file, line, problem })),
    missing_images: [...missingImages],
  };
}
