import { open as openFile, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { isVigilError } from '../../../src/errors';
import { FileSpool, SPOOL_CHANNELS, spoolEntrySize, type FileSpoolOptions, type SpoolBatch, type SpoolDropEvent } from '../../../src/edge/spool';
import { entry, labels, tempDir } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  jest.restoreAllMocks();
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
});

/** A temp dir removed after the test, and an opener whose spools are closed first. */
async function setup(defaults: Partial<FileSpoolOptions> = {}): Promise<{ dir: string; open: (o?: Partial<FileSpoolOptions>) => Promise<FileSpool> }> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  return {
    dir,
    open: async (o = {}) => {
      const spool = await FileSpool.open({ dir, fsync: 'never', ...defaults, ...o });
      cleanups.push(() => spool.close());
      return spool;
    },
  };
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
}

async function drainAll(spool: FileSpool): Promise<string[]> {
  const out: string[] = [];
  for (let b = await spool.peek({ maxEntries: 1000 }); b !== null; b = await spool.peek({ maxEntries: 1000 })) {
    out.push(...labels(b));
    spool.ack(b);
  }
  return out;
}

/** The prototype of `FileHandle` (not exported by node:fs), to spy on its methods. */
async function fileHandlePrototype(dir: string): Promise<{ datasync: () => Promise<void> }> {
  const fh = await openFile(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(fh) as { datasync: () => Promise<void> };
  await fh.close();
  return proto;
}

const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);

describe('FileSpool recovery', () => {
  it('restores every resolved append, minus the acked ones, in order — without a clean close', async () => {
    const { open } = await setup({ fsync: 'always' });
    const first = await open();
    await first.append(range(5).map((n) => entry('a', n)));
    await first.append([entry('b', 1, 'flash'), entry('a', 6)]);
    const b = (await first.peek({ maxEntries: 3 })) as SpoolBatch;
    expect(labels(b)).toEqual(['b#1', 'a#1', 'a#2']);
    first.ack(b);
    await first.flush();
    const inFlight = (await first.peek({ maxEntries: 1 })) as SpoolBatch; // in flight at the "crash": must come back
    expect(labels(inFlight)).toEqual(['a#3']);
    // No close: a second spool opens the same directory as a restarted gateway would.
    const second = await open();
    expect(second.recovery).toMatchObject({ entries: 4, tornBytes: 0, corruptRegions: 0, invalidRecords: 0 });
    expect(second.stats()).toMatchObject({ entries: 4, counters: { appended: 0 } });
    expect(await drainAll(second)).toEqual(['a#3', 'a#4', 'a#5', 'a#6']);
  });

  it('keeps entries across close and reopen, byte for byte', async () => {
    const { open } = await setup();
    const s1 = await open();
    const e = { ...entry('dev-1', 1, 'immediate'), headers: { 'key-id': 'k1', raw: Buffer.from([1, 2]) }, expiresAt: 9e12 };
    await s1.append([e]);
    await s1.close();
    const s2 = await open();
    const b = (await s2.peek()) as SpoolBatch;
    const got = b.entries[0];
    expect(got).toBeDefined();
    expect({ ...got, key: Buffer.from(got?.key as Buffer), value: Buffer.from(got?.value as Buffer) }).toEqual(e);
    expect(b.bytes).toBe(spoolEntrySize(e));
  });

  it('drops a torn last record (cut mid-record), keeps everything before it, and reports it', async () => {
    const { dir, open } = await setup();
    const s1 = await open();
    await s1.append(range(10).map((n) => entry('a', n)));
    await s1.close();
    const [seg] = await segmentFiles(dir);
    const path = join(dir, seg as string);
    const size = (await stat(path)).size;
    const cut = Math.floor(spoolEntrySize(entry('a', 10)) / 2);
    await truncate(path, size - cut);
    const s2 = await open();
    expect(s2.recovery).toMatchObject({ entries: 9, tornSegments: 1, corruptRegions: 0 });
    expect(s2.recovery.tornBytes).toBe(spoolEntrySize(entry('a', 10)) - cut);
    expect((await stat(path)).size).toBe(size - spoolEntrySize(entry('a', 10))); // the torn tail is cut off
    expect(await drainAll(s2)).toEqual(range(9).map((n) => `a#${n}`));
  });

  it('drops a last record whose bytes were garbled (checksum mismatch) and reports the torn tail', async () => {
    const { dir, open } = await setup();
    const s1 = await open();
    await s1.append(range(4).map((n) => entry('a', n)));
    await s1.close();
    const path = join(dir, (await segmentFiles(dir))[0] as string);
    const buf = await readFile(path);
    buf[buf.length - 3] = (buf[buf.length - 3] as number) ^ 0xff;
    await writeFile(path, buf);
    const s2 = await open();
    expect(s2.recovery).toMatchObject({ entries: 3, tornSegments: 1, tornBytes: spoolEntrySize(entry('a', 4)) });
    expect(await drainAll(s2)).toEqual(['a#1', 'a#2', 'a#3']);
  });

  it('skips a corrupted record in the middle, keeps the ones after it, and counts the damage', async () => {
    const { dir, open } = await setup();
    const s1 = await open();
    const es = range(5).map((n) => entry('a', n));
    await s1.append(es);
    await s1.close();
    const path = join(dir, (await segmentFiles(dir))[0] as string);
    const buf = await readFile(path);
    const one = spoolEntrySize(es[0] as (typeof es)[0]);
    const third = buf.length - 3 * one; // the records are the file's tail, after the segment start
    buf[third + 40] = (buf[third + 40] as number) ^ 0x55;
    await writeFile(path, buf);
    const s2 = await open();
    expect(s2.recovery).toMatchObject({ entries: 4, tornBytes: 0, corruptRegions: 1, corruptBytes: one });
    expect(await drainAll(s2)).toEqual(['a#1', 'a#2', 'a#4', 'a#5']);
  });

  it('treats a zero-filled tail (size grew, data never landed) as torn', async () => {
    const { dir, open } = await setup();
    const s1 = await open();
    await s1.append([entry('a', 1)]);
    await s1.close();
    const path = join(dir, (await segmentFiles(dir))[0] as string);
    const size = (await stat(path)).size;
    await truncate(path, size + 4096);
    const s2 = await open();
    expect(s2.recovery).toMatchObject({ entries: 1, tornBytes: 4096, tornSegments: 1 });
    expect(await drainAll(s2)).toEqual(['a#1']);
  });

  it('sheds at open when the budget was lowered below what is stored', async () => {
    const { open } = await setup();
    const s1 = await open();
    await s1.append([entry('a', 1, 'routine'), entry('b', 1, 'flash'), entry('c', 1, 'immediate'), entry('a', 2, 'routine')]);
    await s1.close();
    const one = spoolEntrySize(entry('a', 1));
    const drops: SpoolDropEvent[] = [];
    const s2 = await open({ budgetBytes: 2 * one, onDrop: (e) => drops.push(e) });
    expect(s2.recovery.shedOverBudget).toBe(2);
    expect(drops.map((d) => d.deviceId)).toEqual(['a', 'a']);
    await s2.close();
    const s3 = await open(); // the shedding was recorded
    expect(await drainAll(s3)).toEqual(['b#1', 'c#1']);
  });

  it('never reuses a sequence number after every old segment was deleted', async () => {
    const { open } = await setup({ segmentBytes: 4096 });
    const s1 = await open();
    await s1.append(range(200).map((n) => entry('a', n)));
    await drainAll(s1);
    await s1.append([entry('b', 1)]);
    await s1.close();
    // The new entries must not be hit by the old remove records still in the last segment.
    const s2 = await open();
    await s2.append([entry('c', 1)]);
    await s2.close();
    const s3 = await open();
    expect(await drainAll(s3)).toEqual(['b#1', 'c#1']);
  });

  it('publishes the recovery report on diagnostics_channel', async () => {
    const { dir, open } = await setup();
    const got: unknown[] = [];
    const onMessage = (m: unknown): void => void got.push(m);
    subscribe(SPOOL_CHANNELS.recovered, onMessage);
    try {
      await open();
    } finally {
      unsubscribe(SPOOL_CHANNELS.recovered, onMessage);
    }
    expect(got).toEqual([expect.objectContaining({ dir, entries: 0, segments: 0 })]);
  });
});

describe('FileSpool segments', () => {
  it('rolls segments at segmentBytes and deletes them once all their entries are acked', async () => {
    const { dir, open } = await setup({ segmentBytes: 4096 });
    const spool = await open();
    for (let i = 0; i < 20; i++) await spool.append(range(10, i * 10 + 1).map((n) => entry('a', n)));
    const many = (await segmentFiles(dir)).length;
    expect(many).toBeGreaterThan(5);
    expect(spool.stats().segments).toBe(many);
    const b = (await spool.peek({ maxEntries: 100 })) as SpoolBatch;
    spool.ack(b);
    await spool.flush();
    const fewer = (await segmentFiles(dir)).length;
    expect(fewer).toBeLessThan(many);
    expect(fewer).toBeGreaterThan(1);
    expect(await drainAll(spool)).toEqual(range(100, 101).map((n) => `a#${n}`));
    await spool.flush();
    expect(await segmentFiles(dir)).toHaveLength(1);
    expect(spool.stats().diskBytes).toBe((await stat(join(dir, (await segmentFiles(dir))[0] as string))).size);
  });

  it('deletes only a prefix: a live entry in an old segment keeps it (and the ones after) until acked', async () => {
    const { dir, open } = await setup({ segmentBytes: 4096 });
    const spool = await open();
    await spool.append([entry('slow', 1, 'routine')]);
    for (let i = 0; i < 10; i++) await spool.append(range(10, i * 10 + 1).map((n) => entry('fast', n, 'flash')));
    const before = (await segmentFiles(dir)).length;
    const b = (await spool.peek({ maxEntries: 100 })) as SpoolBatch; // all flash, slow#1 stays
    expect(b.entries.every((e) => e.deviceId === 'fast')).toBe(true);
    spool.ack(b);
    await spool.flush();
    expect((await segmentFiles(dir)).length).toBe(before);
    expect(await drainAll(spool)).toEqual(['slow#1']);
    await spool.flush();
    expect(await segmentFiles(dir)).toHaveLength(1);
  });
});

describe('FileSpool fsync policy', () => {
  it("'always' fdatasyncs before append resolves, and concurrent appends share one sync (group commit)", async () => {
    const { dir, open } = await setup({ fsync: 'always' });
    const spool = await open();
    const proto = await fileHandlePrototype(dir);
    const spy = jest.spyOn(proto, 'datasync');
    await spool.append([entry('a', 1)]);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockClear();
    const before = spool.stats().syncs as number;
    await Promise.all(range(200).map((n) => spool.append([entry(`d${n % 7}`, n)])));
    const syncs = (spool.stats().syncs as number) - before;
    expect(spy.mock.calls.length).toBe(syncs);
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThanOrEqual(3); // 200 appends, one or two group commits
    expect(spool.stats().entries).toBe(201);
  });

  it("'always' does not resolve an append before its sync completes", async () => {
    const { dir, open } = await setup({ fsync: 'always' });
    const spool = await open();
    const proto = await fileHandlePrototype(dir);
    const original = proto.datasync;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    jest.spyOn(proto, 'datasync').mockImplementation(async function (this: unknown) {
      await gate;
      return original.call(this);
    });
    let resolved = false;
    const p = spool.append([entry('a', 1)]).then(() => void (resolved = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(resolved).toBe(false);
    release();
    await p;
    expect(resolved).toBe(true);
  });

  it("'never' makes no sync on append; 'interval' syncs within its period", async () => {
    const { dir, open } = await setup({ fsync: 'never' });
    const never = await open();
    await never.append(range(20).map((n) => entry('a', n)));
    expect(never.stats().syncs).toBe(0);
    await never.close();
    const proto = await fileHandlePrototype(dir);
    const interval = await open({ fsync: 'interval', fsyncIntervalMs: 10 });
    const spy = jest.spyOn(proto, 'datasync');
    await interval.append([entry('b', 1)]);
    expect(spy).not.toHaveBeenCalled(); // resolved on the write
    await new Promise((r) => setTimeout(r, 60));
    expect(spy).toHaveBeenCalled();
  });

  it('fails stop on a sync error: the append rejects with VIGIL_E_SPOOL_IO and the spool refuses more work', async () => {
    const { dir, open } = await setup({ fsync: 'always' });
    const spool = await open();
    const proto = await fileHandlePrototype(dir);
    jest.spyOn(proto, 'datasync').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    const err = await spool.append([entry('a', 1)]).catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_E_SPOOL_IO')).toBe(true);
    await expect(spool.append([entry('a', 2)])).rejects.toMatchObject({ code: 'VIGIL_E_SPOOL_IO' });
    await expect(spool.peek()).rejects.toMatchObject({ code: 'VIGIL_E_SPOOL_IO' });
  });
});

describe('FileSpool read-back', () => {
  it('drops an entry whose record was damaged on disk after it was written, counting it as corrupt', async () => {
    const { dir, open } = await setup();
    const drops: SpoolDropEvent[] = [];
    // No entry kept in memory once written: every one is read back from its segment.
    const spool = await open({ onDrop: (e) => drops.push(e), residentBytes: 0 });
    const got: unknown[] = [];
    const onCorrupt = (m: unknown): void => void got.push(m);
    await spool.append([entry('a', 1), entry('a', 2), entry('a', 3)]);
    await spool.flush();
    const path = join(dir, (await segmentFiles(dir))[0] as string);
    const fh = await openFile(path, 'r+');
    const size = (await fh.stat()).size;
    const one = spoolEntrySize(entry('a', 2));
    await fh.write(Buffer.from([0xee]), 0, 1, size - 2 * one + 30); // inside a#2
    await fh.close();
    subscribe(SPOOL_CHANNELS.corrupt, onCorrupt);
    try {
      expect(await drainAll(spool)).toEqual(['a#1', 'a#3']);
    } finally {
      unsubscribe(SPOOL_CHANNELS.corrupt, onCorrupt);
    }
    expect(drops).toEqual([expect.objectContaining({ reason: 'corrupt', deviceId: 'a', priority: 'routine' })]);
    expect(got).toEqual(drops);
    expect(spool.stats()).toMatchObject({ entries: 0, bytes: 0, counters: { corrupt: 1 } });
  });

  it('keeps the newest residentBytes of written entries in memory: those are handed out without the disk, older ones are read back', async () => {
    const { dir, open } = await setup();
    const drops: SpoolDropEvent[] = [];
    const one = spoolEntrySize(entry('a', 2));
    // Room for the newest entry only.
    const spool = await open({ onDrop: (e) => drops.push(e), residentBytes: one });
    await spool.append([entry('a', 1), entry('a', 2), entry('a', 3)]);
    await spool.flush();
    const path = join(dir, (await segmentFiles(dir))[0] as string);
    const fh = await openFile(path, 'r+');
    const size = (await fh.stat()).size;
    await fh.write(Buffer.from([0xee]), 0, 1, size - 2 * one + 30); // inside a#2: read back, found damaged
    await fh.write(Buffer.from([0xee]), 0, 1, size - one + 30); // inside a#3: still in memory, never read
    await fh.close();
    expect(await drainAll(spool)).toEqual(['a#1', 'a#3']);
    expect(drops).toEqual([expect.objectContaining({ reason: 'corrupt', deviceId: 'a' })]);
    // After a restart nothing is in memory: what is left comes from the disk.
    await spool.append([entry('b', 1)]);
    await spool.close();
    const again = await open({ residentBytes: one });
    expect(await drainAll(again)).toEqual(['b#1']);
  });

  it('rejects bad options with VIGIL_E_SPOOL_OPTIONS naming the option', async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    await expect(FileSpool.open({ dir, fsync: 'sometimes' as 'always' })).rejects.toMatchObject({ code: 'VIGIL_E_SPOOL_OPTIONS', details: { option: 'fsync' } });
    await expect(FileSpool.open({ dir, segmentBytes: 10 })).rejects.toMatchObject({ code: 'VIGIL_E_SPOOL_OPTIONS', details: { option: 'segmentBytes' } });
    await expect(FileSpool.open({ dir, residentBytes: -1 })).rejects.toMatchObject({ code: 'VIGIL_E_SPOOL_OPTIONS', details: { option: 'residentBytes' } });
    await expect(FileSpool.open({ dir: '' })).rejects.toMatchObject({ code: 'VIGIL_E_SPOOL_OPTIONS', details: { option: 'dir' } });
  });
});
