import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpoolBatch, SpoolEntry, SpoolPriority } from '../../../src/edge/spool';

/** A spool entry whose value says who it is (`<device>#<n>`), padded to `valueBytes`. */
export function entry(deviceId: string, n: number, priority: SpoolPriority = 'routine', extra: Partial<SpoolEntry> = {}, valueBytes = 32): SpoolEntry {
  const value = Buffer.alloc(Math.max(valueBytes, 16), 0x20);
  value.write(`${deviceId}#${n}`, 0, 'utf8');
  return { deviceId, priority, topic: 'telemetry.position', key: Buffer.from(deviceId), value, enqueuedAt: 1_000 + n, ...extra };
}

/** `<device>#<n>` of an entry made by `entry`. */
export function label(e: SpoolEntry): string {
  return e.value.toString('utf8').trimEnd();
}

export function labels(batch: SpoolBatch | null): string[] {
  return batch === null ? [] : batch.entries.map(label);
}

/** A fresh temp dir; `cleanup` removes it. Tests register cleanup in afterEach. */
export async function tempDir(prefix = 'vigil-spool-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A clock tests move by hand. */
export function manualClock(start = 10_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}
