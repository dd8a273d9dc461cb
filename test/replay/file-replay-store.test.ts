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

  it('compacts the log into a snapshot and starts a new log generation', async () => {
    const dir = tmp();
    const s = await FileReplayStore.open(dir, { compactBytes: 200 });
    for (let i = 0n; i < 50n; i++) s.accept(`d${i % 5n}`, i);
    await s.flush();
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
