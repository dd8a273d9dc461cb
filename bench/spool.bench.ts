/**
 * Spool throughput: append with group commit under each fsync policy and concurrency, drain
 * (peek + ack, payloads read back from disk), and recovery of 100k entries.
 * `npx tsx bench/spool.bench.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSpool, MemorySpool, type FsyncPolicy, type Spool, type SpoolEntry } from '../src/edge/spool';
import { writeReport, type BenchRow } from './lib/report';

const VALUE_BYTES = 300;
const APPEND_MS = 1500;
const RECOVERY_ENTRIES = 100_000;

function makeEntries(n: number): SpoolEntry[] {
  const out: SpoolEntry[] = [];
  for (let i = 0; i < n; i++) {
    const deviceId = `dev-${String(i % 500).padStart(4, '0')}`;
    out.push({
      deviceId,
      priority: i % 50 === 0 ? 'flash' : i % 10 === 0 ? 'immediate' : 'routine',
      topic: 'telemetry.position',
      key: Buffer.from(deviceId),
      value: Buffer.alloc(VALUE_BYTES, i % 251),
      headers: { 'vigil-key-id': 'stream-key-7' },
      enqueuedAt: 1_700_000_000_000 + i,
    });
  }
  return out;
}

const POOL = makeEntries(4096);

/** `concurrency` loops each appending one entry at a time for `ms`; returns entries/s and latency. */
async function appendRate(spool: Spool, concurrency: number, ms: number): Promise<{ rate: number; meanLatencyMs: number }> {
  let count = 0;
  let latency = 0;
  const deadline = Date.now() + ms;
  const t0 = process.hrtime.bigint();
  const loop = async (k: number): Promise<void> => {
    for (let i = k; Date.now() < deadline; i += concurrency) {
      const s = process.hrtime.bigint();
      await spool.append([POOL[i % POOL.length] as SpoolEntry]);
      latency += Number(process.hrtime.bigint() - s);
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => loop(k)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: count / seconds, meanLatencyMs: latency / count / 1e6 };
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'vigil-spool-bench-'));
  const rows: BenchRow[] = [];
  let dirs = 0;
  const fresh = (): string => join(root, `s${dirs++}`);
  try {
    const cases: Array<[FsyncPolicy | 'memory', number]> = [
      ['always', 1],
      ['always', 64],
      ['always', 1024],
      ['interval', 64],
      ['never', 1],
      ['never', 64],
      ['never', 1024],
      ['memory', 64],
    ];
    for (const [policy, concurrency] of cases) {
      const spool = policy === 'memory' ? new MemorySpool({ budgetBytes: 2 ** 31 }) : await FileSpool.open({ dir: fresh(), fsync: policy, budgetBytes: 2 ** 31 });
      const { rate, meanLatencyMs } = await appendRate(spool, concurrency, APPEND_MS);
      const syncs = spool.stats().syncs;
      rows.push({
        scenario: 'append',
        spool: policy === 'memory' ? 'memory' : `file fsync=${policy}`,
        concurrency,
        'entries/s': Math.round(rate),
        'mean latency ms': meanLatencyMs,
        'entries/sync': syncs === undefined || syncs === 0 ? '-' : (spool.stats().counters.appended / syncs).toFixed(1),
      });
      await spool.close();
    }

    // Drain and recovery over 100k entries written in batches of 1000.
    const dir = fresh();
    const writer = await FileSpool.open({ dir, fsync: 'never', budgetBytes: 2 ** 31 });
    const all = makeEntries(RECOVERY_ENTRIES);
    for (let i = 0; i < all.length; i += 1000) await writer.append(all.slice(i, i + 1000));
    await writer.close();

    const t0 = process.hrtime.bigint();
    const recovered = await FileSpool.open({ dir, fsync: 'never', budgetBytes: 2 ** 31 });
    const recoveryMs = Number(process.hrtime.bigint() - t0) / 1e6;
    rows.push({
      scenario: 'recovery',
      spool: 'file',
      concurrency: 1,
      'entries/s': Math.round(recovered.recovery.entries / (recoveryMs / 1000)),
      'mean latency ms': recoveryMs,
      'entries/sync': '-',
    });

    const t1 = process.hrtime.bigint();
    let drained = 0;
    for (let b = await recovered.peek({ maxEntries: 500 }); b !== null; b = await recovered.peek({ maxEntries: 500 })) {
      drained += b.entries.length;
      recovered.ack(b);
    }
    await recovered.flush();
    const drainS = Number(process.hrtime.bigint() - t1) / 1e9;
    rows.push({ scenario: 'drain (peek 500 + ack)', spool: 'file', concurrency: 1, 'entries/s': Math.round(drained / drainS), 'mean latency ms': (drainS * 1000) / (drained / 500), 'entries/sync': '-' });
    await recovered.close();
    if (drained !== RECOVERY_ENTRIES) throw new Error(`drained ${drained} of ${RECOVERY_ENTRIES}`);

    const mem = new MemorySpool({ budgetBytes: 2 ** 31 });
    for (let i = 0; i < all.length; i += 1000) await mem.append(all.slice(i, i + 1000));
    const t2 = process.hrtime.bigint();
    for (let b = await mem.peek({ maxEntries: 500 }); b !== null; b = await mem.peek({ maxEntries: 500 })) mem.ack(b);
    const memS = Number(process.hrtime.bigint() - t2) / 1e9;
    rows.push({ scenario: 'drain (peek 500 + ack)', spool: 'memory', concurrency: 1, 'entries/s': Math.round(RECOVERY_ENTRIES / memS), 'mean latency ms': (memS * 1000) / (RECOVERY_ENTRIES / 500), 'entries/sync': '-' });
    await mem.close();

    writeReport('spool', rows, {
      valueBytes: VALUE_BYTES,
      appendMs: APPEND_MS,
      recoveryEntries: RECOVERY_ENTRIES,
      notes: 'append: one entry per call, N concurrent callers; "mean latency ms" is per append, or the whole recovery, or per drain batch',
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
