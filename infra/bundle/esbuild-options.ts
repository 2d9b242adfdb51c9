/**
 * The esbuild settings every Lambda bundle uses: the CDK stack
 * (NodejsFunction) and `npm run bench:bundle` share them, so the measured
 * bundle is the deployed one.
 */
export const LAMBDA_NODE_TARGET = 'node22';

/** ESM output: CommonJS dependencies still call require(), which ESM lacks. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __exodetectCreateRequire } from 'node:module'; const require = __exodetectCreateRequire(import.meta.url);";

/** Native modules cannot be bundled: they are left external and copied in for linux-arm64 (infra/bundle/natives.mjs). */
export const NATIVE_MODULES = ['onnxruntime-node', 'sharp'] as const;

/** Prefer ESM entry points, which tree-shake better. */
export const MAIN_FIELDS = ['module', 'main'];
