/**
 * The esbuild settings every Lambda bundle uses: the CDK stack
 * (NodejsFunction) and `npm run bench:bundle` share them, so the measured
 * bundle is the deployed one.
 */
export const LAMBDA_NODE_TARGET = 'node22';

/** ESM output: CommonJS dependencies still call require(), which ESM lacks. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __exodetectCreateRequire } from 'node:module'; const require = __exodetectCreateRequire(import.meta.url);";

/**
 * Modules that cannot be bundled: native binaries (onnxruntime-node, sharp: copied in for linux-arm64), and
 * tesseract.js, which starts a worker thread from its own script and loads its wasm and language data from
 * its packages' folders. They are left external and copied in (infra/bundle/natives.mjs).
 */
export const NATIVE_MODULES = ['onnxruntime-node', 'sharp', 'tesseract.js', '@tesseract.js-data/eng'] as const;

/** Prefer ESM entry points, which tree-shake better. */
export const MAIN_FIELDS = ['module', 'main'];
