/**
 * Builds the detect function's Lambda bundle exactly as the stack does
 * (same esbuild settings, same native copy for linux-arm64) and measures it.
 * Used by `npm run bench:bundle` and tests/infra/bundle.test.ts.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { fromRoot } from '../paths.js';
import { ESM_REQUIRE_BANNER, LAMBDA_NODE_TARGET, MAIN_FIELDS, NATIVE_MODULES } from './esbuild-options.js';
import { copyNativeModules, directorySize } from './natives.mjs';

export interface BundleReport {
  readonly outDir: string;
  readonly totalBytes: number;
  readonly codeBytes: number;
  readonly sourceMapBytes: number;
  readonly nodeModulesBytes: number;
  readonly copied: string[];
  readonly missing: string[];
}

/** Lambda's limit for a function's unzipped code. */
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024;
/** The project's own target for detect. */
export const DETECT_BUNDLE_TARGET_BYTES = 80 * 1024 * 1024;

export interface BuildOptions {
  /** Default: lambdas/detect.ts. */
  readonly entry?: string;
  /** Natives for this platform/arch. Default linux/arm64 (what Lambda runs); tests use the host's to execute the bundle. */
  readonly platform?: string;
  readonly arch?: string;
}

export async function buildDetectBundle(outDir: string, options: BuildOptions = {}): Promise<BundleReport> {
  const entry = options.entry ?? fromRoot('lambdas', 'detect.ts');
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [entry],
    outfile: join(outDir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: LAMBDA_NODE_TARGET,
    mainFields: MAIN_FIELDS,
    banner: { js: ESM_REQUIRE_BANNER },
    minify: true,
    keepNames: true,
    sourcemap: true,
    external: [...NATIVE_MODULES],
    logLevel: 'warning',
  });
  const { copied, missing } = copyNativeModules({
    outputDir: outDir,
    modules: [...NATIVE_MODULES],
    ...(options.platform !== undefined && { platform: options.platform }),
    ...(options.arch !== undefined && { arch: options.arch }),
  });
  const codeBytes = statSync(join(outDir, 'index.mjs')).size;
  const sourceMapBytes = statSync(join(outDir, 'index.mjs.map')).size;
  return {
    outDir,
    totalBytes: directorySize(outDir),
    codeBytes,
    sourceMapBytes,
    nodeModulesBytes: directorySize(join(outDir, 'node_modules')),
    copied,
    missing,
  };
}
