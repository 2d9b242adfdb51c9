/**
 * Reading the exported annotation formats back (COCO dataset, YOLO txt, Pascal
 * VOC xml): for round-trip checks, and for tools that compare a corrected set
 * with the predictions. Boxes come back as [x1, y1, x2, y2] original-image
 * pixels on the export grid (boxes.ts), so they compare exactly.
 */
import { XMLParser } from 'fast-xml-parser';
import type { Box } from '../shared/contracts.js';
import { ExodetectError } from '../shared/errors.js';
import { EXPORT_DECIMALS, fromXywh, roundTo } from '../inference/boxes.js';

export class AnnotationParseError extends ExodetectError {
  constructor(
    readonly file: string,
    readonly line: number | null,
    problem: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${problem}`);
  }
}

export interface ParsedObject {
  readonly box: Box;
  readonly class_name: string;
}

export interface ParsedImage {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly objects: ParsedObject[];
}

const finiteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** A COCO dataset document -> images with their boxes, in the document's image order. */
export function parseCocoDataset(text: string, file = 'annotations.coco.json'): ParsedImage[] {
  let doc: { images?: unknown; annotations?: unknown; categories?: unknown };
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new AnnotationParseError(file, null, `not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc.images) || !Array.isArray(doc.annotations)) throw new AnnotationParseError(file, null, "not a COCO dataset: needs 'images' and 'annotations' lists");
  const categories = new Map<number, string>();
  for (const c of (Array.isArray(doc.categories) ? doc.categories : []) as { id: number; name: string }[]) categories.set(c.id, String(c.name));
  const images = new Map<number, ParsedImage>();
  for (const [i, im] of (doc.images as { id: number; file_name: string; width: number; height: number }[]).entries()) {
    if (!im || typeof im.file_name !== 'string' || !finiteNumber(im.id)) throw new AnnotationParseError(file, null, `images[${i}] lacks id or file_name`);
    images.set(im.id, { file: im.file_name, width: im.width, height: im.height, objects: [] });
  }
  for (const [i, a] of (doc.annotations as { image_id: number; category_id: number; bbox: number[] }[]).entries()) {
    const image = images.get(a?.image_id);
    if (!image) throw new AnnotationParseError(file, null, `annotations[${i}]: image_id ${a?.image_id} is not in images`);
    if (!Array.isArray(a.bbox) || a.bbox.length !== 4 || !a.bbox.every(finiteNumber)) throw new AnnotationParseError(file, null, `annotations[${i}]: bbox must be 4 numbers`);
    image.objects.push({ box: fromXywh(a.bbox), class_name: categories.get(a.category_id) ?? String(a.category_id) });
  }
  return [...images.values()];
}

/** One YOLO label file -> boxes in pixels of a width x height image. */
export function parseYoloLabels(text: string, width: number, height: number, classNames: readonly string[], file = 'labels.txt'): ParsedObject[] {
  const objects: ParsedObject[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '') return;
    const parts = line.trim().split(/\s+/);
    const values = parts.map(Number);
    if (parts.length !== 5 || !values.every(Number.isFinite)) throw new AnnotationParseError(file, index + 1, `expected "class cx cy w h", got "${line}"`);
    const [cls, cx, cy, w, h] = values as [number, number, number, number, number];
    if (!Number.isInteger(cls) || cls < 0 || cls >= classNames.length) throw new AnnotationParseError(file, index + 1, `class id ${parts[0]} is not in classes.txt (${classNames.length} classes)`);
    const px = (x: number, size: number): number => roundTo(x * size, EXPORT_DECIMALS);
    objects.push({ box: [px(cx - w / 2, width), px(cy - h / 2, height), px(cx + w / 2, width), px(cy + h / 2, height)], class_name: classNames[cls]! });
  });
  return objects;
}

const vocParser = new XMLParser({ isArray: (name) => name === 'object', parseTagValue: false, processEntities: true, trimValues: true });

/** One Pascal VOC file -> its image and boxes. */
export function parseVocXml(xml: string, file = 'annotation.xml'): ParsedImage {
  let doc: { annotation?: { filename?: string; path?: string; folder?: string; size?: { width?: string; height?: string }; object?: { name?: string; bndbox?: Record<string, string> }[] } };
  try {
    doc = vocParser.parse(xml);
  } catch (err) {
    throw new AnnotationParseError(file, null, `not valid XML (${(err as Error).message})`);
  }
  const a = doc.annotation;
  if (!a || typeof a !== 'object') throw new AnnotationParseError(file, null, 'not a Pascal VOC file: no <annotation> root');
  const objects = (a.object ?? []).map((o, i) => {
    const b = o.bndbox ?? {};
    const box = ['xmin', 'ymin', 'xmax', 'ymax'].map((k) => Number(b[k]));
    if (!box.every(Number.isFinite)) throw new AnnotationParseError(file, null, `object ${i}: bndbox needs numeric xmin, ymin, xmax, ymax`);
    return { box: box.map((v) => roundTo(v, EXPORT_DECIMALS)) as Box, class_name: String(o.name ?? '') };
  });
  return {
    file: String(a.path ?? (a.folder ? `${a.folder}/${a.filename}` : a.filename) ?? ''),
    width: Number(a.size?.width),
    height: Number(a.size?.height),
    objects,
  };
}
