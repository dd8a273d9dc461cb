import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileReplayStore, type ReplayStore } from '../../src/replay';
import { isVigilError } from '../../src/errors';
import { replayStoreContract } from './replay-store.contract';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'vigil-replay-'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

replayStoreContract('file', async () => {
  const dir = tmp();
  return { store: await FileReplayStore.open(dir), reopen: () => FileReplayStore.open(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

replayStoreContract('file, compacting at every flush', async () => {
  const dir = tmp();
  const opts = { compactBytes: 1 };
  return { store: await FileReplayStore.open(dir, opts), reopen: () => FileReplayStore.open(dir, opts), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('FileReplayStore', () => {
  let store: ReplayStore | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('cuts a torn log tail on open and keeps every record before it', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir);
    for (let i = 0n; i < 10n; i++) s.accept('dev', i);
    await s.flush();
    await s.close();
    const log = join(dir, 'replay.0.log');
    const full = statSync(log).size;
    truncateSync(log, full - 3); // the last record loses its tail, as in a crash mid-write
    const r = await FileReplayStore.open(dir);
    store = r;
    expect(r.recovery).toEqual({ devices: 1, logRecords: 9, droppedBytes: full / 10 - 3 });
    for (let i = 0n; i < 9n; i++) expect(r.check('dev', i)).toBe('replay');
    expect(r.check('dev', 9n)).toBe('fresh');
    expect(statSync(log).size).toBe((full / 10) * 9);
  });

  it('stops at a corrupt record (bad checksum) and drops it and what follows', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir);
    for (let i = 0n; i < 4n; i++) s.accept('dev', i);
    await s.flush();
    await s.close();
    const log = join(dir, 'replay.0.log');
    const buf = readFileSync(log);
    const rec = buf.length / 4;
    buf[rec * 2 + 8] = (buf[rec * 2 + 8] as number) ^ 0xff; // garble record #2
    writeFileSync(log, buf);
    const r = await FileReplayStore.open(dir);
    store = r;
    expect(r.recovery.logRecords).toBe(2);
    expect(r.recovery.droppedBytes).toBe(rec * 2);
    expect(r.check('dev', 1n)).toBe('replay');
    expect(r.check('dev', 2n)).toBe('fresh');
  });

  it('writes nothing durable before flush, and one write per group of concurrent flushes', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir);
    store = s;
    s.accept('a', 1n);
    expect(existsSync(join(dir, 'replay.0.log')) ? statSync(join(dir, 'replay.0.log')).size : 0).toBe(0);
    const flushes = [s.flush(), s.flush(), s.flush()];
    s.accept('a', 2n);
    flushes.push(s.flush());
    await Promise.all(flushes);
    const r = await FileReplayStore.open(dir);
    expect(r.check('a', 1n)).toBe('replay');
    expect(r.check('a', 2n)).toBe('replay');
    await r.close();
  });

  it('keeps every record of a flush larger than its first buffer, and of the flushes after it', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir);
    for (let i = 0n; i < 3000n; i++) s.accept(`device-with-a-longer-id-${i % 11n}`, i); // ~150 KB pending
    await s.flush();
    s.accept('after', 1n);
    await s.flush();
    await s.close();
    const r = await FileReplayStore.open(dir);
    expect(r.recovery).toMatchObject({ logRecords: 3001, droppedBytes: 0 });
    for (let i = 2000n; i < 3000n; i++) expect(r.check(`device-with-a-longer-id-${i % 11n}`, i)).toBe('replay');
    expect(r.check('after', 1n)).toBe('replay');
    await r.close();
  });

  it('compacts the log into a snapshot and starts a new log generation', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir, { compactBytes: 200 });
    for (let i = 0n; i < 50n; i++) s.accept(`d${i % 5n}`, i);
    await s.flush();
    await s.compacted();
    expect(s.compactions).toEqual({ done: 1, failed: 0 });
    expect(existsSync(join(dir, 'replay.snapshot.json'))).toBe(true);
    expect(existsSync(join(dir, 'replay.0.log'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toEqual(['replay.1.log']);
    s.accept('d0', 1000n);
    await s.flush();
    await s.close();
    const r = await FileReplayStore.open(dir, { compactBytes: 200 });
    store = r;
    expect(r.check('d0', 1000n)).toBe('replay');
    expect(r.check('d4', 49n)).toBe('replay');
    expect(r.size()).toBe(5);
  });

  it('loses nothing when a crash leaves the old log beside the new snapshot', async () => {
    const dir = tmp();
    const a = await FileReplayStore.open(dir);
    for (let i = 0n; i < 20n; i++) a.accept('k', i);
    a.forget('k');
    a.accept('k', 100n);
    await a.close();
    const oldLog = readFileSync(join(dir, 'replay.0.log'));
    const b = await FileReplayStore.open(dir, { compactBytes: 1 });
    b.accept('k', 101n);
    await b.close(); // compacted: snapshot written, generation 0 removed
    writeFileSync(join(dir, 'replay.0.log'), oldLog); // as if the crash came before generation 0 was removed
    const r = await FileReplayStore.open(dir);
    store = r;
    expect(r.check('k', 100n)).toBe('replay');
    expect(r.check('k', 101n)).toBe('replay');
    expect(r.check('k', 99n)).toBe('fresh');
    expect(existsSync(join(dir, 'replay.0.log'))).toBe(false);
  });

  it('replays both generations when a crash came after the switch to a new log but before the snapshot was renamed', async () => {
    const dir = tmp();
    const a = await FileReplayStore.open(dir);
    for (let i = 0n; i < 20n; i++) a.accept('k', i);
    a.forget('k');
    a.accept('k', 100n);
    a.accept('j', 7n);
    await a.close(); // generation 0, no snapshot yet
    // What the next generation held at the crash: records are self-contained, so another store's log stands in for it.
    const other = tmp();
    const c = await FileReplayStore.open(other);
    c.forget('j');
    c.accept('k', 102n);
    await c.close();
    writeFileSync(join(dir, 'replay.1.log'), readFileSync(join(other, 'replay.0.log')));
    const r = await FileReplayStore.open(dir);
    store = r;
    expect(r.recovery).toEqual({ devices: 1, logRecords: 25, droppedBytes: 0 });
    expect(r.check('k', 19n)).toBe('fresh'); // forgotten in generation 0
    expect(r.check('k', 100n)).toBe('replay');
    expect(r.check('k', 102n)).toBe('replay'); // generation 1
    expect(r.check('j', 7n)).toBe('fresh'); // forgotten in generation 1, after generation 0 accepted it
    r.accept('k', 103n); // appended to the newest generation
    await r.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.log')).sort()).toEqual(['replay.0.log', 'replay.1.log']);
    const again = await FileReplayStore.open(dir);
    store = again;
    expect(again.check('k', 103n)).toBe('replay');
    expect(again.check('j', 7n)).toBe('fresh');
  });

  it('keeps flushing while a compaction is in the background, and loses nothing across reopen', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir, { compactBytes: 64 });
    for (let i = 0n; i < 2000n; i++) {
      s.accept(`d${i % 7n}`, i);
      if (i % 13n === 0n) await s.flush(); // many switches, some while the previous snapshot is still being written
    }
    await s.close();
    expect(s.compactions.failed).toBe(0);
    expect(s.compactions.done).toBeGreaterThan(1);
    const r = await FileReplayStore.open(dir, { compactBytes: 64 });
    store = r;
    for (let i = 1500n; i < 2000n; i++) expect(r.check(`d${i % 7n}`, i)).toBe('replay');
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toHaveLength(1);
  });

  it('refuses a snapshot made with another window size, with a clear error', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir, { compactBytes: 1 });
    s.accept('a', 1n);
    await s.close();
    const err = await FileReplayStore.open(dir, { windowSize: 2048 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isVigilError(err, 'VIGIL_E_REPLAY_STORE_CORRUPT')).toBe(true);
    expect((err as Error).message).toMatch(/window 1024; this gateway expects format 1 and window 2048/);
  });

  it('refuses use after close', async () => {
    const s = await FileReplayStore.open(tmp());
    await s.close();
    expect(() => s.accept('a', 1n)).toThrow(/closed/);
    await expect(s.flush()).rejects.toThrow(/closed/);
  });
});
