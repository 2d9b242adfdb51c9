/**
 * Pascal VOC XML (CVAT, LabelImg, makesense.ai): one file per image,
 * `<annotation><filename>` with `<object><name><bndbox>`.
 */
import { posix } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Box } from '../../shared/contracts.js';
import { emptyParse, linesOf, stripBom, type ParsedAnnotations, type RawObject } from './parsed.js';
import type { Problem } from './truth.js';

const parser = new XMLParser({ isArray: (name) => name === 'object', parseTagValue: false, processEntities: true, trimValues: true });

export function parseVoc(text: string, file: string): ParsedAnnotations {
  const refDir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
  const xml = stripBom(text);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    return emptyParse([{ file, line: valid.err.line ?? null, problem: `unreadable XML (${valid.err.msg})` }]);
  }
  const doc = parser.parse(xml) as { annotation?: { filename?: unknown; object?: { name?: unknown; bndbox?: Record<string, unknown> }[] } };
  const root = doc.annotation;
  if (!root || typeof root !== 'object') {
    return emptyParse([{ file, line: 1, problem: `not a Pascal VOC file (no <annotation> root element)` }]);
  }
  const imageRef = typeof root.filename === 'string' && root.filename.trim() !== '' ? root.filename.trim() : posix.basename(file, posix.extname(file));
  const objectLines = linesOf(xml, '<object');
  const objects: RawObject[] = [];
  const problems: Problem[] = [];
  (root.object ?? []).forEach((o, i) => {
    const line = objectLines[i] ?? null;
    const name = typeof o?.name === 'string' ? o.name.trim() : '';
    if (!o?.bndbox) {
      problems.push({ file, line, problem: `object ${i}: no <bndbox>` });
      return;
    }
    const box = (['xmin', 'ymin', 'xmax', 'ymax'] as const).map((k) => Number(o.bndbox![k] ?? Number.NaN));
    if (!box.every(Number.isFinite)) {
      problems.push({ file, line, problem: `object ${i}: missing xmin/ymin/xmax/ymax` });
      return;
    }
    if (!name) {
      problems.push({ file, line, problem: `object ${i}: no <name>` });
      return;
    }
    objects.push({ imageRef, refDir, box: box as Box, normalised: false, polygon: null, className: name, source: { file, line } });
  });
  return { objects, mentions: [{ imageRef, refDir, file, line: linesOf(xml, '<filename')[0] ?? null }], problems };
}
