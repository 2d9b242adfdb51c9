/**
 * YOLO txt (makesense.ai's and CVAT's YOLO export, Ultralytics): one
 * `<stem>.txt` per image, lines `class cx cy w h` normalised to 0..1, or a
 * YOLO-seg outline `class x0 y0 x1 y1 ...`. Class names from the nearest
 * classes.txt / obj.names (ingest.ts finds it). An empty file is an explicit
 * negative: the image is labelled, with no objects.
 */
import { posix } from 'node:path';
import type { Box } from '../../shared/contracts.js';
import { stripBom, type ParsedAnnotations, type RawObject } from './parsed.js';
import type { Problem } from './truth.js';

export const YOLO_CLASS_FILES = ['classes.txt', 'obj.names'];

export function parseYolo(text: string, file: string, classNames: readonly string[] | undefined): ParsedAnnotations {
  const refDir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
  const stem = posix.basename(file, posix.extname(file));
  const objects: RawObject[] = [];
  const problems: Problem[] = [];
  stripBom(text)
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = index + 1;
      const parts = raw.trim().split(/\s+/).filter(Boolean);
      if (parts.length === 0) return;
      const isOutline = parts.length >= 7 && parts.length % 2 === 1;
      if (parts.length !== 5 && !isOutline) {
        problems.push({ file, line, problem: `expected 'class cx cy w h' (or 'class x y x y ...' for an outline), got '${raw.trim()}'` });
        return;
      }
      const values = parts.map(Number);
      if (!values.every(Number.isFinite)) {
        problems.push({ file, line, problem: `not numbers: '${raw.trim()}'` });
        return;
      }
      const id = values[0]!;
      if (!Number.isInteger(id) || id < 0 || (classNames !== undefined && id >= classNames.length)) {
        const known = classNames !== undefined ? ` (classes.txt has ${classNames.length})` : '';
        problems.push({ file, line, problem: `unknown class id ${parts[0]}${known}` });
        return;
      }
      let box: Box;
      let polygon: number[] | null = null;
      if (isOutline) {
        polygon = values.slice(1);
        const xs = polygon.filter((_, i) => i % 2 === 0);
        const ys = polygon.filter((_, i) => i % 2 === 1);
        box = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
      } else {
        const [, cx, cy, w, h] = values as [number, number, number, number, number];
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
      }
      objects.push({
        imageRef: stem,
        refDir,
        box,
        normalised: true,
        polygon,
        className: classNames?.[id] ?? String(id),
        source: { file, line },
      });
    });
  return { objects, mentions: [{ imageRef: stem, refDir, file, line: null }], problems };
}
