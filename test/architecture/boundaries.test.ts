import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// The import rules of docs/architecture.md §2 are enforced by dependency-cruiser in `npm run lint`.
// These tests prove the rules bite: a forbidden import in a scratch tree fails the check.
const ROOT = join(__dirname, '..', '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');

function cruise(files: Record<string, string>): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-deps-'));
  try {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', strict: true } }));
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const roots = [...new Set(Object.keys(files).map((p) => p.split('/')[0] as string))];
    try {
      const out = execFileSync(DEPCRUISE, ['--config', CONFIG, '--output-type', 'err', ...roots], { cwd: dir, stdio: 'pipe' });
      return { ok: true, output: out.toString() };
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer };
      return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('module boundaries (dependency-cruiser)', () => {
  it('accepts imports the design allows', () => {
    const r = cruise({
      'src/errors/index.ts': 'export const E = 1;\n',
      'src/crypto/index.ts': "import { E } from '../errors';\nexport const C = E;\n",
      'src/codec/index.ts': "import { C } from '../crypto';\nexport const D = C;\n",
      'src/index.ts': "export { D } from './codec';\n",
      'pipelines/p.ts': "import { D } from '../src';\nexport const P = D;\n",
    });
    expect(r).toEqual({ ok: true, output: expect.any(String) });
  });

  it('fails when stream/ imports edge/', () => {
    const r = cruise({
      'src/edge/index.ts': 'export const G = 1;\n',
      'src/stream/window.ts': "import { G } from '../edge';\nexport const W = G;\n",
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('boundary-stream');
  });

  it('fails when crypto/ imports codec/, and when a pipeline reaches past src/index.ts', () => {
    const r = cruise({
      'src/codec/index.ts': 'export const D = 1;\n',
      'src/crypto/index.ts': "import { D } from '../codec';\nexport const C = D;\n",
      'src/index.ts': "export { D } from './codec';\n",
      'pipelines/p.ts': "import { D } from '../src/codec';\nexport const P = D;\n",
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('boundary-crypto');
    expect(r.output).toContain('pipelines-public-api-only');
  });

  it('fails on an import cycle', () => {
    const r = cruise({
      'src/edge/a.ts': "import { B } from './b';\nexport const A = () => B;\n",
      'src/edge/b.ts': "import { A } from './a';\nexport const B = () => A;\n",
    });
    expect(r.ok).toBe(false);
    expect(r.output).toContain('no-circular');
  });

  it('passes on the real tree', () => {
    const out = execFileSync(DEPCRUISE, ['--config', CONFIG, '--output-type', 'err', 'src', 'pipelines'], { cwd: ROOT, stdio: 'pipe' });
    expect(out.toString()).toMatch(/no dependency violations/);
  });
});
