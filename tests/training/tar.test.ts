import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readTar, readTarGz, TarFormatError } from '../../lambdas/training/tar.js';
import { tarGz } from './tar-archive.js';

const longName = `deep/${'n'.repeat(130)}/weights.bin`;
const files = { 'model.onnx': Buffer.alloc(70_000, 7), 'metrics.json': '{"ok":true}', [longName]: 'x' };

describe.each(['gnu', 'python'] as const)('readTarGz on a %s archive', (tool) => {
  it('returns every regular file with its bytes and a normalised path (long names too)', () => {
    const entries = readTarGz(tarGz(files, tool));
    const byPath = new Map(entries.map((e) => [e.path, e.data]));
    expect([...byPath.keys()].sort()).toEqual([longName, 'metrics.json', 'model.onnx'].sort());
    expect(byPath.get('model.onnx')!.equals(files['model.onnx'] as Buffer)).toBe(true);
    expect(byPath.get('metrics.json')!.toString()).toBe('{"ok":true}');
  });
});

describe('readTar errors', () => {
  it('rejects data that is not gzip, and a corrupted header', () => {
    expect(() => readTarGz(Buffer.from('plain text'))).toThrow(/not a gzip file/);
    const raw = gunzipSync(tarGz({ 'a.txt': 'a' }));
    raw[10] = raw[10]! ^ 0xff;
    expect(() => readTar(raw)).toThrow(TarFormatError);
    expect(() => readTarGz(gzipSync(raw))).toThrow(/bad header checksum/);
  });
});
