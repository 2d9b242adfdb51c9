/** Builds model.tar.gz archives with the system's GNU tar or Python's tarfile (pax), as SageMaker and the trainer would. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function tarGz(files: Record<string, string | Buffer>, tool: 'gnu' | 'python' = 'gnu'): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'exodetect-tar-'));
  try {
    const root = join(dir, 'model');
    for (const [name, body] of Object.entries(files)) {
      mkdirSync(dirname(join(root, name)), { recursive: true });
      writeFileSync(join(root, name), body);
    }
    const out = join(dir, 'model.tar.gz');
    if (tool === 'gnu') {
      execFileSync('tar', ['-czf', out, '-C', root, '.']);
    } else {
      const script = 'import sys, tarfile\nwith tarfile.open(sys.argv[1], "w:gz", format=tarfile.PAX_FORMAT) as t: t.add(sys.argv[2], arcname=".")';
      execFileSync('python3', ['-c', script, out, root]);
    }
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
