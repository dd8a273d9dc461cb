import { Subject, type OperatorFunction } from 'rxjs';
import type { JsonValue, KeyedState, KeyedStateful, StateCodec, StateProvider } from '../../src/stream';

/** One write an operator made to a store: `[op, store, key]`. */
export type StoreCall = readonly ['set' | 'changed' | 'delete', string, string];

interface Entry<V> {
  value: V | undefined;
  dirty: boolean;
  pinned: boolean;
}

/**
 * A store that behaves like the runtime's (src/state/partition-state.ts), small enough to
 * reason about: a cache over a "disk" of saved JSON text. `commit` writes the entries
 * marked since the last commit (set/changed/delete) and `evict` then drops every clean,
 * unpinned entry, so the next `get` loads a fresh copy. An operator that mutates a value
 * without `changed`, or holds one across events without `pin`, loses the change or diverges.
 * Every write is logged, for checks of what an event marked.
 */
export class FakeStore<V> implements KeyedState<V> {
  private readonly cache = new Map<string, Entry<V>>();
  /** What `codec.save` returned at the last commit, to catch a codec that aliases the value. */
  private readonly saved = new Map<string, [JsonValue, string]>();
  gets = 0;

  constructor(
    readonly name: string,
    private readonly codec: StateCodec<V>,
    readonly disk: Map<string, string>,
    private readonly calls: StoreCall[],
  ) {}

  get(key: string): V | undefined {
    this.gets++;
    const e = this.cache.get(key);
    if (e !== undefined) return e.value;
    const text = this.disk.get(key);
    if (text === undefined) return undefined;
    const value = this.codec.load(JSON.parse(text) as JsonValue);
    this.cache.set(key, { value, dirty: false, pinned: false });
    return value;
  }

  set(key: string, value: V): void {
    this.calls.push(['set', this.name, key]);
    const e = this.cache.get(key);
    if (e !== undefined) {
      e.value = value;
      e.dirty = true;
    } else {
      this.cache.set(key, { value, dirty: true, pinned: false });
    }
  }

  changed(key: string): void {
    this.calls.push(['changed', this.name, key]);
    const e = this.cache.get(key);
    if (e === undefined || e.value === undefined) throw new Error(`store ${this.name}: changed(${key}) for a key it does not hold in memory`);
    e.dirty = true;
  }

  delete(key: string): void {
    this.calls.push(['delete', this.name, key]);
    const e = this.cache.get(key);
    if (e !== undefined) {
      e.value = undefined;
      e.dirty = true;
      e.pinned = false;
    } else {
      this.cache.set(key, { value: undefined, dirty: true, pinned: false });
    }
  }

  /** As the runtime: the value is kept as its JSON; the next get decodes a fresh copy (a held reference goes stale). */
  settle(key: string): void {
    const e = this.cache.get(key);
    if (e === undefined || e.value === undefined || e.pinned) return;
    e.value = this.codec.load(JSON.parse(JSON.stringify(this.codec.save(e.value))) as JsonValue);
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
    // As the runtime: entries only on disk are decoded afresh and not cached.
    for (const [k, text] of this.disk) if (!this.cache.has(k)) yield [k, this.codec.load(JSON.parse(text) as JsonValue)];
  }

  *keys(prefix = ''): IterableIterator<string> {
    for (const [k, e] of this.cache) if (e.value !== undefined && k.startsWith(prefix)) yield k;
    for (const k of this.disk.keys()) if (!this.cache.has(k) && k.startsWith(prefix)) yield k;
  }

  /** Writes the marked entries to disk; returns their keys. */
  commit(): string[] {
    for (const [k, [value, text]] of this.saved) {
      if (JSON.stringify(value) !== text) throw new Error(`store ${this.name}: what codec.save returned for ${k} changed afterwards (it aliases the value)`);
    }
    this.saved.clear();
    const written: string[] = [];
    for (const [k, e] of this.cache) {
      if (!e.dirty) continue;
      written.push(k);
      if (e.value === undefined) {
        this.disk.delete(k);
        this.cache.delete(k);
        continue;
      }
      const value = this.codec.save(e.value);
      const text = JSON.stringify(value);
      this.disk.set(k, text);
      this.saved.set(k, [value, text]);
      e.dirty = false;
    }
    return written;
  }

  /** Drops every clean, unpinned entry from memory. */
  evict(): void {
    for (const [k, e] of this.cache) if (!e.dirty && !e.pinned) this.cache.delete(k);
  }

  /** Keys held in memory. */
  get cached(): number {
    return this.cache.size;
  }
}

/** Stores by name, over disks that can be handed to a new provider (a restart). */
export class FakeProvider implements StateProvider {
  readonly stores = new Map<string, FakeStore<unknown>>();
  readonly calls: StoreCall[] = [];

  constructor(private readonly disks: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map()) {}

  store<V>(name: string, codec: StateCodec<V>): KeyedState<V> {
    if (this.stores.has(name)) throw new Error(`store ${name} registered twice`);
    const s = new FakeStore<V>(name, codec, new Map(this.disks.get(name) ?? []), this.calls);
    this.stores.set(name, s as FakeStore<unknown>);
    return s;
  }

  /** Commits every store, then evicts what is clean and unpinned. */
  commit(): void {
    for (const s of this.stores.values()) s.commit();
    for (const s of this.stores.values()) s.evict();
  }

  /** Copies of the disks, for a provider after a restart. */
  disksCopy(): Map<string, Map<string, string>> {
    return new Map([...this.stores].map(([name, s]) => [name, new Map(s.disk)]));
  }

  /** The committed entries of a store, parsed. */
  committed(name: string): Array<[string, JsonValue]> {
    const s = this.stores.get(name);
    if (s === undefined) return [];
    return [...s.disk].map(([k, text]) => [k, JSON.parse(text) as JsonValue]);
  }
}

export interface KeyedRun<O> {
  readonly outputs: O[];
  /** The store writes each input caused, one list per input. */
  readonly calls: StoreCall[][];
  readonly provider: FakeProvider;
  /** `saveMeta()` after the last input, through a JSON round trip. */
  readonly meta: JsonValue;
}

/**
 * Runs `inputs` through an operator bound to a fake provider as the runtime does:
 * `bindState`, then `restoreMeta` (null: never committed), then one commit and eviction
 * after every input, so nothing the operator failed to mark or pin survives.
 */
export function runKeyed<I, O>(
  op: OperatorFunction<I, O> & KeyedStateful,
  inputs: readonly I[],
  options: { provider?: FakeProvider; meta?: JsonValue; complete?: boolean } = {},
): KeyedRun<O> {
  const provider = options.provider ?? new FakeProvider();
  op.bindState(provider);
  op.restoreMeta(options.meta ?? null);
  const src = new Subject<I>();
  const outputs: O[] = [];
  const calls: StoreCall[][] = [];
  const sub = src.pipe(op).subscribe({ next: (o) => outputs.push(o) });
  for (const input of inputs) {
    const from = provider.calls.length;
    src.next(input);
    calls.push(provider.calls.slice(from));
    provider.commit();
  }
  if (options.complete ?? true) src.complete();
  sub.unsubscribe();
  return { outputs, calls, provider, meta: JSON.parse(JSON.stringify(op.saveMeta())) as JsonValue };
}

/**
 * Runs `inputs` under fake stores, restarting after `cut` inputs: a fresh operator is
 * bound to stores holding only what was committed, gets the committed meta, and runs
 * the rest. Returns the outputs of both halves together.
 */
export function restartRun<I, O>(make: () => OperatorFunction<I, O> & KeyedStateful, inputs: readonly I[], cut: number): O[] {
  const first = runKeyed(make(), inputs.slice(0, cut), { complete: false });
  const second = runKeyed(make(), inputs.slice(cut), { provider: new FakeProvider(first.provider.disksCopy()), meta: first.meta });
  return [...first.outputs, ...second.outputs];
}
