import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { FileSpool } from '../../../src/edge/spool';
import { tempDir } from './helpers';

const ROOT = join(__dirname, '..', '..', '..');

/** Runs the crash writer until it has acknowledged `atLeast` appends, then SIGKILLs it; returns what it acknowledged. */
function runAndKill(dir: string, atLeast: number): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'crash-writer.ts'), dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<string, number>();
    let count = 0;
    let rest = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (killed) return; // output after the kill decision is not counted: it may race the kill
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() as string;
      for (const line of lines) {
        const m = /^ok (\S+) (\d+)$/.exec(line);
        if (m === null) continue;
        acked.set(m[1] as string, Number(m[2]));
        if (++count >= atLeast) {
          killed = true;
          child.kill('SIGKILL');
          break;
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`crash writer exited with ${code}: ${stderr}`));
    });
  });
}

describe('FileSpool crash (SIGKILL of a real process)', () => {
  it('recovers every append that resolved before the kill, in order per device, and nothing half-written', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const acked = await runAndKill(dir, 600);
      const spool = await FileSpool.open({ dir, fsync: 'never' });
      try {
        expect(spool.recovery.corruptRegions).toBe(0);
        const seen = new Map<string, number[]>();
        for (let b = await spool.peek({ maxEntries: 10_000 }); b !== null; b = await spool.peek({ maxEntries: 10_000 })) {
          for (const e of b.entries) {
            const list = seen.get(e.deviceId) ?? [];
            list.push(e.enqueuedAt);
            seen.set(e.deviceId, list);
            expect(e.value.equals(Buffer.alloc(200, e.enqueuedAt % 251))).toBe(true);
          }
          spool.ack(b);
        }
        expect(acked.size).toBeGreaterThan(0);
        for (const [device, last] of acked) {
          const got = seen.get(device) ?? [];
          // Contiguous from 1 (order kept, no gap), and at least every acknowledged append.
          expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
          expect(got.length).toBeGreaterThanOrEqual(last);
        }
      } finally {
        await spool.close();
      }
    } finally {
      await cleanup();
    }
  });
});
