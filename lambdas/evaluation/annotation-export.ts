/**
 * The correction loop's first half: predictions written as an annotation set
 * that makesense.ai, CVAT or Label Studio open, and that the trainer reads
 * back once corrected (training-container/exodetect_train/annotations.py).
 *
 * Layout under the output folder (paths of images relative to the batch's
 * images/ folder are kept, so the images go beside their labels):
 *   coco: annotations.coco.json                       (file_name = relative image path)
 *   yolo: <image path without extension>.txt per image, classes.txt at the top
 *         (an empty .txt marks an image with no objects: a true negative)
 *   voc:  <image path without extension>.xml per image (<filename> = the image's name)
 *   all:  dataset.json with each image's nm/px and the class names
 *
 * Boxes are original-image pixels on a 1/100 px grid (boxes.ts); YOLO's
 * normalised values carry 8 decimals so that they map back to the same grid.
 */
import { XMLBuilder } from 'fast-xml-parser';
import type { Box, ImageResult } from '../shared/contracts.js';
import { exportBox, roundTo } from '../inference/boxes.js';
import { CocoDatasetWriter } from '../inference/coco.js';
import { imageFileName } from '../inference/paths.js';
import type { TextSink } from '../inference/sinks.js';
import { SOFTWARE } from '../inference/software.js';
import { ExodetectError } from '../shared/errors.js';

export const ANNOTATION_FORMATS = ['coco', 'yolo', 'voc'] as const;
export type AnnotationFormat = (typeof ANNOTATION_FORMATS)[number];

export const COCO_EXPORT_FILE = 'annotations.coco.json';
export const YOLO_CLASSES_FILE = 'classes.txt';
export const DATASET_FILE = 'dataset.json';
export const YOLO_DECIMALS = 8;

/** Bad export input (format, paths, threshold, output folder). */
export class AnnotationExportError extends ExodetectError {}

/** Where export files go: a folder on disk, or memory in tests. Paths are relative, with '/'. */
export interface ExportOutput {
  writeFile(relativePath: string, content: string): Promise<void>;
  openSink(relativePath: string): Promise<TextSink>;
}

export interface AnnotationObject {
  readonly box: Box;
  readonly class_id: number;
  readonly class_name: string;
  readonly score: number;
  readonly on_edge: boolean;
  /** The vesicle's outline (flat x, y in px), exported as COCO segmentation; null when it has none. */
  readonly outline?: number[] | null;
}

export interface AnnotationImage {
  /** Image path relative to the batch's images/ folder, e.g. "grid1/a.tif". */
  readonly file: string;
  readonly width: number;
  readonly height: number;
  /** The batch's scale for the image; null when the batch only assumed it (the export then states none). */
  readonly nm_per_px: number | null;
  readonly objects: readonly AnnotationObject[];
}

export function parseAnnotationFormat(value: string): AnnotationFormat {
  const format = value.trim().toLowerCase();
  if (!(ANNOTATION_FORMATS as readonly string[]).includes(format)) {
    throw new AnnotationExportError(`unknown annotation format "${value}": use one of ${ANNOTATION_FORMATS.join(', ')}`);
  }
  return format as AnnotationFormat;
}

/** A result's detections at or above `scoreThreshold`, boxes on the export grid. */
export function toAnnotationImage(batchId: string, result: ImageResult, scoreThreshold = 0): AnnotationImage {
  return {
    file: imageFileName(batchId, result.image_key),
    width: result.width,
    height: result.height,
    nm_per_px: result.nm_per_px_source === 'assumed' ? null : result.nm_per_px,
    objects: result.detections
      .filter((d) => d.score >= scoreThreshold)
      .map((d) => ({ box: exportBox(d.box_px), class_id: d.class_id, class_name: d.class_name, score: d.score, on_edge: d.on_edge, outline: d.outline_px })),
  };
}

/** "grid1/a.tif" -> "grid1/a" (the label file's path without its extension). */
export function labelStem(file: string): string {
  const slash = file.lastIndexOf('/');
  const dot = file.lastIndexOf('.');
  return dot > slash + 1 ? file.slice(0, dot) : file;
}

function checkSafePath(file: string): void {
  if (file === '' || file.startsWith('/') || file.split('/').some((part) => part === '..' || part === '')) {
    throw new AnnotationExportError(`image path "${file}" cannot be used as an output path (absolute, empty or with "..")`);
  }
}

/** Class names by id: the names seen, "class_<id>" for gaps. */
class ClassRegistry {
  private readonly names = new Map<number, string>();
  add(id: number, name: string): void {
    if (!this.names.has(id)) this.names.set(id, name);
  }
  list(): string[] {
    const max = Math.max(-1, ...this.names.keys());
    return Array.from({ length: max + 1 }, (_, i) => this.names.get(i) ?? `class_${i}`);
  }
}

export interface AnnotationWriter {
  add(image: AnnotationImage): Promise<void>;
  /** Writes the remaining files; returns every path written. */
  finish(): Promise<string[]>;
}

/** YOLO line: class cx cy w h, normalised by the image size. */
export function yoloLine(object: AnnotationObject, width: number, height: number): string {
  const [x1, y1, x2, y2] = object.box;
  const f = (x: number): string => x.toFixed(YOLO_DECIMALS);
  return `${object.class_id} ${f((x1 + x2) / 2 / width)} ${f((y1 + y2) / 2 / height)} ${f((x2 - x1) / width)} ${f((y2 - y1) / height)}`;
}

const vocBuilder = new XMLBuilder({ format: true, indentBy: '  ', suppressEmptyNode: false, processEntities: true });

export function vocXml(image: AnnotationImage): string {
  const slash = image.file.lastIndexOf('/');
  const folder = slash >= 0 ? image.file.slice(0, slash) : '';
  const doc = {
    annotation: {
      folder,
      filename: image.file.slice(slash + 1),
      path: image.file,
      source: { database: `${SOFTWARE.name} ${SOFTWARE.version}` },
      size: { width: image.width, height: image.height, depth: 1 },
      segmented: 0,
      object: image.objects.map((o) => ({
        name: o.class_name,
        pose: 'Unspecified',
        truncated: o.on_edge ? 1 : 0,
        difficult: 0,
        score: roundTo(o.score, 4),
        bndbox: { xmin: o.box[0].toFixed(2), ymin: o.box[1].toFixed(2), xmax: o.box[2].toFixed(2), ymax: o.box[3].toFixed(2) },
      })),
    },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${vocBuilder.build(doc) as string}`;
}

function datasetJson(images: Map<string, number>, classes: string[]): string {
  return `${JSON.stringify({ images: Object.fromEntries([...images].map(([file, nm]) => [file, { nm_per_px: nm }])), classes }, null, 1)}\n`;
}

export function createAnnotationWriter(format: AnnotationFormat, output: ExportOutput, info: { readonly batchId: string }): AnnotationWriter {
  const classes = new ClassRegistry();
  const scales = new Map<string, number>();
  const written: string[] = [];
  const seen = new Map<string, string>(); // label stem -> image file
  const register = (image: AnnotationImage): void => {
    checkSafePath(image.file);
    // One label file per image stem: "a.tif" and "a.png" side by side would overwrite each other's labels.
    const stem = format === 'coco' ? image.file : labelStem(image.file);
    const other = seen.get(stem);
    if (other !== undefined) {
      throw new AnnotationExportError(
        other === image.file ? `image "${image.file}" was added twice` : `images "${other}" and "${image.file}" would share the label file "${stem}": rename one`,
      );
    }
    seen.set(stem, image.file);
    if (image.nm_per_px !== null) scales.set(image.file, image.nm_per_px);
    for (const o of image.objects) classes.add(o.class_id, o.class_name);
  };
  const finishCommon = async (): Promise<void> => {
    await output.writeFile(DATASET_FILE, datasetJson(scales, classes.list()));
    written.push(DATASET_FILE);
  };

  if (format === 'coco') {
    let sink: TextSink | undefined;
    let writer: CocoDatasetWriter | undefined;
    let nextId = 1;
    const ready = async (): Promise<CocoDatasetWriter> => {
      if (writer) return writer;
      sink = await output.openSink(COCO_EXPORT_FILE);
      writer = new CocoDatasetWriter(sink, {
        description: `exodetect predictions for batch ${info.batchId}, exported for correction`,
        version: SOFTWARE.version,
        contributor: `${SOFTWARE.name} ${SOFTWARE.version}`,
        date_created: new Date().toISOString(),
      });
      return writer;
    };
    return {
      add: async (image) => {
        register(image);
        const w = await ready();
        await w.addImage(
          { id: nextId++, file_name: image.file, width: image.width, height: image.height, ...(image.nm_per_px !== null && { nm_per_px: image.nm_per_px }) },
          image.objects.map((o) => ({ box_px: o.box, class_id: o.class_id, class_name: o.class_name, score: o.score, outline_px: o.outline ?? null })),
        );
      },
      finish: async () => {
        const w = await ready();
        // Classes without objects in this export still become categories (ids stay class_id + 1).
        classes.list().forEach((name, id) => w.declareCategory(id, name));
        await w.finish();
        await sink!.close();
        written.push(COCO_EXPORT_FILE);
        await finishCommon();
        return written;
      },
    };
  }

  if (format === 'yolo') {
    return {
      add: async (image) => {
        register(image);
        const path = `${labelStem(image.file)}.txt`;
        await output.writeFile(path, image.objects.map((o) => `${yoloLine(o, image.width, image.height)}\n`).join(''));
        written.push(path);
      },
      finish: async () => {
        await output.writeFile(YOLO_CLASSES_FILE, classes.list().map((n) => `${n}\n`).join(''));
        written.push(YOLO_CLASSES_FILE);
        await finishCommon();
        return written;
      },
    };
  }

  return {
    add: async (image) => {
      register(image);
      const path = `${labelStem(image.file)}.xml`;
      await output.writeFile(path, vocXml(image));
      written.push(path);
    },
    finish: async () => {
      await finishCommon();
      return written;
    },
  };
}
