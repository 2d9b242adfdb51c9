import { describe, expect, it } from 'vitest';
import { csvHeader, csvNumberCell, csvTextCell, DETECTION_CSV_COLUMNS, detectionCsvRows, parseCsv } from '../../lambdas/inference/csv.js';
import { ANALYTICS_COLUMNS, detectionJsonLines } from '../../lambdas/inference/jsonl.js';
import { generateImageResult } from './batch-generator.js';

describe('CSV cells', () => {
  it('quotes per RFC 4180', () => {
    expect(csvTextCell('plain.tif')).toBe('plain.tif');
    expect(csvTextCell('a,b.tif')).toBe('"a,b.tif"');
    expect(csvTextCell('say "hi".tif')).toBe('"say ""hi"".tif"');
    expect(csvTextCell('two\nlines')).toBe('"two\nlines"');
    expect(csvTextCell(' padded')).toBe('" padded"');
  });

  it('neutralises spreadsheet formulas in text but not numbers', () => {
    expect(csvTextCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvTextCell('+1.tif')).toBe("'+1.tif");
    expect(csvTextCell('-rm.tif')).toBe("'-rm.tif");
    expect(csvTextCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvTextCell('\tx')).toBe("'\tx");
    expect(csvNumberCell(-3.14159, 2)).toBe('-3.14');
    expect(csvNumberCell(2.5, 4)).toBe('2.5');
    expect(csvNumberCell(Number.NaN, 2)).toBe('');
  });
});

describe('detections.csv rows', () => {
  it('has one parseable row per detection with the header columns', () => {
    const batchId = 'b1';
    const result = generateImageResult({ batchId, file: 'grid 1/=evil,"name".tif', detections: 7, seed: 3 });
    const text = csvHeader() + detectionCsvRows(batchId, result);
    expect(text.startsWith('\uFEFF')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual([...DETECTION_CSV_COLUMNS]);
    expect(rows).toHaveLength(8);
    for (const [i, row] of rows.slice(1).entries()) {
      expect(row).toHaveLength(DETECTION_CSV_COLUMNS.length);
      const record = Object.fromEntries(DETECTION_CSV_COLUMNS.map((c, j) => [c, row[j]!]));
      const d = result.detections[i]!;
      expect(record.image).toBe('grid 1/=evil,"name".tif'); // not a formula: it starts with "g"
      expect(Number(record.x1_px)).toBeCloseTo(d.box_px[0], 2);
      expect(Number(record.y2_nm)).toBeCloseTo(d.box_nm[3], 2);
      expect(Number(record.diameter_nm)).toBeCloseTo(d.diameter_nm, 2);
      // The size from the outline, with the box's beside it and the outline's shape.
      expect(Number(record.box_diameter_nm)).toBeCloseTo(d.box_diameter_nm, 2);
      expect(Number(record.box_diameter_nm)).toBeGreaterThan(Number(record.diameter_nm));
      expect(Number(record.feret_min_nm)).toBeLessThanOrEqual(Number(record.feret_max_nm));
      expect(Number(record.roundness)).toBeCloseTo(d.roundness, 3);
      expect(Number(record.area_nm2)).toBeCloseTo(d.area_nm2, 1);
      expect(record.outline_method).toBe('image-fit');
      expect(Number(record.score)).toBeCloseTo(d.score, 4);
      expect(record.on_edge).toBe(String(d.on_edge));
      expect(record.class_name).toBe('exosome');
    }
  });

  it('writes the same sizes as JSON Lines, with the outline, one flat object per detection (the Glue columns)', () => {
    const result = generateImageResult({ batchId: 'b1', file: 'a.tif', detections: 3, seed: 4 });
    const lines = detectionJsonLines('b1', result).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    for (const [i, line] of lines.entries()) {
      expect(Object.keys(line)).toEqual(Object.keys(ANALYTICS_COLUMNS));
      const d = result.detections[i]!;
      expect(line).toMatchObject({ diameter_nm: d.diameter_nm, box_diameter_nm: d.box_diameter_nm, outline_method: 'image-fit', outline_px: d.outline_px });
    }
  });

  it('guards an image name that starts like a formula', () => {
    const result = generateImageResult({ batchId: 'b1', file: '=1+1.tif', detections: 1, seed: 1 });
    const rows = parseCsv(detectionCsvRows('b1', result));
    expect(rows[0]![0]).toBe("'=1+1.tif");
  });
});
