/**
 * COCO instances JSON (CVAT, makesense.ai, Label Studio, exodetect's own
 * export): `images`, `annotations` with `bbox` [x, y, w, h] and/or polygon
 * `segmentation`, `categories`. One file may label a whole folder. exodetect's
 * extensions: `info.nm_per_px` (every image) and `images[].nm_per_px`.
 */
import { posix } from 'node:path';
import type { Box } from '../../shared/contracts.js';
import { emptyParse, finite, linesOf, stripBom, type Mention, type ParsedAnnotations, type RawObject } from './parsed.js';
import type { Problem } from './truth.js';
import { findJsonSyntaxError } from '../../shared/json-syntax.js';

interface CocoDocument {
  info?: { nm_per_px?: unknown };
  images?: unknown;
  annotations?: unknown;
  categories?: unknown;
}

/** Whether a .json file is a COCO document at all (other JSON files in a dataset are not annotations). */
export function looksLikeCoco(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && Array.isArray((doc as CocoDocument).images) && Array.isArray((doc as CocoDocument).annotations);
}

export function parseCoco(text: string, file: string): ParsedAnnotations {
  const refDir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
  let doc: CocoDocument;
  try {
    doc = JSON.parse(stripBom(text)) as CocoDocument;
  } catch (err) {
    const at = findJsonSyntaxError(stripBom(text));
    return emptyParse([{ file, line: at?.line ?? null, problem: `not valid JSON: ${at ? `column ${at.column}: ${at.message.replace(/^line \d+, column \d+: /, '')}` : (err as Error).message}` }]);
  }
  if (!looksLikeCoco(doc)) {
    return emptyParse([{ file, line: null, problem: "not a COCO document (needs 'images' and 'annotations' lists)" }]);
  }
  const problems: Problem[] = [];
  const categories = new Map<unknown, string>();
  for (const c of Array.isArray(doc.categories) ? doc.categories : []) {
    if (c && typeof c === 'object' && 'id' in c) categories.set((c as { id: unknown }).id, String((c as { name?: unknown }).name ?? (c as { id: unknown }).id));
  }
  // A file written on one line (most tools' default) has no line to point at: entries are named by id instead.
  const oneLine = text.split('\n', 3).length < 3;
  const fileNameLines = oneLine ? [] : linesOf(text, '"file_name"');
  const imageIdLines = oneLine ? [] : linesOf(text, '"image_id"');
  const images = new Map<unknown, string>();
  const mentions: Mention[] = [];
  (doc.images as unknown[]).forEach((im, i) => {
    const entry = im as { id?: unknown; file_name?: unknown; nm_per_px?: unknown };
    const line = fileNameLines[i] ?? null;
    if (!entry || typeof entry !== 'object' || entry.id === undefined || typeof entry.file_name !== 'string') {
      problems.push({ file, line, problem: `image entry ${i} lacks id or file_name` });
      return;
    }
    images.set(entry.id, entry.file_name);
    const nm = finite(entry.nm_per_px) && entry.nm_per_px > 0 ? entry.nm_per_px : undefined;
    const id = typeof entry.id === 'number' || typeof entry.id === 'string' ? entry.id : undefined;
    mentions.push({ imageRef: entry.file_name, refDir, file, line, ...(nm !== undefined && { nmPerPx: nm }), ...(id !== undefined && { id }) });
  });

  const objects: RawObject[] = [];
  (doc.annotations as unknown[]).forEach((raw, i) => {
    const line = imageIdLines[i] ?? null;
    if (!raw || typeof raw !== 'object') {
      problems.push({ file, line, problem: `annotation ${i} is not an object` });
      return;
    }
    const a = raw as { id?: unknown; image_id?: unknown; category_id?: unknown; bbox?: unknown; segmentation?: unknown };
    const id = a.id ?? i;
    const imageRef = images.get(a.image_id);
    if (imageRef === undefined) {
      problems.push({ file, line, problem: `annotation id ${String(id)}: image_id ${JSON.stringify(a.image_id)} is not in 'images' (label without image)` });
      return;
    }
    if (categories.size > 0 && !categories.has(a.category_id)) {
      problems.push({ file, line, problem: `annotation id ${String(id)}: unknown category_id ${JSON.stringify(a.category_id)}` });
      return;
    }
    const polygon = outline(a.segmentation);
    let box: Box | undefined;
    if (Array.isArray(a.bbox) && a.bbox.length === 4 && a.bbox.every(finite)) {
      const [x, y, w, h] = a.bbox as [number, number, number, number];
      box = [x, y, x + w, y + h];
    } else if (polygon) {
      box = extent(polygon);
    }
    if (!box) {
      problems.push({ file, line, problem: `annotation id ${String(id)}: no usable bbox or polygon` });
      return;
    }
    objects.push({
      imageRef,
      refDir,
      box,
      normalised: false,
      polygon,
      className: categories.get(a.category_id) ?? String(a.category_id ?? 'object'),
      source: { file, line },
    });
  });
  const infoScale = doc.info?.nm_per_px;
  return { objects, mentions, problems, ...(finite(infoScale) && infoScale > 0 && { nmPerPx: infoScale }) };
}

/** The largest polygon of a COCO segmentation (list of flat [x, y, ...] lists); RLE masks give null. */
function outline(segmentation: unknown): number[] | null {
  if (!Array.isArray(segmentation)) return null;
  let best: number[] | null = null;
  for (const poly of segmentation) {
    if (!Array.isArray(poly) || poly.length < 6 || poly.length % 2 !== 0 || !poly.every(finite)) continue;
    if (!best || poly.length > best.length) best = poly as number[];
  }
  return best;
}

function extent(polygon: readonly number[]): Box {
  const xs = polygon.filter((_, i) => i % 2 === 0);
  const ys = polygon.filter((_, i) => i % 2 === 1);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}
