/**
 * detections.csv: one row per detection, RFC 4180 (CRLF, double quotes
 * doubled), UTF-8 with a byte-order mark so spreadsheet programs read
 * non-ASCII file names correctly. Text cells that a spreadsheet would run as
 * a formula (starting with = + - @, tab or carriage return) get a leading
 * apostrophe (OWASP "CSV injection"); numbers are written as numbers.
 */
import type { ImageResult } from '../shared/contracts.js';
import { imageFileName } from './paths.js';

export const CSV_BOM = '\uFEFF';
export const CSV_NEWLINE = '\r\n';

export const DETECTION_CSV_COLUMNS = [
  'image',
  'detection_id',
  'x1_px',
  'y1_px',
  'x2_px',
  'y2_px',
  'x1_nm',
  'y1_nm',
  'x2_nm',
  'y2_nm',
  'width_nm',
  'height_nm',
  'diameter_nm',
  'box_diameter_nm',
  'area_nm2',
  'feret_min_nm',
  'feret_max_nm',
  'roundness',
  'outline_method',
  'score',
  'class_id',
  'class_name',
  'on_edge',
  'in_size_range',
  'nm_per_px',
  'nm_per_px_source',
  'model_version',
] as const;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

/** One text cell: neutralise formulas, then quote when needed. */
export function csvTextCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One numeric cell, rounded to `digits` decimals without trailing zeros; empty when not finite. */
export function csvNumberCell(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '';
  return String(Number(value.toFixed(digits)));
}

export function csvHeader(): string {
  return CSV_BOM + DETECTION_CSV_COLUMNS.join(',') + CSV_NEWLINE;
}

/** The rows for one image's detections (each ending in CRLF). */
export function detectionCsvRows(batchId: string, result: ImageResult): string {
  const image = csvTextCell(imageFileName(batchId, result.image_key));
  const source = csvTextCell(result.nm_per_px_source);
  const model = csvTextCell(result.model.version);
  const scale = csvNumberCell(result.nm_per_px, 6);
  let out = '';
  for (const d of result.detections) {
    const [x1, y1, x2, y2] = d.box_px;
    const [a1, b1, a2, b2] = d.box_nm;
    out +=
      [
        image,
        String(d.id),
        csvNumberCell(x1, 2),
        csvNumberCell(y1, 2),
        csvNumberCell(x2, 2),
        csvNumberCell(y2, 2),
        csvNumberCell(a1, 2),
        csvNumberCell(b1, 2),
        csvNumberCell(a2, 2),
        csvNumberCell(b2, 2),
        csvNumberCell(a2 - a1, 2),
        csvNumberCell(b2 - b1, 2),
        csvNumberCell(d.diameter_nm, 2),
        csvNumberCell(d.box_diameter_nm, 2),
        csvNumberCell(d.area_nm2, 1),
        csvNumberCell(d.feret_min_nm, 2),
        csvNumberCell(d.feret_max_nm, 2),
        csvNumberCell(d.roundness, 3),
        csvTextCell(d.outline_method),
        csvNumberCell(d.score, 4),
        String(d.class_id),
        csvTextCell(d.class_name),
        d.on_edge ? 'true' : 'false',
        d.in_size_range ? 'true' : 'false',
        scale,
        source,
        model,
      ].join(',') + CSV_NEWLINE;
  }
  return out;
}

/** RFC 4180 parser (for tests and round trips): rows of cells, BOM stripped. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  let i = text.startsWith(CSV_BOM) ? 1 : 0;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      // CRLF (ours, RFC 4180) or a bare LF (annotation tools, spreadsheets on Linux and macOS).
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      if (ch === '\r') i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
