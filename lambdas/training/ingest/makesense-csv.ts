/**
 * makesense.ai's CSV export: `label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name,image_width,image_height`,
 * header optional, boxes in pixels. One file may label a whole folder.
 */
import { posix } from 'node:path';
import { parseCsv } from '../../inference/csv.js';
import type { Mention, ParsedAnnotations, RawObject } from './parsed.js';
import type { Problem } from './truth.js';

const HEADER_FIRST_CELLS = new Set(['label_name', 'label', 'class']);

export function parseMakesenseCsv(text: string, file: string): ParsedAnnotations {
  const refDir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
  const objects: RawObject[] = [];
  const problems: Problem[] = [];
  const mentions = new Map<string, Mention>();
  parseCsv(text).forEach((row, index) => {
    const line = index + 1;
    if (row.every((cell) => cell.trim() === '')) return;
    if (line === 1 && HEADER_FIRST_CELLS.has(row[0]!.trim().toLowerCase())) return;
    if (row.length < 6) {
      problems.push({ file, line, problem: `expected label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name[,image_width,image_height], got '${row.join(',')}'` });
      return;
    }
    const name = row[0]!.trim();
    const image = row[5]!.trim();
    const [x, y, w, h] = row.slice(1, 5).map((v) => (v.trim() === '' ? Number.NaN : Number(v)));
    if (![x, y, w, h].every(Number.isFinite)) {
      problems.push({ file, line, problem: `bbox values are not numbers: ${row.slice(1, 5).join(', ')}` });
      return;
    }
    if (!name || !image) {
      problems.push({ file, line, problem: 'empty label_name or image_name' });
      return;
    }
    if (!mentions.has(image)) mentions.set(image, { imageRef: image, refDir, file, line });
    objects.push({ imageRef: image, refDir, box: [x!, y!, x! + w!, y! + h!], normalised: false, polygon: null, className: name, source: { file, line } });
  });
  return { objects, mentions: [...mentions.values()], problems };
}
