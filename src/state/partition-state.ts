import { VigilError } from '../errors';
import type { JsonValue, KeyedState, StateCodec, StateProvider } from '../stream';
import { CHUNK_BYTES, RecordKind, entryRecordKey, metaRecordKey, statePlain, type OpenedState, type ParsedKey } from './changelog-codec';
import type { LocalKv } from './local-kv';

const SEP = '\u0000';
const EMPTY = Buffer.alloc(0);
/** Local key of the partition's commit record. */
const LOCAL_META = 'm';
/** Rough heap cost of a cached entry beyond its JSON size. */
const ENTRY_OVERHEAD = 96;
/** Local value byte 0: 0/1 the committed slot of a live value; 2/3 a deletion marker committed in slot 0/1. */
const MARKER = 2;

const estimate = (jsonBytes: number): number => ENTRY_OVERHEAD + 2 * jsonBytes;

/**
 * The heap budget of a worker's state caches (`worker.stateCacheBytes`). Stores count what
 * they hold; `trim` evicts clean, unpinned entries (they are on the local disk) oldest
 * first until the caches are under 90% of the budget. What cannot be evicted (changed since
 * the last commit, or pinned open windows) makes `pressure` true: the worker then commits
 * early, which makes the changed entries clean and evictable.
 */
export class StateMemory {
  used = 0;
  readonly stores = new Set<CachedKeyedState<unknown>>();
  evictions = 0;

  constructor(readonly limit: number) {}

  /**
   * What the caches held after the last commit and trim: what a commit cannot free (pinned
   * open windows, entries changed while it ran). An early commit is due only once changed
   * entries have grown a quarter of the budget beyond it, so a cache whose floor is above
   * the budget (more open windows than it holds) does not commit at every batch.
   */
  private floor = 0;

  get pressure(): boolean {
    return this.used > this.limit && this.used > this.floor + this.limit / 4;
  }

  private trimmedAt = 0;

  /** After a commit: trim, and remember what stayed as the floor. */
  committed(): void {
    this.trim();
    this.floor = this.used;
    this.trimmedAt = this.used;
  }

  /**
   * Between commits (after each batch): trims when over budget and grown by 1/16 of it
   * since the last trim; a trim walks the cache, so not at every batch.
   */
  maybeTrim(): void {
    if (this.used > this.limit && this.used > this.trimmedAt + this.limit / 16) {
      this.trim();
      this.trimmedAt = this.used;
    }
  }

  trim(): void {
    if (this.used <= this.limit) return;
    const target = this.limit * 0.9;
    for (const s of this.stores) {
      s.evict(target);
      if (this.used <= target) return;
    }
  }
}

interface Entry<V> {
  /** undefined: deleted since the last commit. */
  value: V | undefined;
  dirty: boolean;
  pinned: boolean;
  /** Slot of the last committed value: −2 not yet looked up, −1 none. */
  slot: number;
  bytes: number;
  /** While a commit is prepared: the slot it writes (−1: nothing to write, the entry just goes) and the value's JSON (null: a deletion marker). */
  nextSlot: number;
  nextJson: Buffer | null;
}

/** What a commit sends (in order; the commit record last) and, once acknowledged, writes locally. */
export interface PreparedCommit {
  readonly epoch: number;
  readonly records: ReadonlyArray<{ readonly key: string; readonly plain: Buffer | null }>;
  /** Call once the records are acknowledged by the changelog: updates the caches and the local store. */
  finish(tailFrom: string | null): void;
}

/** The latest local commit: what a clean restart starts from. */
export interface LocalCommit {
  readonly epoch: number;
  readonly meta: JsonValue;
  /** Changelog offset after which every later state record of this partition lies. */
  readonly tailFrom: string | null;
}

/**
 * One keyed store of one source partition: a bounded cache over the local store, with the
 * keys changed since the last commit.
 */
export class CachedKeyedState<V> implements KeyedState<V> {
  private readonly cache = new Map<string, Entry<V>>();
  private dirtyKeys: string[] = [];
  /** Keys whose deletion marker is committed: their two changelog slots get tombstones next commit. */
  readonly tombstonesDue = new Map<string, number>();
  readonly prefix: string;

  constructor(
    readonly name: string,
    private readonly codec: StateCodec<V>,
    private readonly kv: LocalKv,
    private readonly memory: StateMemory,
  ) {
    this.prefix = `s${SEP}${name}${SEP}`;
  }

  get(key: string): V | undefined {
    const e = this.cache.get(key);
    if (e !== undefined) return e.value;
    const buf = this.kv.get(this.prefix + key);
    if (buf === undefined || (buf[0] as number) >= MARKER) {
      // Remember the absence too: detectors look up every record's key and most keys
      // (quiet devices) have no entry; a disk lookup per record would cost more than the rest.
      const absent: Entry<V> = { value: undefined, dirty: false, pinned: false, slot: buf === undefined ? -1 : (buf[0] as number) - MARKER, bytes: ENTRY_OVERHEAD, nextSlot: -1, nextJson: null };
      this.cache.set(key, absent);
      this.memory.used += absent.bytes;
      return undefined;
    }
    const value = this.decode(buf, key);
    const entry: Entry<V> = { value, dirty: false, pinned: false, slot: buf[0] as number, bytes: estimate(buf.length), nextSlot: -1, nextJson: null };
    this.cache.set(key, entry);
    this.memory.used += entry.bytes;
    return value;
  }

  set(key: string, value: V): void {
    const e = this.cache.get(key);
    if (e !== undefined) {
      e.value = value;
      this.mark(key, e);
      return;
    }
    const entry: Entry<V> = { value, dirty: true, pinned: false, slot: -2, bytes: estimate(128), nextSlot: -1, nextJson: null };
    this.cache.set(key, entry);
    this.memory.used += entry.bytes;
    this.dirtyKeys.push(key);
  }

  changed(key: string): void {
    const e = this.cache.get(key);
    if (e === undefined || e.value === undefined) throw new VigilError('VIGIL_E_INTERNAL', `state store ${this.name}: changed(${JSON.stringify(key)}) for a key it does not hold in memory`);
    this.mark(key, e);
  }

  delete(key: string): void {
    const e = this.cache.get(key);
    if (e !== undefined) {
      e.value = undefined;
      e.pinned = false;
      this.mark(key, e);
      return;
    }
    const entry: Entry<V> = { value: undefined, dirty: true, pinned: false, slot: -2, bytes: ENTRY_OVERHEAD, nextSlot: -1, nextJson: null };
    this.cache.set(key, entry);
    this.memory.used += entry.bytes;
    this.dirtyKeys.push(key);
  }

  pin(key: string): void {
    if (this.get(key) === undefined) return;
    (this.cache.get(key) as Entry<V>).pinned = true;
  }

  unpin(key: string): void {
    const e = this.cache.get(key);
    if (e !== undefined) e.pinned = false;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [k, e] of this.cache) if (e.value !== undefined) yield [k, e.value];
    const n = this.prefix.length;
    for (const [k, buf] of this.kv.entries(this.prefix)) {
      const key = k.slice(n);
      if (this.cache.has(key) || (buf[0] as number) >= MARKER) continue;
      yield [key, this.decode(buf, key)];
    }
  }

  /** Entries in memory (tests and stats). */
  get cached(): number {
    return this.cache.size;
  }

  get dirtyCount(): number {
    return this.dirtyKeys.length + this.tombstonesDue.size;
  }

  /** Evicts clean, unpinned entries, oldest first, until the budget's use is at most `target`. */
  evict(target: number): void {
    const memory = this.memory;
    for (const [k, e] of this.cache) {
      if (memory.used <= target) return;
      if (e.dirty || e.pinned) continue;
      this.cache.delete(k);
      memory.used -= e.bytes;
      memory.evictions++;
    }
  }

  /**
   * Adds this store's changes to a commit: state records (to `out`, in order). Returns the
   * local writes to make once the records are acknowledged (produced lazily, so a commit of
   * a few hundred thousand entries does not hold a second copy of them) and what to do after
   * those writes. Nothing changes between prepare and done: commits run between batches, and
   * dirty entries are never evicted.
   */
  prepare(topic: string, epoch: number, out: Array<{ key: string; plain: Buffer | null }>): { writes: () => Iterable<readonly [string, Buffer | null]>; done: () => void } {
    const entries: Entry<V>[] = [];
    const entryKeys: string[] = [];
    const keys = this.dirtyKeys;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const e = this.cache.get(key);
      if (e === undefined || !e.dirty) continue;
      const committed = e.slot === -2 ? this.slotOnDisk(key) : e.slot;
      const slot = committed === 0 ? 1 : 0;
      entries.push(e);
      entryKeys.push(key);
      if (e.value === undefined) {
        if (committed === -1) {
          e.nextSlot = -1; // never committed: nothing to write or mark
          continue;
        }
        out.push({ key: entryRecordKey(topic, this.name, slot, 0, key), plain: statePlain(RecordKind.Deleted, epoch, 0, 1, EMPTY) });
        e.nextSlot = slot;
        e.nextJson = null;
        continue;
      }
      let saved: JsonValue;
      try {
        saved = this.codec.save(e.value);
      } catch (err) {
        throw new VigilError('VIGIL_E_INTERNAL', `state store ${this.name}: cannot save entry ${JSON.stringify(key)}: ${(err as Error).message}`, { cause: err });
      }
      const json = Buffer.from(JSON.stringify(saved), 'utf8');
      const chunks = Math.max(1, Math.ceil(json.length / CHUNK_BYTES));
      let plain: Buffer | null = null;
      for (let c = 0; c < chunks; c++) {
        plain = statePlain(RecordKind.Value, epoch, c, chunks, json.subarray(c * CHUNK_BYTES, (c + 1) * CHUNK_BYTES));
        out.push({ key: entryRecordKey(topic, this.name, slot, c, key), plain });
      }
      e.nextSlot = slot;
      // One chunk: the JSON is the tail of its record's plaintext (no second copy kept).
      const last = plain as Buffer;
      e.nextJson = chunks === 1 ? last.subarray(last.length - json.length) : json;
    }
    // Deletions committed earlier: tombstones for both slots, the older slot first, so a
    // partial write never leaves the older value as the newest.
    const tombstoned: string[] = [];
    for (const [key, marker] of this.tombstonesDue) {
      const e = this.cache.get(key);
      if (e !== undefined && e.value !== undefined) continue;
      out.push({ key: entryRecordKey(topic, this.name, marker === 0 ? 1 : 0, 0, key), plain: null });
      out.push({ key: entryRecordKey(topic, this.name, marker as 0 | 1, 0, key), plain: null });
      tombstoned.push(key);
    }
    const prefix = this.prefix;
    return {
      writes: function* (): Iterable<readonly [string, Buffer | null]> {
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as Entry<V>;
          if (e.nextSlot === -1) continue;
          const key = prefix + (entryKeys[i] as string);
          const json = e.nextJson;
          if (json === null) {
            yield [key, Buffer.from([MARKER + e.nextSlot])];
            continue;
          }
          const v = Buffer.allocUnsafe(1 + json.length);
          v[0] = e.nextSlot;
          json.copy(v, 1);
          yield [key, v];
        }
        for (const key of tombstoned) yield [prefix + key, null];
      },
      done: () => {
        this.dirtyKeys = [];
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as Entry<V>;
          const key = entryKeys[i] as string;
          const json = e.nextJson;
          e.nextJson = null;
          if (e.nextSlot === -1) {
            this.drop(key, e);
          } else if (json === null) {
            this.drop(key, e);
            this.tombstonesDue.set(key, e.nextSlot);
          } else {
            e.slot = e.nextSlot;
            this.tombstonesDue.delete(key);
            e.dirty = false;
            const bytes = estimate(json.length);
            this.memory.used += bytes - e.bytes;
            e.bytes = bytes;
          }
        }
        for (const key of tombstoned) this.tombstonesDue.delete(key);
      },
    };
  }

  /** After a restore: forget the cache, re-learn the markers whose tombstones are due. */
  reload(): void {
    for (const e of this.cache.values()) this.memory.used -= e.bytes;
    this.cache.clear();
    this.dirtyKeys = [];
    this.tombstonesDue.clear();
    const n = this.prefix.length;
    for (const [k, buf] of this.kv.entries(this.prefix)) if ((buf[0] as number) >= MARKER) this.tombstonesDue.set(k.slice(n), (buf[0] as number) - MARKER);
  }

  dispose(): void {
    for (const e of this.cache.values()) this.memory.used -= e.bytes;
    this.cache.clear();
    this.dirtyKeys = [];
  }

  private mark(key: string, e: Entry<V>): void {
    if (!e.dirty) {
      e.dirty = true;
      this.dirtyKeys.push(key);
    }
  }

  private drop(key: string, e: Entry<V>): void {
    if (this.cache.get(key) === e && e.value === undefined) {
      this.cache.delete(key);
      this.memory.used -= e.bytes;
    }
  }

  private slotOnDisk(key: string): number {
    const buf = this.kv.get(this.prefix + key);
    if (buf === undefined) return -1;
    const b = buf[0] as number;
    return b >= MARKER ? b - MARKER : b;
  }

  private decode(buf: Buffer, key: string): V {
    try {
      return this.codec.load(JSON.parse(buf.toString('utf8', 1)) as JsonValue);
    } catch (err) {
      throw new VigilError('VIGIL_E_STATE_STORE', `local state store: entry ${JSON.stringify(key)} of store ${this.name} cannot be decoded: ${(err as Error).message}`, { details: { store: this.name, key }, cause: err });
    }
  }
}

/** A changelog record of this partition, opened (null value: a Kafka tombstone). */
export interface TailRecord {
  readonly parsed: ParsedKey;
  readonly opened: OpenedState | null;
}

interface Candidate {
  epoch: number;
  kind: RecordKind;
  chunks: Array<Buffer | undefined>;
  count: number;
}

/**
 * The keyed state of one source partition: named stores over one local store, committed
 * together with the partition's commit record (`meta`).
 */
export class PartitionState {
  readonly stores = new Map<string, CachedKeyedState<unknown>>();
  epoch = 0;
  private lastTailFrom: string | null = null;

  constructor(
    readonly topic: string,
    private readonly kv: LocalKv,
    private readonly memory: StateMemory,
  ) {}

  /** A provider for one registered operator: its stores are named `<name>/<store>`. */
  provider(name: string): StateProvider {
    return {
      store: <V>(inner: string, codec: StateCodec<V>): KeyedState<V> => {
        const full = `${name}/${inner}`;
        if (this.stores.has(full)) throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `state store "${full}" is registered twice`);
        const s = new CachedKeyedState<V>(full, codec, this.kv, this.memory);
        this.stores.set(full, s as CachedKeyedState<unknown>);
        this.memory.stores.add(s as CachedKeyedState<unknown>);
        return s;
      },
    };
  }

  /** Something to commit: changed entries or due tombstones. */
  get changed(): boolean {
    for (const s of this.stores.values()) if (s.dirtyCount > 0) return true;
    return false;
  }

  /** The local store's last commit, if it has one. */
  localCommit(): LocalCommit | null {
    const buf = this.kv.get(LOCAL_META);
    if (buf === undefined) return null;
    try {
      const m = JSON.parse(buf.toString('utf8')) as LocalCommit;
      return typeof m.epoch === 'number' ? m : null;
    } catch {
      return null;
    }
  }

  /** Builds the next commit: every changed entry, then the commit record carrying `meta`. */
  prepare(meta: JsonValue): PreparedCommit {
    const epoch = this.epoch + 1;
    const records: Array<{ key: string; plain: Buffer | null }> = [];
    const parts = [...this.stores.values()].map((s) => s.prepare(this.topic, epoch, records));
    const metaJson = Buffer.from(JSON.stringify(meta), 'utf8');
    records.push({ key: metaRecordKey(this.topic), plain: statePlain(RecordKind.Meta, epoch, 0, 1, metaJson) });
    return {
      epoch,
      records,
      finish: (tailFrom) => {
        this.epoch = epoch;
        if (tailFrom !== null) this.lastTailFrom = tailFrom;
        const commit = Buffer.from(JSON.stringify({ epoch, meta, tailFrom: this.lastTailFrom } satisfies LocalCommit), 'utf8');
        // One transaction: every store's changes, then the commit record.
        this.kv.write(
          (function* (): Iterable<readonly [string, Buffer | null]> {
            for (const p of parts) yield* p.writes();
            yield [LOCAL_META, commit];
          })(),
        );
        for (const p of parts) p.done();
        this.memory.committed();
      },
    };
  }

  /**
   * Restores from the local store (when `useLocal`) plus the changelog records of this
   * partition written after the local commit (all of them when not `useLocal`): `add` them
   * in offset order, then `finish` with the changelog offset the read reached. `finish`
   * returns the meta of the newest complete commit, or null for a partition never committed.
   */
  restoreBuilder(useLocal: boolean): { add(record: TailRecord): void; finish(tailEnd: string | null): JsonValue | null } {
    const local = useLocal ? this.localCommit() : null;
    if (local === null) this.kv.clear();
    let committed = local?.epoch ?? 0;
    let meta: JsonValue | null = local?.meta ?? null;
    // Per entry (store NUL key): the latest record of each slot in the tail; null = tombstoned.
    const seen = new Map<string, [Candidate | null | undefined, Candidate | null | undefined]>();
    const add = (r: TailRecord): void => {
      const p = r.parsed;
      if (p.topic !== this.topic) return;
      if (p.type === 'meta') {
        if (r.opened !== null && r.opened.kind === RecordKind.Meta && r.opened.epoch >= committed) {
          committed = r.opened.epoch;
          meta = JSON.parse(r.opened.json.toString('utf8')) as JsonValue;
        }
        return;
      }
      const id = `${p.store}${SEP}${p.key}`;
      let slots = seen.get(id);
      if (slots === undefined) {
        slots = [undefined, undefined];
        seen.set(id, slots);
      }
      const o = r.opened;
      if (o === null) {
        if (p.chunk === 0) slots[p.slot] = null;
        return;
      }
      // Copies: the tail's fetch buffers must not stay alive behind small entries.
      if (p.chunk === 0) {
        slots[p.slot] = { epoch: o.epoch, kind: o.kind, chunks: [Buffer.from(o.json)], count: o.chunks };
      } else {
        const c = slots[p.slot];
        if (c !== null && c !== undefined && c.epoch === o.epoch) c.chunks[p.chunk] = Buffer.from(o.json);
      }
    };
    const finish = (tailEnd: string | null): JsonValue | null => {
      const writes: Array<[string, Buffer | null]> = [];
      for (const [id, slots] of seen) {
        const cut = id.indexOf(SEP);
        const localKey = `s${SEP}${id.slice(0, cut)}${SEP}${id.slice(cut + 1)}`;
        let best: { slot: number; c: Candidate | 'local' } | null = null;
        let bestEpoch = -Infinity;
        for (const slot of [0, 1]) {
          const c = slots[slot];
          if (c === null) continue;
          if (c === undefined) {
            // Not in the tail: the local value, if it is in this slot (older than any tail record).
            const buf = local === null ? undefined : this.kv.get(localKey);
            if (buf !== undefined && (buf[0] as number) % MARKER === slot && bestEpoch < -1) {
              best = { slot, c: 'local' };
              bestEpoch = -1;
            }
            continue;
          }
          if (c.epoch > committed) continue; // a commit that never completed
          if (c.kind === RecordKind.Value && (c.chunks.length !== c.count || c.chunks.some((b) => b === undefined))) continue;
          if (c.epoch > bestEpoch) {
            best = { slot, c };
            bestEpoch = c.epoch;
          }
        }
        if (best === null) writes.push([localKey, null]);
        else if (best.c === 'local') continue;
        else if (best.c.kind === RecordKind.Deleted) writes.push([localKey, Buffer.from([MARKER + best.slot])]);
        else writes.push([localKey, Buffer.concat([Buffer.from([best.slot]), ...(best.c.chunks as Buffer[])])]);
      }
      seen.clear();
      this.epoch = committed;
      this.lastTailFrom = tailEnd ?? local?.tailFrom ?? null;
      if (meta !== null) writes.push([LOCAL_META, Buffer.from(JSON.stringify({ epoch: committed, meta, tailFrom: this.lastTailFrom } satisfies LocalCommit), 'utf8')]);
      this.kv.write(writes);
      for (const s of this.stores.values()) s.reload();
      return meta;
    };
    return { add, finish };
  }

  /** Drops the caches (the local store stays, for a later restore). */
  dispose(): void {
    for (const s of this.stores.values()) {
      s.dispose();
      this.memory.stores.delete(s);
    }
  }
}
