import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateStreamKey, StreamKeyring } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { memoryStateDir, openLmdbStateDir, openState, parseRecordKey, PartitionState, sealState, StateMemory, MAX_RECORD_BYTES, type LocalKv, type LocalStateDir, type ParsedKey } from '../../src/state';
import { Subject } from 'rxjs';
import { count, keyedWindow, tumbling, type JsonValue, type KeyedState, type StreamEvent, type WindowResult } from '../../src/stream';

const TOPIC = 'telemetry.vitals';
const key = generateStreamKey('state.k1');
const keyring = new StreamKeyring([key]);
const ident = { save: (v: JsonValue): JsonValue => v, load: (j: JsonValue): JsonValue => j };

/** A changelog partition as a list of sealed records, in offset order. */
class Log {
  readonly records: Array<{ key: string; value: Buffer | null }> = [];
  append(iterable: Iterable<{ key: string; plain: Buffer | null }>, upTo = Infinity): void {
    for (const r of [...iterable].slice(0, upTo)) this.records.push({ key: r.key, value: r.plain === null ? null : sealState(r.plain, key) });
  }
  /** What compaction would keep: the last record per key (tombstones dropped). */
  compacted(): Log {
    const last = new Map<string, number>();
    this.records.forEach((r, i) => last.set(r.key, i));
    const out = new Log();
    this.records.forEach((r, i) => {
      if (last.get(r.key) === i && r.value !== null) out.records.push(r);
    });
    return out;
  }
  get end(): number {
    return this.records.length;
  }
}

function restore(state: PartitionState, log: Log, useLocal: boolean, from = 0, heldChars?: number): JsonValue | null {
  const b = state.restoreBuilder(useLocal, heldChars === undefined ? {} : { heldChars });
  for (const r of log.records.slice(from)) {
    const parsed = parseRecordKey(r.key) as ParsedKey;
    b.add({ parsed, opened: r.value === null ? null : openState(r.value, 'state.k1', keyring, r.key) });
  }
  return b.finish(String(log.end));
}

function open(dir: LocalStateDir, memory = new StateMemory(64 * 1024 * 1024)): { state: PartitionState; store: KeyedState<JsonValue> } {
  const state = new PartitionState(TOPIC, dir.kv(`${TOPIC}:0`), memory);
  const store = state.provider('stats').store<JsonValue>('windows', ident);
  return { state, store };
}

const all = (store: KeyedState<JsonValue>): Record<string, JsonValue> => Object.fromEntries([...store.entries()].sort(([a], [b]) => a.localeCompare(b)));

describe('partition state: incremental commits, restores, torn commits', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'vigil-state-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes only the entries changed since the last commit, then its commit record', () => {
    const { state, store } = open(memoryStateDir());
    store.set('a', 1);
    store.set('b', 2);
    const c1 = state.prepare({ offset: '10' });
    expect([...c1.records].map((r) => parseRecordKey(r.key))).toEqual([
      { type: 'entry', topic: TOPIC, store: 'stats/windows', slot: 0, chunk: 0, key: 'a' },
      { type: 'entry', topic: TOPIC, store: 'stats/windows', slot: 0, chunk: 0, key: 'b' },
      { type: 'meta', topic: TOPIC },
    ]);
    c1.finish(null);
    store.set('b', 3);
    const c2 = state.prepare({ offset: '11' });
    // Only b, into the slot that does not hold its committed value.
    expect([...c2.records].map((r) => parseRecordKey(r.key))).toEqual([{ type: 'entry', topic: TOPIC, store: 'stats/windows', slot: 1, chunk: 0, key: 'b' }, { type: 'meta', topic: TOPIC }]);
    c2.finish(null);
    expect([...state.prepare({ offset: '11' }).records]).toHaveLength(1);
  });

  it('restores from the changelog alone what was committed, and ignores a commit that landed in part', () => {
    const log = new Log();
    const { state, store } = open(memoryStateDir());
    store.set('a', 1);
    store.set('b', 2);
    let c = state.prepare({ offset: '10' });
    log.append(c.records);
    c.finish(null);
    store.set('a', 100);
    store.set('b', 200);
    store.set('c', 300);
    store.delete('b');
    c = state.prepare({ offset: '20' });
    // The worker dies after two of the records landed: no commit record.
    log.append(c.records, 1);
    for (const view of [log, log.compacted()]) {
      const fresh = open(memoryStateDir());
      expect(restore(fresh.state, view, false)).toEqual({ offset: '10' });
      expect(all(fresh.store)).toEqual({ a: 1, b: 2 });
      expect(fresh.state.epoch).toBe(1);
    }
  });

  it('after a torn commit, the next owner commits over the torn slot and a restore takes its values', () => {
    const log = new Log();
    const first = open(memoryStateDir());
    first.store.set('a', 1);
    let c = first.state.prepare({ offset: '10' });
    log.append(c.records);
    c.finish(null);
    first.store.set('a', 2);
    log.append(first.state.prepare({ offset: '20' }).records, 1); // torn
    const second = open(memoryStateDir());
    restore(second.state, log, false);
    expect(second.store.get('a')).toBe(1);
    second.store.set('a', 3);
    c = second.state.prepare({ offset: '15' });
    log.append(c.records);
    c.finish(null);
    const third = open(memoryStateDir());
    expect(restore(third.state, log.compacted(), false)).toEqual({ offset: '15' });
    expect(third.store.get('a')).toBe(3);
  });

  it('deletes with a marker first, tombstones both slots at the next commit, and a partial tombstone write still reads as deleted', () => {
    const log = new Log();
    const w = open(memoryStateDir());
    w.store.set('a', 1);
    w.store.set('keep', 0);
    let c = w.state.prepare({ offset: '1' });
    log.append(c.records);
    c.finish(null);
    w.store.set('a', 2);
    c = w.state.prepare({ offset: '2' });
    log.append(c.records);
    c.finish(null);
    w.store.delete('a');
    c = w.state.prepare({ offset: '3' });
    log.append(c.records);
    c.finish(null);
    c = w.state.prepare({ offset: '4' });
    const tombstones = [...c.records].filter((r) => r.plain === null);
    expect(tombstones.map((r) => parseRecordKey(r.key))).toEqual([expect.objectContaining({ key: 'a', slot: 1 }), expect.objectContaining({ key: 'a', slot: 0 })]);
    for (const upTo of [1, [...c.records].length]) {
      const view = new Log();
      view.records.push(...log.records);
      view.append(c.records, upTo);
      const r = open(memoryStateDir());
      restore(r.state, view.compacted(), false);
      expect(all(r.store)).toEqual({ keep: 0 });
    }
    c.finish(null);
    expect([...w.state.prepare({ offset: '5' }).records]).toHaveLength(1);
  });

  it('a clean restart restores from the local store plus only the changelog tail written since its last local commit', () => {
    const path = tmp();
    const log = new Log();
    let dir = openLmdbStateDir(path);
    const w = open(dir);
    for (let i = 0; i < 100; i++) w.store.set(`k${i}`, i);
    let c = w.state.prepare({ offset: '100' });
    log.append(c.records);
    c.finish(String(log.end));
    const tailFrom = log.end;
    // Another owner took the partition over (from the changelog), changed two entries, deleted one.
    const other = open(memoryStateDir());
    restore(other.state, log, false);
    other.store.set('k1', -1);
    other.store.set('new', 'x');
    other.store.delete('k2');
    c = other.state.prepare({ offset: '150' });
    log.append(c.records);
    c.finish(null);
    void dir.close();
    // The first worker restarts on its disk and gets the partition back.
    dir = openLmdbStateDir(path);
    const back = open(dir);
    expect(back.state.localCommit()).toMatchObject({ epoch: 1, tailFrom: String(tailFrom) });
    expect(restore(back.state, log, true, tailFrom)).toEqual({ offset: '150' });
    const expected: Record<string, JsonValue> = {};
    for (let i = 0; i < 100; i++) if (i !== 2) expected[`k${i}`] = i === 1 ? -1 : i;
    expected.new = 'x';
    expect(all(back.store)).toEqual(expected);
    expect(back.state.epoch).toBe(2);
    void dir.close();
  });

  it('writes changes larger than one LMDB transaction, in order', async () => {
    const dir = openLmdbStateDir(tmp());
    const kv = dir.kv(`${TOPIC}:0`);
    const big = (c: string): string => c.repeat(3 << 20);
    kv.write([['a', big('a')], ['b', big('b')], ['c', big('c')], ['d', big('d')], ['a', 'again'], ['b', null], ['m', 'last']]);
    expect([...kv.keys('')]).toEqual(['a', 'c', 'd', 'm']);
    expect(kv.get('a')).toBe('again');
    expect(kv.get('d')).toBe(big('d'));
    await dir.close();
  });

  it('repairs a local write torn by a crash: the restart replays the commit from the changelog tail', () => {
    const dir = memoryStateDir();
    const inner = dir.kv(`${TOPIC}:0`);
    // Writes in parts, as LMDB does for a large commit; `tearAfter` changes in, the process dies.
    let tearAfter = Infinity;
    const kv: LocalKv = {
      get: (k) => inner.get(k),
      write: (changes) => {
        const part: Array<readonly [string, string | null]> = [];
        for (const c of changes) {
          if (part.length === tearAfter) {
            inner.write(part);
            throw new Error('killed mid-write');
          }
          part.push(c);
        }
        inner.write(part);
      },
      entries: (p) => inner.entries(p),
      keys: (p) => inner.keys(p),
      clear: () => inner.clear(),
      stash: (k, t) => inner.stash(k, t),
      stashed: (k) => inner.stashed(k),
      stashedPage: (p, after, limit) => inner.stashedPage(p, after, limit),
      clearStash: () => inner.clearStash(),
    };
    const log = new Log();
    const state = new PartitionState(TOPIC, kv, new StateMemory(64 * 1024 * 1024));
    const store = state.provider('stats').store<JsonValue>('windows', ident);
    for (let i = 0; i < 10; i++) store.set(`k${i}`, i);
    let c = state.prepare({ offset: '10' });
    log.append(c.records);
    c.finish(String(log.end));
    const tailFrom = log.end;
    for (let i = 1; i <= 5; i++) store.set(`k${i}`, i * 10);
    store.delete('k6');
    store.set('n1', 'new');
    c = state.prepare({ offset: '20' });
    log.append(c.records);
    tearAfter = 4;
    expect(() => c.finish(String(log.end))).toThrow('killed mid-write');
    // The restart finds the first commit's record and a part of the second's changes.
    const back = new PartitionState(TOPIC, inner, new StateMemory(64 * 1024 * 1024));
    const backStore = back.provider('stats').store<JsonValue>('windows', ident);
    expect(back.localCommit()).toMatchObject({ epoch: 1, tailFrom: String(tailFrom) });
    expect(restore(back, log, true, tailFrom)).toEqual({ offset: '20' });
    const expected: Record<string, JsonValue> = { n1: 'new' };
    for (let i = 0; i < 10; i++) if (i !== 6) expected[`k${i}`] = i >= 1 && i <= 5 ? i * 10 : i;
    expect(all(backStore)).toEqual(expected);
    expect(back.epoch).toBe(2);
    // Its next commit writes each changed entry into the slot that does not hold its committed value.
    backStore.set('k1', 11);
    backStore.set('k0', 1);
    const slots = Object.fromEntries([...back.prepare({ offset: '21' }).records].flatMap((r) => {
      const p = parseRecordKey(r.key) as ParsedKey;
      return p.type === 'entry' && r.plain !== null ? [[p.key, p.slot]] : [];
    }));
    expect(slots).toEqual({ k1: 0, k0: 1 });
  });

  it('keeps committed deletions apart from values on disk: after a clean restart their tombstones are still due, and keys() lists only live entries', () => {
    const path = tmp();
    const log = new Log();
    let dir = openLmdbStateDir(path);
    const w = open(dir);
    for (let i = 0; i < 5; i++) w.store.set(`k${i}`, i);
    let c = w.state.prepare({ offset: '5' });
    log.append(c.records);
    c.finish(String(log.end));
    w.store.delete('k3');
    c = w.state.prepare({ offset: '6' });
    log.append(c.records);
    c.finish(String(log.end));
    expect([...w.store.keys()].sort()).toEqual(['k0', 'k1', 'k2', 'k4']);
    void dir.close();
    dir = openLmdbStateDir(path);
    const back = open(dir);
    expect(restore(back.state, log, true, log.end)).toEqual({ offset: '6' });
    expect([...back.store.keys()].sort()).toEqual(['k0', 'k1', 'k2', 'k4']);
    expect(back.store.get('k3')).toBeUndefined();
    // The deletion's tombstones (both slots of k3) go out with the next commit.
    const next = [...back.state.prepare({ offset: '7' }).records];
    expect(next.filter((r) => r.plain === null).map((r) => (parseRecordKey(r.key) as { key: string }).key)).toEqual(['k3', 'k3']);
    // Set again after its deletion: the value goes to the slot the deletion did not use.
    back.store.set('k3', 33);
    const again = [...back.state.prepare({ offset: '7' }).records].map((r) => parseRecordKey(r.key) as { key: string; slot?: number });
    expect(again[0]).toMatchObject({ key: 'k3', slot: 0 });
    void dir.close();
  });

  it('does not use a local store written in another layout: the partition is restored from the changelog', () => {
    const path = tmp();
    const log = new Log();
    let dir = openLmdbStateDir(path);
    const w = open(dir);
    w.store.set('a', 1);
    const c = w.state.prepare({ offset: '1' });
    log.append(c.records);
    c.finish(String(log.end));
    // What an earlier version wrote: a commit record without the layout's number.
    const kv = dir.kv(`${TOPIC}:0`);
    const commit = JSON.parse(kv.get('m') as string) as Record<string, unknown>;
    delete commit.format;
    kv.write([['m', JSON.stringify(commit)]]);
    void dir.close();
    dir = openLmdbStateDir(path);
    const back = open(dir);
    expect(back.state.localCommit()).toBeNull();
    expect(restore(back.state, log, false)).toEqual({ offset: '1' });
    expect(all(back.store)).toEqual({ a: 1 });
    void dir.close();
  });

  it.each([
    ['in memory', false],
    ['on LMDB', true],
  ])('moves a settled entry off the heap (%s): committed from the scratch space, then read from the local store, a fresh copy on each get', (_, lmdb) => {
    const log = new Log();
    const memory = new StateMemory(64 * 1024 * 1024);
    const path = tmp();
    const dir = lmdb ? openLmdbStateDir(path) : memoryStateDir();
    const { state, store } = open(dir, memory);
    const big = { values: Array.from({ length: 50 }, (_, i) => i * 1.5), label: 'fired window' };
    store.set('w', big);
    store.set('other', 1);
    // Many settled entries: past the scratch space's batch, so some are read back from disk.
    for (let i = 0; i < 3000; i++) {
      store.set(`s${i}`, { i, pad: 'p'.repeat(400) });
      store.settle(`s${i}`);
    }
    const before = memory.used;
    store.settle('w');
    expect(memory.used).toBeLessThan(before);
    expect([...store.keys()].filter((k) => !k.startsWith('s')).sort()).toEqual(['other', 'w']);
    expect(store.get('s7')).toEqual({ i: 7, pad: 'p'.repeat(400) });
    store.settle('s7');
    expect(all(store)).toMatchObject({ other: 1, w: big, s2999: { i: 2999 } });
    // Still dirty: the commit writes its JSON from the scratch space; then it leaves the cache.
    store.settle('w');
    const cachedBefore = (store as unknown as { cached: number }).cached;
    const c = state.prepare({ offset: '1' });
    log.append(c.records);
    c.finish(null);
    expect((store as unknown as { cached: number }).cached).toBe(cachedBefore - 3001);
    const fresh = open(memoryStateDir());
    restore(fresh.state, log, false);
    expect(fresh.store.get('w')).toEqual(big);
    expect(fresh.store.get('s2999')).toEqual({ i: 2999, pad: 'p'.repeat(400) });
    // The next get decodes a fresh copy (from the local store now); a change to it is committed, a deletion too.
    const copy = store.get('w') as { label: string };
    expect(copy).toEqual(big);
    expect(copy).not.toBe(big);
    copy.label = 'revised';
    store.changed('w');
    store.settle('w');
    store.delete('other');
    const c2 = state.prepare({ offset: '2' });
    log.append(c2.records);
    c2.finish(null);
    const again = open(memoryStateDir());
    restore(again.state, log, false);
    expect(all(again.store)).toMatchObject({ w: { ...big, label: 'revised' }, s0: { i: 0 } });
    expect(Object.keys(all(again.store))).toHaveLength(3001);
  });

  it('does not keep scratch entries across a reopen: a settled, uncommitted change is lost with the process like any other', async () => {
    const path = tmp();
    let dir = openLmdbStateDir(path);
    let { state, store } = open(dir);
    store.set('a', 1);
    state.prepare({ offset: '1' }).finish('1');
    for (let i = 0; i < 3000; i++) {
      store.set(`s${i}`, 'x'.repeat(500));
      store.settle(`s${i}`);
    }
    const scratchKey = (store as unknown as { prefix: string }).prefix + 's5';
    expect(dir.kv(`${TOPIC}:0`).stashed(scratchKey)).toBe('"' + 'x'.repeat(500) + '"');
    await dir.close();
    dir = openLmdbStateDir(path);
    expect(dir.kv(`${TOPIC}:0`).stashed(scratchKey)).toBeUndefined();
    ({ state, store } = open(dir));
    restore(state, new Log(), true);
    expect(all(store)).toEqual({ a: 1 });
    await dir.close();
  });

  it('commits settled entries, and ones read, changed or deleted again after settling, into the right slots', () => {
    const dir = openLmdbStateDir(tmp());
    const { state, store } = open(dir);
    const log = new Log();
    for (const k of ['a', 'b', 'c', 'd']) store.set(k, `${k}0`);
    let c = state.prepare({ offset: '1' });
    log.append(c.records);
    c.finish(String(log.end));
    // Changed, then settled (as a fired window waiting out its lateness): they share a cache entry per slot.
    for (const k of ['a', 'b', 'c', 'd']) {
      store.set(k, `${k}1`);
      store.settle(k);
    }
    store.set('n', 'n1');
    store.settle('n');
    expect(store.get('a')).toBe('a1'); // read back: live again
    store.set('b', 'b2'); // replaced while settled
    store.delete('c'); // deleted while settled
    store.pin('d'); // pinned while settled: live again
    expect(all(store)).toEqual({ a: 'a1', b: 'b2', d: 'd1', n: 'n1' });
    c = state.prepare({ offset: '2' });
    const written = [...c.records].flatMap((r) => {
      const p = parseRecordKey(r.key) as ParsedKey;
      return p.type === 'entry' ? [`${p.key}:${p.slot}`] : [];
    });
    expect(written.sort()).toEqual(['a:1', 'b:1', 'c:1', 'd:1', 'n:0']);
    log.append(c.records);
    c.finish(String(log.end));
    expect(all(store)).toEqual({ a: 'a1', b: 'b2', d: 'd1', n: 'n1' });
    const back = open(memoryStateDir());
    restore(back.state, log, false);
    expect(all(back.store)).toEqual({ a: 'a1', b: 'b2', d: 'd1', n: 'n1' });
    void dir.close();
  });

  it('keeps the heap under its budget by evicting committed entries, and reads them back from the local store', () => {
    const memory = new StateMemory(512 * 1024);
    const { state, store } = open(openLmdbStateDir(tmp()), memory);
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 2000; i++) store.set(`k${i}`, [i, big]);
    // Nothing is committed yet: nothing can go, the worker must commit.
    expect(memory.pressure).toBe(true);
    state.prepare({ offset: '1' }).finish(null);
    expect(memory.used).toBeLessThanOrEqual(memory.limit);
    expect(memory.evictions).toBeGreaterThan(1000);
    expect(store.get('k7')).toEqual([7, big]);
    expect([...store.entries()]).toHaveLength(2000);
  });

  it('splits a value above the record limit into chunks and puts it back together', () => {
    const log = new Log();
    const { state, store } = open(memoryStateDir());
    const huge = Array.from({ length: 60_000 }, (_, i) => `entry-${i}`);
    store.set('huge', huge);
    // Multi-byte text: a chunk boundary falls inside a UTF-8 sequence somewhere.
    const accented = Array.from({ length: 40_000 }, (_, i) => `entrée-${i}-ü€`);
    store.set('accented', accented);
    const c = state.prepare({ offset: '1' });
    expect([...c.records].length).toBeGreaterThan(3);
    for (const r of c.records) expect(Buffer.byteLength(r.key) + (r.plain?.length ?? 0) + 64).toBeLessThan(MAX_RECORD_BYTES);
    log.append(c.records);
    c.finish(null);
    const r = open(memoryStateDir());
    restore(r.state, log, false);
    expect(r.store.get('huge')).toEqual(huge);
    expect(r.store.get('accented')).toEqual(accented);
  });

  it('restores more state than it may hold in memory through the scratch space, to the same result (seeded)', async () => {
    // A seeded history: 300 keys set, changed and deleted over 40 commits, some values large
    // enough to be chunked, one commit torn at the end; restored with every candidate held in
    // memory, and with budgets that spill after every record or every few hundred.
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    const log = new Log();
    const w = open(memoryStateDir());
    let tailFrom = 0;
    for (let commit = 1; commit <= 40; commit++) {
      for (let i = 0; i < 30; i++) {
        const k = `k${Math.floor(rnd() * 300)}`;
        const r = rnd();
        if (r < 0.15) w.store.delete(k);
        else if (r < 0.17) w.store.set(k, Array.from({ length: 20_000 }, (_, j) => `${k}-${commit}-${j}-é`));
        else w.store.set(k, { commit, v: Math.floor(rnd() * 1e6), s: 'ü'.repeat(Math.floor(rnd() * 20)) });
      }
      const c = w.state.prepare({ offset: String(commit) });
      log.append(c.records);
      c.finish(String(log.end));
      if (commit === 25) tailFrom = log.end;
    }
    w.store.set('k1', 'torn');
    w.store.set('k2', 'torn');
    log.append(w.state.prepare({ offset: '41' }).records, 1);
    // Some values went in several chunks (a spill may fall between two chunks of one).
    expect(log.records.filter((r) => (parseRecordKey(r.key) as ParsedKey & { chunk?: number }).chunk === 1).length).toBeGreaterThan(3);
    const expected = all(w.store);
    delete expected.k1;
    delete expected.k2;
    const inMemory = open(memoryStateDir());
    expect(restore(inMemory.state, log, false)).toEqual({ offset: '40' });
    expect(inMemory.state.restoreSpills).toBe(0);
    const reference = all(inMemory.store);
    // k1 and k2 as committed last (the torn commit ignored).
    expect(Object.keys(reference).length).toBeGreaterThan(100);
    for (const view of [log, log.compacted()]) {
      for (const heldChars of [1, 20_000]) {
        for (const lmdb of [false, true]) {
          const dir = lmdb ? openLmdbStateDir(tmp()) : memoryStateDir();
          const r = open(dir);
          expect(restore(r.state, view, false, 0, heldChars)).toEqual({ offset: '40' });
          expect(r.state.restoreSpills).toBeGreaterThan(heldChars === 1 ? 400 : 2);
          expect(r.state.epoch).toBe(40);
          expect(all(r.store)).toEqual(reference);
          // A clean restart on that disk: the local store plus the tail since commit 25, spilled too.
          if (lmdb && view === log) {
            const again = open(dir);
            expect(restore(again.state, log, true, tailFrom, heldChars)).toEqual({ offset: '40' });
            expect(all(again.store)).toEqual(reference);
          }
          await dir.close();
        }
      }
    }
    for (const [k, v] of Object.entries(reference)) if (k !== 'k1' && k !== 'k2') expect(v).toEqual(expected[k]);
  });

  it('refuses a record it cannot open, naming the store and key', () => {
    const { state, store } = open(memoryStateDir());
    store.set('dev-7', 1);
    const rec = [...state.prepare({ offset: '1' }).records][0] as { key: string; plain: Buffer };
    const value = sealState(rec.plain, generateStreamKey('state.k1'));
    let err: unknown;
    try {
      openState(value, 'state.k1', keyring, 'store "stats/windows" key "dev-7"');
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_PIPELINE_CHECKPOINT')).toBe(true);
    expect((err as Error).message).toMatch(/store "stats\/windows" key "dev-7"/);
  });

  it('fails readably when the local store cannot be opened', () => {
    const file = join(tmp(), 'not-a-dir');
    writeFileSync(file, '');
    let err: unknown;
    try {
      openLmdbStateDir(join(file, 'state'));
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_STATE_STORE')).toBe(true);
    expect((err as Error).message).toMatch(/not-a-dir\/state: cannot open/);
  });
});

describe('operators on partition state across restarts', () => {
  it('a tumbling window keeps counting across two restarts from the local store (the restored copy is the one saved)', () => {
    const dir = memoryStateDir();
    type R = { k: string };
    const run = (events: ReadonlyArray<StreamEvent<R>>, restoreFrom: boolean): { outputs: Array<WindowResult<string, number>>; meta: JsonValue } => {
      const state = new PartitionState(TOPIC, dir.kv(`${TOPIC}:0`), new StateMemory(64 * 1024 * 1024));
      const op = keyedWindow({ key: (r: R) => r.k, window: tumbling(10), allowedLateness: 100, aggregate: count<R>() });
      op.bindState(state.provider('stats'));
      if (restoreFrom) {
        const b = state.restoreBuilder(true);
        const meta = b.finish(null) as { ops: JsonValue } | null;
        op.restoreMeta(meta === null ? null : meta.ops);
      } else {
        op.restoreMeta(null);
      }
      const outputs: Array<WindowResult<string, number>> = [];
      const src = new Subject<StreamEvent<R>>();
      const sub = src.pipe(op).subscribe((o) => outputs.push(o));
      for (const e of events) src.next(e);
      sub.unsubscribe();
      // A plain ops map stands in for the task's commit record.
      state.prepare({ ops: op.saveMeta() }).finish(null);
      return { outputs, meta: op.saveMeta() };
    };
    const rec = (t: number): StreamEvent<R> => ({ kind: 'record', time: t, value: { k: 'a' } });
    run([rec(1), rec(2)], false);
    run([rec(3)], true);
    const last = run([rec(4), { kind: 'watermark', time: 10 }], true);
    expect(last.outputs).toEqual([expect.objectContaining({ type: 'final', key: 'a', value: 4 })]);
  });

  it('refuses state saved by an operator with other settings', () => {
    const dir = memoryStateDir();
    const a = keyedWindow({ key: (r: string) => r, window: tumbling(10), aggregate: count<string>() });
    const b = keyedWindow({ key: (r: string) => r, window: tumbling(20), aggregate: count<string>() });
    const s1 = new PartitionState(TOPIC, dir.kv('x'), new StateMemory(1 << 20));
    a.bindState(s1.provider('stats'));
    const s2 = new PartitionState(TOPIC, dir.kv('y'), new StateMemory(1 << 20));
    b.bindState(s2.provider('stats'));
    expect(() => b.restoreMeta(a.saveMeta())).toThrow(/settings/);
  });
});
