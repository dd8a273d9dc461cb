import { VigilError } from '../errors';
import type { JsonValue, StreamKey } from './types';

/**
 * How a store's values become plain JSON and back. `save` must not keep a reference into
 * the value (the runtime may save it, then the operator mutates it).
 */
export interface StateCodec<V> {
  save(value: V): JsonValue;
  load(saved: JsonValue): V;
}

/**
 * A keyed state store as an operator sees it: string keys, live values. Standalone the
 * values sit in a Map; under the pipeline runtime (`ctx.state`) the store is a bounded
 * memory cache over a local disk store, and every changed key goes to the pipeline's
 * changelog at the next commit. So an operator must tell the store when it changed a value
 * in place (`changed`), and must not hold a value across events unless it pinned its key.
 */
export interface KeyedState<V> {
  /** The value under `key`, from memory or (runtime) loaded from disk. */
  get(key: string): V | undefined;
  /** Adds or replaces the value under `key`. */
  set(key: string, value: V): void;
  /** The value under `key` was changed in place: it goes into the next commit. */
  changed(key: string): void;
  delete(key: string): void;
  /**
   * The operator is done with `key`'s value for a while (e.g. a fired window waiting out its
   * lateness): the runtime may keep it encoded until the next `get`, which then returns a
   * fresh copy. Do not touch a value after settling it; get it again.
   */
  settle(key: string): void;
  /** Keeps `key`'s value in memory (never evicted) until `unpin`: for values an operator indexes. */
  pin(key: string): void;
  unpin(key: string): void;
  /** Every entry, in memory or on disk; for rebuilding an operator's indexes after a restore. */
  entries(): IterableIterator<[string, V]>;
  /**
   * Every key (starting with `prefix`, if given), in memory or on disk, without decoding
   * values: for an operator that can rebuild its indexes from keys alone (a restore then
   * costs a key scan, not a decode of every entry), or that drops a range of keys at once
   * (windows expire by their start, a key prefix, instead of holding one key per window).
   * Collect the keys before deleting any of them.
   */
  keys(prefix?: string): IterableIterator<string>;
}

/** Gives an operator its named stores. */
export interface StateProvider {
  store<V>(name: string, codec: StateCodec<V>): KeyedState<V>;
}

/**
 * An operator whose state lives in keyed stores (the pipeline runtime checkpoints them
 * key by key) plus a small operator-wide part (watermark, counters).
 */
export interface KeyedStateful {
  /**
   * Puts the operator's stores in `provider` (empty); call before subscribing and before
   * restoring. Standalone operators start on an in-memory provider.
   */
  bindState(provider: StateProvider): void;
  /** The operator-wide state besides the stores: small, saved with every commit. */
  saveMeta(): JsonValue;
  /** Once the stores hold restored entries: loads the operator-wide state and rebuilds in-memory indexes. */
  restoreMeta(meta: JsonValue): void;
}

/** A stream key as a store key: numbers and strings stay apart (`1` is not `"1"`). */
export function storeKey(key: StreamKey): string {
  return typeof key === 'number' ? `n${key}` : `s${key}`;
}

/** Whether an operator keeps its state in keyed stores (`KeyedStateful`). */
export function isKeyedStateful(op: unknown): op is KeyedStateful {
  const o = op as Partial<KeyedStateful> | null;
  return (typeof o === 'function' || typeof o === 'object') && o !== null && typeof o.bindState === 'function' && typeof o.saveMeta === 'function' && typeof o.restoreMeta === 'function';
}

/** A store in a Map: what operators use outside the runtime. */
export class MemoryKeyedState<V> implements KeyedState<V> {
  private readonly map = new Map<string, V>();

  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.set(key, value);
  }
  changed(): void {}
  delete(key: string): void {
    this.map.delete(key);
  }
  settle(): void {}
  pin(): void {}
  unpin(): void {}
  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }
  *keys(prefix?: string): IterableIterator<string> {
    if (prefix === undefined || prefix === '') {
      yield* this.map.keys();
      return;
    }
    for (const k of this.map.keys()) if (k.startsWith(prefix)) yield k;
  }
  get size(): number {
    return this.map.size;
  }
}

/** Stores in Maps, remembered by name with their codecs (for `snapshot()` of standalone operators). */
export class MemoryStateProvider implements StateProvider {
  readonly stores = new Map<string, { readonly state: MemoryKeyedState<unknown>; readonly codec: StateCodec<unknown> }>();

  store<V>(name: string, codec: StateCodec<V>): KeyedState<V> {
    const state = new MemoryKeyedState<V>();
    this.stores.set(name, { state: state as MemoryKeyedState<unknown>, codec: codec as StateCodec<unknown> });
    return state;
  }
}

/** Snapshot of a keyed-state operator outside the runtime: meta plus every entry of every store. */
export interface KeyedStateSnapshot {
  readonly operator: string;
  readonly version: 2;
  readonly settings: string;
  readonly meta: JsonValue;
  readonly stores: { readonly [store: string]: ReadonlyArray<readonly [string, JsonValue]> };
  readonly [extra: string]: JsonValue;
}

/**
 * `snapshot()`/`restore()` for a keyed-state operator used standalone (tests, embedded
 * use): the whole state as one JSON value. The runtime does not use these; it commits
 * changed keys only.
 */
export class StandaloneState {
  private provider: MemoryStateProvider | null = new MemoryStateProvider();

  constructor(
    private readonly operator: string,
    private readonly settings: string,
    private readonly target: KeyedStateful,
  ) {}

  /** Binds the target to a fresh in-memory provider. */
  reset(): void {
    this.provider = new MemoryStateProvider();
    this.target.bindState(this.provider);
  }

  /** Tells the holder the target was re-bound elsewhere (the runtime's stores). */
  detach(): void {
    this.provider = null;
  }

  snapshot(): KeyedStateSnapshot {
    if (this.provider === null) throw new VigilError('VIGIL_E_STREAM_STATE', `${this.operator}: its state lives in a pipeline's stores (bindState); the runtime checkpoints it`);
    const stores: Record<string, Array<readonly [string, JsonValue]>> = {};
    for (const [name, { state, codec }] of this.provider.stores) {
      const list: Array<readonly [string, JsonValue]> = [];
      for (const [k, v] of state.entries()) list.push([k, codec.save(v)]);
      stores[name] = list;
    }
    return { operator: this.operator, version: 2, settings: this.settings, meta: this.target.saveMeta(), stores };
  }

  restore(snapshot: KeyedStateSnapshot, fail: (message: string) => never): void {
    const s = snapshot as Partial<KeyedStateSnapshot> | null;
    if (typeof s !== 'object' || s === null || s.operator !== this.operator || s.version !== 2 || typeof s.stores !== 'object' || s.stores === null) {
      fail(`${this.operator}: not a version-2 snapshot of this operator`);
    }
    if (s.settings !== this.settings) fail(`${this.operator}: snapshot was taken with settings ${String(s.settings)}, this operator has ${this.settings}`);
    if (this.provider === null) fail(`${this.operator}: its state lives in a pipeline's stores (bindState); restore() is for standalone use`);
    this.reset();
    for (const [name, { state, codec }] of (this.provider as MemoryStateProvider).stores) {
      const saved = (s.stores as Record<string, ReadonlyArray<readonly [string, JsonValue]>>)[name] ?? [];
      for (const [k, v] of saved) state.set(k, codec.load(v));
    }
    this.target.restoreMeta(s.meta ?? null);
  }
}
