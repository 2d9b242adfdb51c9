/**
 * `npm run bench:bundle`: builds the detect bundle for linux-arm64 and prints
 * its unzipped size against Lambda's 250 MB limit and the project's 80 MB target.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DETECT_BUNDLE_TARGET_BYTES, LAMBDA_UNZIPPED_LIMIT_BYTES, buildDetectBundle } from './detect-bundle.js';

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const outDir = mkdtempSync(join(tmpdir(), 'exodetect-detect-bundle-'));
const started = Date.now();
try {
  const r = await buildDetectBundle(outDir);
  console.log(`detect bundle (linux-arm64), built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`  index.mjs         ${mb(r.codeBytes)}`);
  console.log(`  index.mjs.map     ${mb(r.sourceMapBytes)}`);
  console.log(`  node_modules      ${mb(r.nodeModulesBytes)}  (${r.copied.join(', ')})`);
  console.log(`  total unzipped    ${mb(r.totalBytes)}  (target < ${mb(DETECT_BUNDLE_TARGET_BYTES)}, Lambda limit ${mb(LAMBDA_UNZIPPED_LIMIT_BYTES)})`);
  if (r.missing.length > 0) {
    console.log(`  MISSING           ${r.missing.join(', ')}: run \`npm run bundle:natives\`; the figure above lacks them`);
  }
  if (r.totalBytes > DETECT_BUNDLE_TARGET_BYTES) process.exitCode = 1;
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
