import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import { VigilError } from '../errors';

/**
 * The local store of one source partition's state: string keys, text values (everything
 * stored is JSON behind a one-character tag; text, not bytes, so that neither a write nor
 * a read makes a Buffer per entry), atomic batch writes. A cache of what the changelog holds, written only at commits, so after a crash
 * it is exactly the state of its last local commit.
 */
export interface LocalKv {
  get(key: string): string | undefined;
  /**
   * Applies the changes in order (null: delete); `changes` may be produced lazily. Not
   * atomic as a whole: LMDB writes them in transactions of a bounded size, so a crash can
   * leave the first part written. Callers write their commit record last, and a restore
   * replays every change after the previous commit record from the changelog, so a torn
   * write is repaired (PartitionState).
   */
  write(changes: Iterable<readonly [string, string | null]>): void;
  /** Entries whose key starts with `prefix`, in key order. */
  entries(prefix: string): IterableIterator<[string, string]>;
  /** Keys that start with `prefix`, in key order (values are not read). */
  keys(prefix: string): IterableIterator<string>;
  clear(): void;
  /**
   * Scratch space, apart from the committed entries and never part of a commit: values
   * changed since the last commit that the heap need not hold until then (settled
   * entries). Writes are batched; `stashed` sees them at once. Cleared by `clearStash`
   * (after each commit and restore) and whenever the store is opened.
   */
  stash(key: string, text: string): void;
  stashed(key: string): string | undefined;
  /** Up to `limit` scratch entries whose key starts with `prefix` and comes after `after` (null: from the first), in key order. */
  stashedPage(prefix: string, after: string | null, limit: number): Array<[string, string]>;
  clearStash(): void;
}

/** Local stores of a worker: one per source partition it has owned. */
export interface LocalStateDir {
  /** The store of `name` (e.g. `telemetry.vitals:3`); `persistent` says whether it survives the process. */
  kv(name: string): LocalKv;
  readonly persistent: boolean;
  readonly path: string | null;
  close(): Promise<void>;
}

function storeError(path: string, action: string, err: unknown): VigilError {
  const e = err as NodeJS.ErrnoException;
  const hint = /MDB_MAP_FULL|ENOSPC|No space/i.test(String(e?.message)) ? ' (the disk is full)' : /EACCES|EPERM/.test(String(e?.code ?? e?.message)) ? ' (permission denied)' : '';
  return new VigilError('VIGIL_E_STATE_STORE', `local state store ${path}: cannot ${action}${hint}: ${e?.message ?? String(err)}`, { details: { path, action }, cause: err });
}

/** Stashed text kept in memory before it is written in one transaction. */
const STASH_BATCH_CHARS = 1 << 20;
/**
 * Text (keys and values) written per LMDB write transaction. A transaction holds every page
 * it changes in memory (malloc, until it commits): a commit of 300,000 entries at 100,000
 * devices in one transaction took about 80 MB of RSS for the length of its write.
 */
const WRITE_TXN_CHARS = 8 << 20;

class LmdbKv implements LocalKv {
  private pending = new Map<string, string>();
  private pendingChars = 0;

  constructor(
    private readonly db: Database<string, string>,
    private readonly scratch: Database<string, string>,
    private readonly where: string,
  ) {
    this.clearStash();
  }

  stash(key: string, text: string): void {
    const before = this.pending.get(key);
    this.pending.set(key, text);
    this.pendingChars += text.length - (before?.length ?? 0);
    if (this.pendingChars >= STASH_BATCH_CHARS) this.flushStash();
  }

  stashed(key: string): string | undefined {
    const p = this.pending.get(key);
    if (p !== undefined) return p;
    try {
      return this.scratch.get(key) ?? undefined;
    } catch (err) {
      throw storeError(this.where, `read the scratch entry ${JSON.stringify(key)}`, err);
    }
  }

  stashedPage(prefix: string, after: string | null, limit: number): Array<[string, string]> {
    if (this.pending.size > 0) this.flushStash();
    const out: Array<[string, string]> = [];
    try {
      for (const { key, value } of this.scratch.getRange({ start: after ?? prefix, end: `${prefix}\uffff` })) {
        if (key === after) continue;
        out.push([key, value]);
        if (out.length >= limit) break;
      }
    } catch (err) {
      throw storeError(this.where, `scan the scratch space from ${JSON.stringify(after ?? prefix)}`, err);
    }
    return out;
  }

  clearStash(): void {
    this.pending.clear();
    this.pendingChars = 0;
    try {
      this.scratch.clearSync();
    } catch (err) {
      throw storeError(this.where, 'clear the scratch space', err);
    }
  }

  private flushStash(): void {
    const pending = this.pending;
    try {
      this.scratch.transactionSync(() => {
        for (const [k, v] of pending) this.scratch.putSync(k, v);
      });
    } catch (err) {
      throw storeError(this.where, `write ${pending.size} settled entries to the scratch space`, err);
    }
    this.pending = new Map();
    this.pendingChars = 0;
  }

  get(key: string): string | undefined {
    try {
      return this.db.get(key) ?? undefined;
    } catch (err) {
      throw storeError(this.where, `read ${JSON.stringify(key)}`, err);
    }
  }

  write(changes: Iterable<readonly [string, string | null]>): void {
    let n = 0;
    const it = changes[Symbol.iterator]();
    let more = true;
    try {
      while (more) {
        this.db.transactionSync(() => {
          let chars = 0;
          for (;;) {
            const next = it.next();
            if (next.done === true) {
              more = false;
              return;
            }
            const [k, v] = next.value;
            n++;
            if (v === null) this.db.removeSync(k);
            else this.db.putSync(k, v);
            chars += k.length + (v === null ? 0 : v.length);
            if (chars >= WRITE_TXN_CHARS) return;
          }
        });
      }
    } catch (err) {
      throw storeError(this.where, `write entries (at the ${n}th)`, err);
    }
  }

  *entries(prefix: string): IterableIterator<[string, string]> {
    try {
      for (const { key, value } of this.db.getRange({ start: prefix, end: `${prefix}\uffff` })) yield [key, value];
    } catch (err) {
      throw storeError(this.where, `scan ${JSON.stringify(prefix)}`, err);
    }
  }

  *keys(prefix: string): IterableIterator<string> {
    try {
      for (const key of this.db.getKeys({ start: prefix, end: `${prefix}\uffff` })) yield key;
    } catch (err) {
      throw storeError(this.where, `scan the keys of ${JSON.stringify(prefix)}`, err);
    }
  }

  clear(): void {
    try {
      this.db.clearSync();
    } catch (err) {
      throw storeError(this.where, 'clear', err);
    }
  }
}

/**
 * LMDB under `path` (one environment per worker and pipeline, one named database per
 * source partition). lmdb installs from prebuilt binaries; reads are synchronous memory-map
 * lookups, which is what lets the synchronous operator chain read spilled state inline.
 */
export function openLmdbStateDir(path: string): LocalStateDir {
  let root: RootDatabase<string, string>;
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    root = open<string, string>({ path, maxDbs: 4096, encoding: 'string', compression: false });
  } catch (err) {
    throw storeError(path, 'open', err);
  }
  const dbs = new Map<string, LmdbKv>();
  return {
    persistent: true,
    path,
    kv(name: string): LocalKv {
      let kv = dbs.get(name);
      if (kv === undefined) {
        try {
          // The scratch database beside it: uncommitted, so it need not survive a crash (cleared on open).
          kv = new LmdbKv(root.openDB<string, string>({ name, encoding: 'string' }), root.openDB<string, string>({ name: `~scratch ${name}`, encoding: 'string' }), `${path} [${name}]`);
        } catch (err) {
          throw storeError(path, `open database ${name}`, err);
        }
        dbs.set(name, kv);
      }
      return kv;
    },
    async close(): Promise<void> {
      await root.close();
    },
  };
}

class MemoryKv implements LocalKv {
  private readonly map = new Map<string, string>();
  private readonly scratch = new Map<string, string>();
  /** The scratch keys in order, sorted once for a run of `stashedPage` calls (null after a change). */
  private sortedScratch: string[] | null = null;
  stash(key: string, text: string): void {
    if (!this.scratch.has(key)) this.sortedScratch = null;
    this.scratch.set(key, text);
  }
  stashed(key: string): string | undefined {
    return this.scratch.get(key);
  }
  stashedPage(prefix: string, after: string | null, limit: number): Array<[string, string]> {
    const sorted = (this.sortedScratch ??= [...this.scratch.keys()].sort());
    // The first key past `after` (or at `prefix`), by binary search.
    const from = after ?? prefix;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const k = sorted[mid] as string;
      if (k < from || (after !== null && k === after)) lo = mid + 1;
      else hi = mid;
    }
    const out: Array<[string, string]> = [];
    for (let i = lo; i < sorted.length && out.length < limit; i++) {
      const k = sorted[i] as string;
      if (!k.startsWith(prefix)) break;
      out.push([k, this.scratch.get(k) as string]);
    }
    return out;
  }
  clearStash(): void {
    this.scratch.clear();
    this.sortedScratch = null;
  }
  get(key: string): string | undefined {
    return this.map.get(key);
  }
  write(changes: Iterable<readonly [string, string | null]>): void {
    for (const [k, v] of changes) {
      if (v === null) this.map.delete(k);
      else this.map.set(k, v);
    }
  }
  *entries(prefix: string): IterableIterator<[string, string]> {
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const k of keys) {
      const v = this.map.get(k);
      if (v !== undefined) yield [k, v];
    }
  }
  *keys(prefix: string): IterableIterator<string> {
    for (const [k] of this.entries(prefix)) yield k;
  }
  clear(): void {
    this.map.clear();
  }
}

/**
 * Encoded state in memory: no `stateDir` (tests, the in-memory demo). Evicted values stay
 * in RAM as JSON text, and every restore reads the changelog.
 */
export function memoryStateDir(): LocalStateDir {
  const dbs = new Map<string, MemoryKv>();
  return {
    persistent: false,
    path: null,
    kv(name: string): LocalKv {
      let kv = dbs.get(name);
      if (kv === undefined) {
        kv = new MemoryKv();
        dbs.set(name, kv);
      }
      return kv;
    },
    close: () => Promise.resolve(),
  };
}
