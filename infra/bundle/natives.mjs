/**
 * Copies the Node modules the detect function cannot bundle (onnxruntime-node,
 * sharp, tesseract.js and its English data) into a Lambda bundle, natives for linux-arm64 ONLY. Plain JavaScript so that
 * NodejsFunction's afterBundling hook runs it with `node`, without tsx.
 *
 * Sources, in order: the project's node_modules, then infra/.natives/node_modules
 * (filled by `npm run bundle:natives` for packages npm would not install on a
 * non-arm64 machine: sharp's @img/sharp-linux-arm64 and libvips).
 *
 *   node infra/bundle/natives.mjs <bundle-dir> [module ...]
 *   EXODETECT_ALLOW_MISSING_NATIVES=1: warn instead of failing when a package is absent
 *   (offline synthesis in tests; such a bundle would fail at run time).
 */
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TARGET_PLATFORM = 'linux';
export const TARGET_ARCH = 'arm64';
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NATIVES_DIR = join(PROJECT_ROOT, 'infra', '.natives');

/** Dependencies only their install scripts use: never needed at run time. */
const INSTALL_ONLY = new Set(['adm-zip', 'global-agent', 'opencollective-postinstall']);

/** Per-package rules for one platform: which files to leave out, which platform packages to add. */
function rulesFor(platform, arch) {
  return {
    'onnxruntime-node': {
      // bin/napi-v6/<platform>/<arch>/: keep only ours (25 MB of ~290 MB).
      skip: (rel) => {
        const m = /^bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/.exec(rel);
        if (m) return m[1] !== platform || (m[2] !== undefined && m[2] !== arch);
        return rel.startsWith('script/');
      },
      extra: [],
    },
    sharp: {
      skip: (rel) => rel.startsWith('src/') || rel.startsWith('install/'),
      extra: [`@img/sharp-${platform}-${arch}`, `@img/sharp-libvips-${platform}-${arch}`],
    },
    // Browser builds and docs are not needed in Node.
    'tesseract.js': { skip: (rel) => /^(dist|docs|examples|scripts)(\/|$)/.test(rel), extra: [] },
    // tesseract.js 7's Node worker always loads a full core (tesseract-core{,-simd,-relaxedsimd}.js + .wasm: it
    // hands getCore a boolean where an engine mode is expected), never the -lstm ones; the .wasm.js copies,
    // with the wasm inlined, are for browsers.
    'tesseract.js-core': { skip: (rel) => /^tesseract-core/.test(rel) && !/^tesseract-core(-simd|-relaxedsimd)?\.(js|wasm)$/.test(rel), extra: [] },
    // The LSTM-only integer model (lambdas/detect/scale-bar/ocr.ts); 4.0.0/ also holds the legacy engine's.
    '@tesseract.js-data/eng': { skip: (rel) => /^4\.0\.0(\/|$)/.test(rel), extra: [] },
  };
}

export function defaultSearchPaths(projectRoot = PROJECT_ROOT) {
  return [join(projectRoot, 'node_modules'), join(projectRoot, 'infra', '.natives', 'node_modules')];
}

function findPackage(name, searchPaths) {
  for (const base of searchPaths) {
    const dir = join(base, ...name.split('/'));
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

/** The version sharp (or another parent) pins for an optional platform package. */
function wantedVersion(parentDir, name) {
  const pkg = JSON.parse(readFileSync(join(parentDir, 'package.json'), 'utf8'));
  return pkg.optionalDependencies?.[name] ?? pkg.dependencies?.[name] ?? '*';
}

export function directorySize(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += directorySize(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/**
 * Copies `modules` and their run-time dependency closure into
 * `<outputDir>/node_modules`. Returns what was copied and what was missing
 * (name@version), never throws for a missing package: the caller decides.
 */
export function copyNativeModules({
  outputDir,
  modules = ['onnxruntime-node', 'sharp'],
  searchPaths = defaultSearchPaths(),
  platform = TARGET_PLATFORM,
  arch = TARGET_ARCH,
}) {
  const RULES = rulesFor(platform, arch);
  const copied = [];
  const missing = [];
  const seen = new Set();
  const visit = (name, wanted, parentDir) => {
    if (seen.has(name) || INSTALL_ONLY.has(name)) return;
    seen.add(name);
    const dir = findPackage(name, searchPaths);
    if (!dir) {
      missing.push(`${name}@${wanted ?? (parentDir ? wantedVersion(parentDir, name) : '*')}`);
      return;
    }
    const rule = RULES[name];
    const target = join(outputDir, 'node_modules', ...name.split('/'));
    cpSync(dir, target, {
      recursive: true,
      dereference: true,
      filter: (src) => {
        const rel = relative(dir, src).split(sep).join('/');
        if (rel === '') return true;
        if (rel === 'node_modules' || rel.startsWith('node_modules/')) return false; // nested deps are visited on their own
        return !(rule?.skip(rel) ?? false);
      },
    });
    copied.push(name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, undefined, dir);
    for (const extra of rule?.extra ?? []) visit(extra, wantedVersion(dir, extra), dir);
  };
  for (const name of modules) visit(name, undefined, undefined);
  return { copied, missing };
}

// CLI: the afterBundling hook.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [outputDir, ...modules] = process.argv.slice(2);
  if (!outputDir) {
    console.error('usage: node infra/bundle/natives.mjs <bundle-dir> [module ...]');
    process.exit(2);
  }
  const { copied, missing } = copyNativeModules({ outputDir, ...(modules.length > 0 && { modules }) });
  const size = (directorySize(outputDir) / 1024 / 1024).toFixed(1);
  console.error(`[exodetect natives] ${TARGET_PLATFORM}-${TARGET_ARCH}: copied ${copied.join(', ')}; bundle ${size} MB unzipped`);
  if (missing.length > 0) {
    const message =
      `[exodetect natives] missing ${missing.join(', ')} for ${TARGET_PLATFORM}-${TARGET_ARCH}. ` +
      'Run `npm run bundle:natives` (fetches them with npm pack into infra/.natives/) before deploying.';
    if (process.env.EXODETECT_ALLOW_MISSING_NATIVES === '1') {
      console.error(`${message} Continuing because EXODETECT_ALLOW_MISSING_NATIVES=1: this bundle would fail at run time.`);
    } else {
      console.error(message);
      process.exit(1);
    }
  }
}
