import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DETECT_BUNDLE_TARGET_BYTES, buildDetectBundle, type BundleReport } from '../../infra/bundle/detect-bundle.js';

// Packages npm does not install on a non-arm64 machine: fetched by `npm run bundle:natives`,
// absent on an offline CI machine. Everything else must be present.
const FETCHED_SEPARATELY = ['@img/sharp-linux-arm64', '@img/sharp-libvips-linux-arm64'];
const outDir = mkdtempSync(join(tmpdir(), 'exodetect-bundle-test-'));
let report: BundleReport;

beforeAll(async () => {
  report = await buildDetectBundle(outDir);
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  console.log(`detect bundle: ${mb(report.totalBytes)} MB unzipped (code ${mb(report.codeBytes)} MB, node_modules ${mb(report.nodeModulesBytes)} MB); missing: ${report.missing.join(', ') || 'none'}`);
}, 120_000);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('detect bundle for linux-arm64', () => {
  it('stays under the 80 MB target (Lambda allows 250 MB unzipped)', () => {
    expect(report.totalBytes).toBeLessThan(DETECT_BUNDLE_TARGET_BYTES);
    // Even with sharp's arm64 binaries (~18 MB) added, the target holds.
    expect(report.totalBytes + (report.missing.length > 0 ? 20 * 1024 * 1024 : 0)).toBeLessThan(DETECT_BUNDLE_TARGET_BYTES);
  });

  it('carries onnxruntime-node for linux-arm64 only', () => {
    const bin = join(outDir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
    expect(readdirSync(bin)).toEqual(['linux']);
    expect(readdirSync(join(bin, 'linux'))).toEqual(['arm64']);
    expect(existsSync(join(bin, 'linux', 'arm64', 'onnxruntime_binding.node'))).toBe(true);
    expect(existsSync(join(outDir, 'node_modules', 'onnxruntime-common', 'package.json'))).toBe(true);
    expect(existsSync(join(outDir, 'node_modules', 'adm-zip'))).toBe(false); // install-time only
  });

  it('carries sharp and its run-time dependencies; only the separately fetched arm64 packages may be missing', () => {
    for (const name of ['sharp', 'detect-libc', 'semver', '@img/colour']) {
      expect(existsSync(join(outDir, 'node_modules', ...name.split('/'), 'package.json')), name).toBe(true);
    }
    expect(report.missing.map((m) => m.replace(/@[^@]+$/, ''))).toEqual(
      FETCHED_SEPARATELY.filter((name) => !report.copied.includes(name)),
    );
    expect(readdirSync(join(outDir, 'node_modules', '@img')).filter((n) => /x64|darwin|win32|wasm/.test(n))).toEqual([]);
  });

  it('leaves the native modules external to the ESM code', () => {
    const code = readFileSync(join(outDir, 'index.mjs'), 'utf8');
    expect(code.startsWith('import { createRequire as __exodetectCreateRequire }')).toBe(true);
    expect(code).toMatch(/from\s*"onnxruntime-node"|import\("onnxruntime-node"\)|require\("onnxruntime-node"\)/);
    expect(code).toMatch(/from\s*"sharp"|import\("sharp"\)|require\("sharp"\)/);
    // Error classes keep their names through minification (ImageError codes and Step Functions errorType depend on them).
    expect(code).toMatch(/"ImageError"/);
    expect(code).toMatch(/"ModelError"/);
  });
});
