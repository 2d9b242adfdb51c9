import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
    // detect, and promote-model (it runs both models over the validation split).
    const withNatives = bundles.filter((d) => existsSync(join(outDir, d, 'node_modules', 'onnxruntime-node')));
    expect(withNatives).toHaveLength(2);
    for (const d of withNatives) {
      expect(readdirSync(join(outDir, d, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6'))).toEqual(['linux']);
      expect(readdirSync(join(outDir, d, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux'))).toEqual(['arm64']);
    }
    expect(output).toMatch(/\[exodetect natives\] linux-arm64: copied onnxruntime-node/);
    // The training image is a Docker asset from training-container/.
    const images = Object.values(assets.dockerImages ?? {}) as Array<{ source: { directory: string } }>;
    expect(images).toHaveLength(1);
    expect(existsSync(join(outDir, images[0]!.source.directory, 'Dockerfile'))).toBe(true);
  });

  it('produces ESM bundles that load in plain Node and run (all but the three whose natives are arm64)', async () => {
    const all = readdirSync(outDir).filter((d) => d.startsWith('asset.') && existsSync(join(outDir, d, 'index.mjs')));
    const withNatives = all.filter((d) => existsSync(join(outDir, d, 'node_modules', 'sharp')));
    // detect and promote-model (onnxruntime-node and sharp), split-dataset (sharp, for image headers).
    expect(withNatives).toHaveLength(3);
    const bundles = all.filter((d) => !withNatives.includes(d)).map((d) => pathToFileURL(join(outDir, d, 'index.mjs')).href);
    expect(bundles).toHaveLength(6);
    // A separate node process: the bundles as Lambda loads them, not through vitest's transform.
    const script = `
      const results = [];
      for (const url of ${JSON.stringify(bundles)}) {
        const mod = await import(url);
        const out = await mod.handler({ kind: 'model.promoted', detail: { promotion: { candidate: { version: 'v1' } } } })
          .catch((e) => ({ error: e.name }));
        results.push({ handler: typeof mod.handler, out });
      }
      console.log(JSON.stringify(results));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...process.env,
        INFERENCE_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:x',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
        NOTIFY_TOPIC_ARN: '',
        AWS_REGION: 'eu-west-1',
      },
      timeout: 60_000,
    });
    const results = JSON.parse(stdout.trim().split('\n').pop()!) as Array<{ handler: string; out: unknown }>;
    expect(results.map((r) => r.handler)).toEqual(Array(6).fill('function'));
    // notify needs neither S3 nor SNS for this event: it formats and logs. The others reject it by shape.
    expect(results.map((r) => r.out)).toContainEqual({ kind: 'model.promoted', subject: 'exodetect: model v1 promoted to champion', published: false });
    // Error class names survive minification (keepNames): they are the errorType Step Functions reports.
    expect(results.filter((r) => (r.out as { error?: string }).error === 'EventShapeError').length).toBeGreaterThanOrEqual(4);
  });
});
