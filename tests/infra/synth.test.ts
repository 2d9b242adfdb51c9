import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const outDir = mkdtempSync(join(tmpdir(), 'exodetect-cdk-out-'));
let output = '';

// The real CLI, offline: no notices, no version check, no telemetry; bundling with local esbuild,
// the training image only staged (DockerImageAsset builds at deploy time, no Docker engine here).
beforeAll(async () => {
  const result = await run(
    'npx',
    ['cdk', 'synth', '--quiet', '--no-notices', '--no-version-reporting', '--output', outDir],
    {
      cwd: root,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 280_000,
      env: {
        ...process.env,
        CDK_DISABLE_VERSION_CHECK: 'true',
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        // An offline machine may lack sharp's separately fetched arm64 binaries (npm run bundle:natives).
        EXODETECT_ALLOW_MISSING_NATIVES: '1',
      },
    },
  );
  output = `${result.stdout}\n${result.stderr}`;
}, 300_000);
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('npx cdk synth (offline)', () => {
  it('writes the template, with cdk-nag reporting nothing', () => {
    const template = JSON.parse(readFileSync(join(outDir, 'Exodetect.template.json'), 'utf8'));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    expect(output).not.toMatch(/AwsSolutions-/);
  });

  it('bundles every handler, and the detect bundle with linux-arm64 natives', () => {
    const assets = JSON.parse(readFileSync(join(outDir, 'Exodetect.assets.json'), 'utf8'));
    const bundles = readdirSync(outDir).filter((d) => d.startsWith('asset.') && existsSync(join(outDir, d, 'index.mjs')));
    expect(bundles.length).toBe(9);
    const detect = bundles.filter((d) => existsSync(join(outDir, d, 'node_modules', 'onnxruntime-node')));
    expect(detect).toHaveLength(1);
    expect(readdirSync(join(outDir, detect[0]!, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6'))).toEqual(['linux']);
    expect(output).toMatch(/\[exodetect natives\] linux-arm64: copied onnxruntime-node/);
    // The training image is a Docker asset from training-container/.
    const images = Object.values(assets.dockerImages ?? {}) as Array<{ source: { directory: string } }>;
    expect(images).toHaveLength(1);
    expect(existsSync(join(outDir, images[0]!.source.directory, 'Dockerfile'))).toBe(true);
  });
});
