import { VigilError } from '../errors';
import type { JsonValue, KeyedState, StateCodec, StateProvider } from '../stream';
import { CHUNK_BYTES, RecordKind, entryRecordKey, metaRecordKey, statePlain, statePlainFromJson, type OpenedState, type ParsedKey } from './changelog-codec';
import type { LocalKv } from './local-kv';

const SEP = '\u0000';
const EMPTY = Buffer.alloc(0);
/** Local key of the partition's commit record. */
const LOCAL_META = 'm';
/**
 * Layout of the local store; a store written in another layout is not used (the partition
 * is restored from the changelog instead). 2: deletion markers under their own prefix;
 * 3: values are text (the slot as a digit, then the JSON).
 */
const LOCAL_FORMAT = 3;
/**
 * Heap cost of a cached entry: its cache slot, entry record and key string, plus the live
 * value at about four times its JSON size (objects, arrays, boxed numbers and bigints cost
 * more than their text). Calibrated on heap snapshots of the vitals pipeline at 100,000
 * devices: a 10 s window of about 140 bytes of JSON takes about 730 bytes of heap, a dedupe
 * entry of 9 bytes about 175.
 */
const ENTRY_OVERHEAD = 128;
const estimate = (jsonBytes: number): number => ENTRY_OVERHEAD + 4 * jsonBytes;
/** Whether an entry holds a value (live or settled on disk), not a deletion. */
const holds = (e: Entry<unknown>): boolean => e.value !== undefined || e.stashed;

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
  /** undefined: deleted since the last commit, or settled (`stashed`). */
  value: V | undefined;
  /** A settled entry: its JSON waits for the next commit in the local store's scratch space, decoded again on the next get. */
  stashed: boolean;
  dirty: boolean;
  pinned: boolean;
  /** Slot of the last committed value: −2 not yet looked up, −1 none. */
  slot: number;
  bytes: number;
}

/** A state record of a commit: changelog key and plaintext (null: a Kafka tombstone). */
export interface StateRecord {
  readonly key: string;
  readonly plain: Buffer | null;
}

/** One store's part of a commit: its records, then (once they are acknowledged) its local writes, then done. */
interface StorePart {
  records(): Iterable<StateRecord>;
  writes(): Iterable<readonly [string, string | null]>;
  done(): void;
}

/** What a commit sends (in order; the commit record last) and, once acknowledged, writes locally. */
export interface PreparedCommit {
  readonly epoch: number;
  /** Produced lazily (each iteration encodes afresh); iterate before `finish`. */
  readonly records: Iterable<StateRecord>;
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

/** Heap cost of remembering that a key has no entry: its Map slot and key string. */
const ABSENT_BYTES = 64;
/**
 * A store with at most this many entries on the local disk knows their keys (`onDisk`), so
 * a lookup of a key it does not hold costs neither a disk read nor a cache entry.
 */
const TRACKED_ON_DISK = 4096;

/**
 * The cache entry of every key known to have no entry and no change: shared, since such
 * entries are all alike (detectors look up every record's key, and most devices have no
 * state in most detectors). Never mutated: set() and delete() replace it.
 */
const ABSENT: Entry<never> = { value: undefined, dirty: false, pinned: false, slot: -2, bytes: ABSENT_BYTES, stashed: false };

/**
 * The cache entries of settled keys (changed since the last commit, their JSON waiting in
 * the scratch space), one per committed slot (−2 … 1): alike but for it, so shared, like
 * ABSENT, instead of an object per fired window between two commits. Never mutated: get,
 * set and delete replace them.
 */
const SETTLED: readonly Entry<never>[] = [-2, -1, 0, 1].map((slot) => ({ value: undefined, dirty: true, pinned: false, slot, bytes: ENTRY_OVERHEAD, stashed: true }));
const settledEntry = (slot: number): Entry<never> => SETTLED[slot + 2] as Entry<never>;

/**
 * One keyed store of one source partition: a bounded cache over the local store, with the
 * keys changed since the last commit.
 */
export class CachedKeyedState<V> implements KeyedState<V> {
  private readonly cache = new Map<string, Entry<V>>();
  private dirtyKeys: string[] = [];
  /** Keys whose deletion marker is committed: their two changelog slots get tombstones next commit. */
  readonly tombstonesDue = new Map<string, number>();
  /**
   * Local keys: `s NUL store NUL key` holds a live value (byte 0: the changelog slot of its
   * last commit, then its JSON); `d NUL store NUL key` a deletion committed in slot byte 0,
   * whose tombstones are due. Apart, so that scanning values never meets markers and a
   * restart finds the due tombstones without reading every value.
   */
  readonly prefix: string;
  readonly markerPrefix: string;
  /**
   * The keys of the values this store holds on the local disk, while there are at most
   * TRACKED_ON_DISK of them; null beyond (or unknown). Detectors keep state only for the
   * few keys in a run or in alarm and look up every record's key: without this, each quiet
   * device would cost a cached absence (a Map slot and a key string per store: ~20 MB for
   * the three vitals detectors at 100,000 devices) or a disk read per record.
   */
  private onDisk: Set<string> | null = null;

  constructor(
    readonly name: string,
    private readonly codec: StateCodec<V>,
    private readonly kv: LocalKv,
    private readonly memory: StateMemory,
  ) {
    this.prefix = `s${SEP}${name}${SEP}`;
    this.markerPrefix = `d${SEP}${name}${SEP}`;
    this.learnOnDisk();
  }

  get(key: string): V | undefined {
    const e = this.cache.get(key);
    if (e !== undefined) return e.stashed ? this.unsettle(key, e) : e.value;
    if (this.onDisk !== null && !this.onDisk.has(key)) return undefined;
    const buf = this.kv.get(this.prefix + key);
    if (buf === undefined) {
      // Remember the absence too: detectors look up every record's key and most keys
      // (quiet devices) have no entry; a disk lookup per record would cost more than the rest.
      // Its slot (a committed deletion's) is looked up only if it is ever committed.
      this.cache.set(key, ABSENT);
      this.memory.used += ABSENT_BYTES;
      return undefined;
    }
    const value = this.decode(buf, key);
    const entry: Entry<V> = { value, dirty: false, pinned: false, slot: slotOf(buf), bytes: estimate(buf.length - 1), stashed: false };
    this.cache.set(key, entry);
    this.memory.used += entry.bytes;
    return value;
  }

  set(key: string, value: V): void {
    const e = this.cache.get(key);
    if (e !== undefined && e.stashed) {
      this.replace(key, e, { value, dirty: true, pinned: false, slot: e.slot, bytes: estimate(128), stashed: false });
      return;
    }
    if (e !== undefined && e !== ABSENT) {
      e.value = value;
      this.mark(key, e);
      return;
    }
    if (e === ABSENT) this.memory.used -= ABSENT_BYTES;
    const entry: Entry<V> = { value, dirty: true, pinned: false, slot: -2, bytes: estimate(128), stashed: false };
    this.cache.set(key, entry);
    this.memory.used += entry.bytes;
    this.dirtyKeys.push(key);
  }

  changed(key: string): void {
    const e = this.cache.get(key);
    if (e === undefined || !holds(e)) throw new VigilError('VIGIL_E_INTERNAL', `state store ${this.name}: changed(${JSON.stringify(key)}) for a key it does not hold in memory`);
    this.mark(key, e);
  }

  delete(key: string): void {
    const e = this.cache.get(key);
    if (e === ABSENT) return; // known absent, nothing changed: nothing to delete
    if (e === undefined && this.onDisk !== null && !this.onDisk.has(key)) return; // neither in memory nor on disk
    if (e !== undefined && e.stashed) {
      this.replace(key, e, { value: undefined, dirty: true, pinned: false, slot: e.slot, bytes: ENTRY_OVERHEAD, stashed: false });
      return;
    }
    if (e !== undefined) {
      e.value = undefined;
      e.pinned = false;
      this.mark(key, e);
      return;
    }
    const entry: Entry<V> = { value: undefined, dirty: true, pinned: false, slot: -2, bytes: ENTRY_OVERHEAD, stashed: false };
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
    if (e !== undefined && e.pinned) e.pinned = false;
  }

  /**
   * Moves the entry's value off the heap until its next get: for a value the operator is
   * done with for a while (a fired window waiting out its lateness). Changed since the last
   * commit, its JSON goes to the local store's scratch space (not part of any commit) and
   * the next commit writes it from there; once committed, the entry leaves the cache (its
   * value is on the local disk like any evicted one). So closed windows cost disk, not
   * heap, and a worker's heap holds what is open plus one cache entry per closed window
   * changed since the last commit.
   */
  settle(key: string): void {
    const e = this.cache.get(key);
    if (e === undefined || e.value === undefined || e.pinned) return;
    if (!e.dirty) {
      // Unchanged since its commit: the local store has it.
      this.cache.delete(key);
      this.memory.used -= e.bytes;
      return;
    }
    this.kv.stash(this.prefix + key, this.json(e.value, key));
    this.replace(key, e, settledEntry(e.slot));
  }

  /** Puts `next` in the place of the cached entry `e` (already counted among the dirty keys when it was dirty). */
  private replace(key: string, e: Entry<V>, next: Entry<V>): void {
    this.cache.set(key, next);
    this.memory.used += next.bytes - e.bytes;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [k, e] of this.cache) {
      if (e.value !== undefined) yield [k, e.value];
      else if (e.stashed) yield [k, this.decodeJson(this.stashedText(k), k)];
    }
    const n = this.prefix.length;
    for (const [k, buf] of this.kv.entries(this.prefix)) {
      const key = k.slice(n);
      if (this.cache.has(key)) continue;
      yield [key, this.decode(buf, key)];
    }
  }

  *keys(prefix = ''): IterableIterator<string> {
    for (const [k, e] of this.cache) if (holds(e) && (prefix === '' || k.startsWith(prefix))) yield k;
    const n = this.prefix.length;
    for (const k of this.kv.keys(this.prefix + prefix)) {
      const key = k.slice(n);
      if (!this.cache.has(key)) yield key;
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
   * This store's part of a commit. Nothing changes between prepare and done (commits run
   * between batches, and dirty entries are never evicted), so the state records and the
   * local writes are both produced lazily from the live values: a commit of a few hundred
   * thousand entries holds neither its records nor their JSON all at once, only the chunk
   * being sealed and sent. `records` is iterated once, before `writes`.
   */
  prepare(topic: string, epoch: number): StorePart {
    // Per changed entry, beside it rather than in it (a field of every cached entry for the
    // length of a commit): the slot the commit writes (−1: nothing to write, the entry just
    // goes), and the length of the JSON written locally.
    const entries: Entry<V>[] = [];
    const entryKeys: string[] = [];
    const nextSlots: number[] = [];
    const nextLens: number[] = [];
    const keys = this.dirtyKeys;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const e = this.cache.get(key);
      if (e === undefined || !e.dirty) continue;
      const committed = e.slot !== -2 ? e.slot : this.onDisk !== null && !this.onDisk.has(key) ? (this.tombstonesDue.get(key) ?? -1) : this.slotOnDisk(key);
      // A deletion never committed: nothing to write or mark.
      nextSlots.push(!holds(e) && committed === -1 ? -1 : committed === 0 ? 1 : 0);
      entries.push(e);
      entryKeys.push(key);
      nextLens.push(0);
    }
    // Deletions committed earlier: tombstones for both slots, the older slot first, so a
    // partial write never leaves the older value as the newest.
    const tombstoned: Array<[string, number]> = [];
    for (const [key, marker] of this.tombstonesDue) {
      const e = this.cache.get(key);
      if (e !== undefined && holds(e)) continue;
      tombstoned.push([key, marker]);
    }
    const name = this.name;
    const prefix = this.prefix;
    const markerPrefix = this.markerPrefix;
    const due = this.tombstonesDue;
    const json = (e: Entry<V>, key: string): string => (e.stashed ? this.stashedText(key) : this.json(e.value as V, key));
    return {
      records: function* (): Iterable<StateRecord> {
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as Entry<V>;
          const slot = nextSlots[i] as -1 | 0 | 1;
          if (slot === -1) continue;
          const key = entryKeys[i] as string;
          if (!holds(e)) {
            yield { key: entryRecordKey(topic, name, slot, 0, key), plain: statePlain(RecordKind.Deleted, epoch, 0, 1, EMPTY) };
            continue;
          }
          const text = json(e, key);
          // UTF-8 takes at most 3 bytes per UTF-16 unit: most values are known to fit one chunk without encoding them twice.
          if (text.length * 3 <= CHUNK_BYTES) {
            yield { key: entryRecordKey(topic, name, slot, 0, key), plain: statePlainFromJson(RecordKind.Value, epoch, text) };
            continue;
          }
          const j = Buffer.from(text, 'utf8');
          const chunks = Math.max(1, Math.ceil(j.length / CHUNK_BYTES));
          for (let c = 0; c < chunks; c++) yield { key: entryRecordKey(topic, name, slot, c, key), plain: statePlain(RecordKind.Value, epoch, c, chunks, j.subarray(c * CHUNK_BYTES, (c + 1) * CHUNK_BYTES)) };
        }
        for (const [key, marker] of tombstoned) {
          yield { key: entryRecordKey(topic, name, marker === 0 ? 1 : 0, 0, key), plain: null };
          yield { key: entryRecordKey(topic, name, marker as 0 | 1, 0, key), plain: null };
        }
      },
      writes: function* (): Iterable<readonly [string, string | null]> {
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as Entry<V>;
          const slot = nextSlots[i] as -1 | 0 | 1;
          if (slot === -1) continue;
          const key = entryKeys[i] as string;
          if (!holds(e)) {
            yield [prefix + key, null];
            yield [markerPrefix + key, SLOT_DIGIT[slot]];
            continue;
          }
          // Encoded again rather than kept from the records: the same bytes (the value has
          // not changed), without holding every entry's JSON through the whole commit.
          const text = json(e, key);
          nextLens[i] = text.length;
          yield [prefix + key, SLOT_DIGIT[slot] + text];
          if (due.has(key)) yield [markerPrefix + key, null];
        }
        for (const [key] of tombstoned) yield [markerPrefix + key, null];
      },
      done: () => {
        this.dirtyKeys = [];
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i] as Entry<V>;
          const key = entryKeys[i] as string;
          const slot = nextSlots[i] as -1 | 0 | 1;
          if (this.onDisk !== null) {
            if (!holds(e)) this.onDisk.delete(key);
            else if (this.onDisk.add(key).size > TRACKED_ON_DISK) this.onDisk = null;
          }
          if (slot === -1) {
            this.drop(key, e);
          } else if (!holds(e)) {
            this.drop(key, e);
            this.tombstonesDue.set(key, slot);
          } else if (e.stashed) {
            // Settled and now committed: on the local disk, nothing to keep in memory.
            this.tombstonesDue.delete(key);
            if (this.cache.get(key) === e) {
              this.cache.delete(key);
              this.memory.used -= e.bytes;
            }
          } else {
            e.slot = slot;
            this.tombstonesDue.delete(key);
            e.dirty = false;
            const bytes = estimate(nextLens[i] as number);
            this.memory.used += bytes - e.bytes;
            e.bytes = bytes;
          }
        }
        for (const [key] of tombstoned) this.tombstonesDue.delete(key);
      },
    };
  }

  /** A settled entry's value, live again (it is the cache's copy from now on; the scratch copy is dropped at the next commit). */
  private unsettle(key: string, e: Entry<V>): V {
    const text = this.stashedText(key);
    const value = this.decodeJson(text, key);
    this.replace(key, e, { value, dirty: true, pinned: false, slot: e.slot, bytes: estimate(text.length), stashed: false });
    return value;
  }

  private stashedText(key: string): string {
    const text = this.kv.stashed(this.prefix + key);
    if (text === undefined) throw new VigilError('VIGIL_E_STATE_STORE', `local state store: the settled entry ${JSON.stringify(key)} of store ${this.name} is missing from the scratch space`, { details: { store: this.name, key } });
    return text;
  }

  private json(value: V, key: string): string {
    let saved: JsonValue;
    try {
      saved = this.codec.save(value);
    } catch (err) {
      throw new VigilError('VIGIL_E_INTERNAL', `state store ${this.name}: cannot save entry ${JSON.stringify(key)}: ${(err as Error).message}`, { cause: err });
    }
    return JSON.stringify(saved);
  }

  /** After a restore: forget the cache, re-learn the markers whose tombstones are due. */
  reload(): void {
    for (const e of this.cache.values()) this.memory.used -= e.bytes;
    this.cache.clear();
    this.dirtyKeys = [];
    this.tombstonesDue.clear();
    const n = this.markerPrefix.length;
    for (const [k, v] of this.kv.entries(this.markerPrefix)) this.tombstonesDue.set(k.slice(n), slotOf(v));
    this.learnOnDisk();
  }

  /** Lists the keys on the local disk into `onDisk`, unless there are more than TRACKED_ON_DISK. */
  private learnOnDisk(): void {
    const keys = new Set<string>();
    const n = this.prefix.length;
    for (const k of this.kv.keys(this.prefix)) {
      if (keys.size === TRACKED_ON_DISK) {
        this.onDisk = null;
        return;
      }
      keys.add(k.slice(n));
    }
    this.onDisk = keys;
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
    if (this.cache.get(key) === e && !holds(e)) {
      this.cache.delete(key);
      this.memory.used -= e.bytes;
    }
  }

  /** The changelog slot of the key's last committed value or deletion; −1: never committed (or tombstoned). */
  private slotOnDisk(key: string): number {
    return localSlot(this.kv, this.prefix + key, this.markerPrefix + key);
  }

  private decode(local: string, key: string): V {
    return this.decodeJson(local.slice(1), key);
  }

  private decodeJson(text: string, key: string): V {
    try {
      return this.codec.load(JSON.parse(text) as JsonValue);
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
  chunks: Array<string | undefined>;
  count: number;
}

/** An entry's two changelog slots during a restore: the latest record of each (null: a tombstone; undefined: none). */
type Slots = [Candidate | null | undefined, Candidate | null | undefined];

/** Scratch keys of restore candidates moved off the heap (apart from settled entries' `s`/`d` keys). */
const SPILL_PREFIX = `r${SEP}`;
/** Candidates held in memory during a restore, at least (characters of text), before they spill. */
const RESTORE_MIN_HELD_CHARS = 8 << 20;
/** Counted per entry held beside its text: the Map slot, the slots array, the key string's header. */
const HELD_ENTRY_CHARS = 64;
/** Spilled entries decided per local write. */
const RESTORE_PAGE = 4096;

const heldOf = (c: Candidate | null | undefined): number => {
  if (c === null || c === undefined) return 0;
  let n = 32;
  for (const t of c.chunks) n += t?.length ?? 0;
  return n;
};

/** Slots as scratch text: 0 for none, null for a tombstone, [epoch, kind, count, chunks] for a record. */
function encodeSlots(slots: Slots): string {
  return JSON.stringify(slots.map((c) => (c === undefined ? 0 : c === null ? null : [c.epoch, c.kind, c.count, c.chunks.map((t) => t ?? null)])));
}

function decodeSlots(text: string): Slots {
  const j = JSON.parse(text) as Array<0 | null | [number, RecordKind, number, Array<string | null>]>;
  const one = (x: 0 | null | [number, RecordKind, number, Array<string | null>] | undefined): Candidate | null | undefined =>
    x === 0 || x === undefined ? undefined : x === null ? null : { epoch: x[0], kind: x[1], count: x[2], chunks: x[3].map((t) => t ?? undefined) };
  return [one(j[0]), one(j[1])];
}

/** `later` (records read after `earlier` was spilled) wins per slot where it has one. */
function mergeSlots(earlier: Slots, later: Slots): Slots {
  return [later[0] === undefined ? earlier[0] : later[0], later[1] === undefined ? earlier[1] : later[1]];
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
      const m = JSON.parse(buf) as LocalCommit & { format?: number };
      return typeof m.epoch === 'number' && m.format === LOCAL_FORMAT ? m : null;
    } catch {
      return null;
    }
  }

  /** Builds the next commit: every changed entry, then the commit record carrying `meta`. */
  prepare(meta: JsonValue): PreparedCommit {
    const epoch = this.epoch + 1;
    const parts = [...this.stores.values()].map((s) => s.prepare(this.topic, epoch));
    const metaRecord: StateRecord = { key: metaRecordKey(this.topic), plain: statePlain(RecordKind.Meta, epoch, 0, 1, Buffer.from(JSON.stringify(meta), 'utf8')) };
    return {
      epoch,
      records: {
        *[Symbol.iterator](): Iterator<StateRecord> {
          for (const p of parts) yield* p.records();
          yield metaRecord;
        },
      },
      finish: (tailFrom) => {
        this.epoch = epoch;
        if (tailFrom !== null) this.lastTailFrom = tailFrom;
        const commit = JSON.stringify({ format: LOCAL_FORMAT, epoch, meta, tailFrom: this.lastTailFrom });
        // Every store's changes, then the commit record: a write torn by a crash leaves the
        // previous commit record, and the next restore replays this commit from the changelog.
        this.kv.write(
          (function* (): Iterable<readonly [string, string | null]> {
            for (const p of parts) yield* p.writes();
            yield [LOCAL_META, commit];
          })(),
        );
        for (const p of parts) p.done();
        this.kv.clearStash();
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
  restoreBuilder(useLocal: boolean, options: { readonly heldChars?: number } = {}): { add(record: TailRecord): void; finish(tailEnd: string | null): JsonValue | null } {
    const local = useLocal ? this.localCommit() : null;
    const kv = this.kv;
    if (local === null) kv.clear();
    let committed = local?.epoch ?? 0;
    let meta: JsonValue | null = local?.meta ?? null;
    // Per entry (store NUL key): the latest record of each slot in the tail; null = tombstoned,
    // undefined = none since the last spill. Beyond `budget` characters of held text the
    // candidates go to the local store's scratch space (merged with what an earlier spill put
    // there), so a restore of more state than the heap can hold costs disk, not memory.
    const seen = new Map<string, Slots>();
    const budget = options.heldChars ?? Math.max(RESTORE_MIN_HELD_CHARS, Math.floor(this.memory.limit / 4));
    let held = 0;
    let spills = 0;
    const spill = (): void => {
      for (const [id, slots] of seen) {
        const key = SPILL_PREFIX + id;
        const before = spills > 0 ? kv.stashed(key) : undefined;
        kv.stash(key, encodeSlots(before === undefined ? slots : mergeSlots(decodeSlots(before), slots)));
      }
      seen.clear();
      held = 0;
      spills++;
    };
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
        held += id.length + HELD_ENTRY_CHARS;
      }
      const o = r.opened;
      if (o === null) {
        if (p.chunk === 0) {
          held -= heldOf(slots[p.slot]);
          slots[p.slot] = null;
        }
        return;
      }
      // As text: the tail's fetch buffers must not stay alive behind small entries. A chunk
      // boundary may split a UTF-8 sequence, so only a whole value is decoded as one.
      if (p.chunk === 0) {
        held -= heldOf(slots[p.slot]);
        const c: Candidate = { epoch: o.epoch, kind: o.kind, chunks: [o.chunks === 1 ? o.json.toString('utf8') : o.json.toString('latin1')], count: o.chunks };
        slots[p.slot] = c;
        held += heldOf(c);
      } else {
        let c = slots[p.slot];
        if (c === undefined && spills > 0) {
          // Its first chunks went to the scratch space: take them back.
          const before = kv.stashed(SPILL_PREFIX + id);
          c = before === undefined ? undefined : decodeSlots(before)[p.slot];
          if (c !== undefined) {
            slots[p.slot] = c;
            held += heldOf(c);
          }
        }
        if (c !== null && c !== undefined && c.epoch === o.epoch) {
          const text = o.json.toString('latin1');
          c.chunks[p.chunk] = text;
          held += text.length;
        }
      }
      if (held > budget) spill();
    };
    /** The local writes that restore one entry, from the latest record of each of its slots. */
    const decide = function* (id: string, slots: Slots): Iterable<readonly [string, string | null]> {
      const cut = id.indexOf(SEP);
      const localKey = `s${SEP}${id.slice(0, cut)}${SEP}${id.slice(cut + 1)}`;
      const markerKey = `d${SEP}${id.slice(0, cut)}${SEP}${id.slice(cut + 1)}`;
      let localAt: number | undefined;
      let best: { slot: number; c: Candidate | 'local' } | null = null;
      let bestEpoch = -Infinity;
      for (const slot of [0, 1]) {
        const c = slots[slot];
        if (c === null) continue;
        if (c === undefined) {
          // Not in the tail: the local value or deletion, if it is in this slot (older than any tail record).
          localAt ??= local === null ? -1 : localSlot(kv, localKey, markerKey);
          if (localAt === slot && bestEpoch < -1) {
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
      if (best === null) {
        yield [localKey, null];
        yield [markerKey, null];
      } else if (best.c === 'local') {
        return;
      } else if (best.c.kind === RecordKind.Deleted) {
        yield [localKey, null];
        yield [markerKey, SLOT_DIGIT[best.slot] as string];
      } else {
        yield [localKey, (SLOT_DIGIT[best.slot] as string) + joinChunks(best.c.chunks as string[])];
        yield [markerKey, null];
      }
    };
    const finish = (tailEnd: string | null): JsonValue | null => {
      this.epoch = committed;
      this.lastTailFrom = tailEnd ?? local?.tailFrom ?? null;
      const commit = meta === null ? null : JSON.stringify({ format: LOCAL_FORMAT, epoch: committed, meta, tailFrom: this.lastTailFrom });
      // Spilled entries first, a page at a time (each merged with what the heap still holds
      // of it), then those only in memory. Decided and written entry by entry (the write
      // takes them lazily, in bounded transactions), each dropped from `seen` once decided.
      if (spills > 0) {
        for (let after: string | null = null; ; ) {
          const page = kv.stashedPage(SPILL_PREFIX, after, RESTORE_PAGE);
          if (page.length === 0) break;
          after = (page[page.length - 1] as [string, string])[0];
          kv.write(
            (function* (): Iterable<readonly [string, string | null]> {
              for (const [key, text] of page) {
                const id = key.slice(SPILL_PREFIX.length);
                const mem = seen.get(id);
                if (mem !== undefined) seen.delete(id);
                yield* decide(id, mem === undefined ? decodeSlots(text) : mergeSlots(decodeSlots(text), mem));
              }
            })(),
          );
        }
      }
      kv.write(
        (function* (): Iterable<readonly [string, string | null]> {
          for (const [id, slots] of seen) {
            seen.delete(id);
            yield* decide(id, slots);
          }
          // The commit record last: a restore torn before it is done again from the same tail.
          if (commit !== null) yield [LOCAL_META, commit];
        })(),
      );
      seen.clear();
      kv.clearStash();
      for (const s of this.stores.values()) s.reload();
      this.restoreSpills = spills;
      return meta;
    };
    return { add, finish };
  }

  /** How often the last restore moved its candidates to the scratch space (0: it held them all in memory). */
  restoreSpills = 0;

  /** Drops the caches (the local store stays, for a later restore). */
  dispose(): void {
    for (const s of this.stores.values()) {
      s.dispose();
      this.memory.stores.delete(s);
    }
  }
}

/** The changelog slot of a local entry: its live value's, else its committed deletion's; −1 when it has neither. */
function localSlot(kv: LocalKv, valueKey: string, markerKey: string): number {
  const v = kv.get(valueKey) ?? kv.get(markerKey);
  return v === undefined ? -1 : slotOf(v);
}

/** Local values start with their changelog slot as a digit. */
const SLOT_DIGIT = ['0', '1'] as const;

function slotOf(local: string): number {
  return local.charCodeAt(0) - 48;
}

/** A value's JSON from its chunks: one chunk is already text; several were kept as bytes (latin1) and are decoded whole. */
function joinChunks(chunks: readonly string[]): string {
  if (chunks.length === 1) return chunks[0] as string;
  return Buffer.from(chunks.join(''), 'latin1').toString('utf8');
}
