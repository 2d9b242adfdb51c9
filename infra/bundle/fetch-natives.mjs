/**
 * `npm run bundle:natives`: fetches the linux-arm64 packages that npm does not
 * install on another platform (sharp's @img/sharp-linux-arm64 and
 * @img/sharp-libvips-linux-arm64, at the versions the installed sharp pins)
 * with `npm pack`, and unpacks them into infra/.natives/node_modules/. Needs
 * the npm registry; run once before `cdk deploy` on a non-arm64 machine.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATIVES_DIR, PROJECT_ROOT, TARGET_ARCH, TARGET_PLATFORM } from './natives.mjs';

const sharpPkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8'));
const wanted = [`@img/sharp-${TARGET_PLATFORM}-${TARGET_ARCH}`, `@img/sharp-libvips-${TARGET_PLATFORM}-${TARGET_ARCH}`].map(
  (name) => ({ name, version: sharpPkg.optionalDependencies[name] }),
);
const work = mkdtempSync(join(tmpdir(), 'exodetect-natives-'));
try {
  for (const { name, version } of wanted) {
    const target = join(NATIVES_DIR, 'node_modules', ...name.split('/'));
    if (existsSync(join(target, 'package.json')) && JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')).version === version) {
      console.log(`${name}@${version}: already in ${target}`);
      continue;
    }
    const file = execFileSync('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', work], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop();
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xzf', join(work, file), '-C', target, '--strip-components=1']);
    console.log(`${name}@${version}: unpacked into ${target}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
