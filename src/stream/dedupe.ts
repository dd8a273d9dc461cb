import { invalid, optionalNumber, requireFunction, requireObject } from './options';
import { keyedStatefulOperator } from './stateful-operator';
import { MemoryKeyedState, MemoryStateProvider, type KeyedState, type KeyedStateSnapshot, type KeyedStateful, type StateProvider } from './state';
import type { JsonValue, StatefulOperator } from './types';

export interface DedupeOptions<T> {
  readonly device: (record: T) => string;
  /** Per-device sequence number: a non-negative integer. */
  readonly sequence: (record: T) => number;
  /**
   * How many sequence numbers behind the highest seen are still remembered (a multiple
   * of 32). Older ones cannot be told apart from duplicates and are dropped as too old.
   * Default 1024 (128 bytes per device).
   */
  readonly window?: number;
  /** Devices remembered; the least recently heard is forgotten first. Default 100,000. */
  readonly maxDevices?: number;
  /** Side output for dropped records (duplicates and too old), which are also counted. */
  readonly onDrop?: (record: T, reason: 'duplicate' | 'too-old') => void;
}

export interface DedupeStats {
  readonly passed: number;
  readonly duplicates: number;
  readonly tooOld: number;
  /** Records without a valid sequence number: passed through, counted. */
  readonly unsequenced: number;
  readonly devices: number;
  readonly evicted: number;
}

/** The JSON state of a dedupe operator used standalone (`snapshot()`). */
export type DedupeSnapshot = KeyedStateSnapshot;

export type DedupeOperator<T> = StatefulOperator<T, T, DedupeSnapshot> & KeyedStateful & { stats(): DedupeStats };

interface Seen {
  high: number;
  /**
   * While `bits` is null: the seen numbers are exactly the `run` ones ending at `high`
   * (1 ≤ run ≤ window). A device that sends in order stays in this form: a few bytes in
   * memory and in its changelog record, instead of a window-sized bitmap.
   */
  run: number;
  /** Bit (seq mod window) set when seq, within the window below `high`, was seen; null in the run form. */
  bits: Uint32Array | null;
}

const NAME = 'dedupe';

/**
 * Drops records whose (device, sequence) was already seen, with bounded memory: a
 * sliding bitmap per device (as IPsec's anti-replay window) and at most `maxDevices`
 * devices (LRU). Put it first, on raw records, so that redelivered frames do not count
 * twice in windows and detectors.
 *
 * @example
 * records$.pipe(dedupe({ device: (r) => r.deviceId, sequence: (r) => r.seq }), withWatermarks({ ... }));
 */
export function dedupe<T>(options: DedupeOptions<T>): DedupeOperator<T> {
  requireObject(NAME, options);
  requireFunction(NAME, 'device', options.device);
  requireFunction(NAME, 'sequence', options.sequence);
  const window = optionalNumber(NAME, 'window', options.window, 1024, 32, true);
  if (window % 32 !== 0) invalid(NAME, 'window', window, 'expected a multiple of 32');
  const maxDevices = optionalNumber(NAME, 'maxDevices', options.maxDevices, 100_000, 1, true);
  if (options.onDrop !== undefined) requireFunction(NAME, 'onDrop', options.onDrop);
  const words = window / 32;
  const settings = `window=${window}`;
  // Standalone: a Map in least-recently-heard order, bounded by maxDevices. Under the
  // runtime: a store that spills to disk, so no device is forgotten.
  let devices: KeyedState<Seen> = new MemoryKeyedState<Seen>();
  let lru: Map<string, Seen> | null = new Map();
  let known = 0;
  // Saved as [high, -run] in the run form (bitmap words are never negative), else as
  // [high, ...words]; a bitmap that is one run ending at high is saved in the run form.
  const codec = {
    save: (s: Seen): JsonValue => {
      if (s.bits === null) return [s.high, -s.run];
      const run = runOf(s.high, s.bits, window);
      if (run === 0) return [s.high, ...s.bits];
      // Back to the run form in memory too (a device past a burst of reordering).
      s.run = run;
      s.bits = null;
      return [s.high, -run];
    },
    load: (j: JsonValue): Seen => {
      const a = j as number[];
      const second = a[1] as number;
      if (a.length === 2 && second < 0) return { high: a[0] as number, run: -second, bits: null };
      return { high: a[0] as number, run: 0, bits: Uint32Array.from(a.slice(1)) };
    },
  };
  let passed = 0;
  let duplicates = 0;
  let tooOld = 0;
  let unsequenced = 0;
  let evicted = 0;
  let emit: (r: T) => void = () => undefined;

  const drop = (r: T, reason: 'duplicate' | 'too-old'): void => {
    if (reason === 'duplicate') duplicates++;
    else tooOld++;
    options.onDrop?.(r, reason);
  };

  const fresh = (seen: Seen, seq: number): boolean => {
    if (seen.bits === null) {
      // The run form: in-order arrivals extend the run; anything else takes the bitmap.
      if (seq === seen.high + 1) {
        seen.high = seq;
        if (seen.run < window) seen.run++;
        return true;
      }
      if (seq <= seen.high && seen.high - seq < seen.run) return false;
      const bits = new Uint32Array(words);
      for (let s = seen.high - seen.run + 1; s <= seen.high; s++) bits[(s % window) >>> 5] = (bits[(s % window) >>> 5] as number) | (1 << (s % window & 31));
      seen.bits = bits;
    }
    const bits = seen.bits;
    if (seq > seen.high) {
      // Forget the slots that now fall out of the window (they will hold seqs above high).
      const advance = seq - seen.high;
      if (advance >= window) bits.fill(0);
      else for (let s = seen.high + 1; s <= seq; s++) bits[(s % window) >>> 5] = (bits[(s % window) >>> 5] as number) & ~(1 << (s % window & 31));
      seen.high = seq;
    } else if (seen.high - seq >= window) {
      return false;
    }
    const slot = seq % window;
    const word = slot >>> 5;
    const bit = 1 << (slot & 31);
    if (((bits[word] as number) & bit) !== 0) return false;
    bits[word] = (bits[word] as number) | bit;
    return true;
  };

  const core = {
    open: (e: (r: T) => void) => {
      emit = e;
    },
    close: () => {
      emit = () => undefined;
    },
    complete: () => undefined,
    next: (r: T) => {
      const seq = options.sequence(r);
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
        unsequenced++;
        emit(r);
        return;
      }
      const id = options.device(r);
      let seen = devices.get(id);
      if (seen === undefined) {
        if (lru !== null && lru.size >= maxDevices) {
          const oldest = lru.keys().next().value as string;
          lru.delete(oldest);
          devices.delete(oldest);
          evicted++;
          known--;
        }
        seen = { high: seq, run: 1, bits: null };
        devices.set(id, seen);
        lru?.set(id, seen);
        known++;
        passed++;
        emit(r);
        return;
      }
      if (lru !== null) {
        // Re-insert so that Map order is least recently heard first.
        lru.delete(id);
        lru.set(id, seen);
      }
      if (seq < seen.high && seen.high - seq >= window) {
        drop(r, 'too-old');
        return;
      }
      if (!fresh(seen, seq)) {
        drop(r, 'duplicate');
        return;
      }
      devices.changed(id);
      passed++;
      emit(r);
    },
    bindState: (provider: StateProvider) => {
      devices = provider.store('devices', codec);
      known = 0;
      lru = provider instanceof MemoryStateProvider ? new Map() : null;
    },
    saveMeta: (): JsonValue => [passed, duplicates, tooOld, unsequenced, evicted, known],
    restoreMeta: (meta: JsonValue) => {
      const m = (meta ?? [0, 0, 0, 0, 0, 0]) as [number, number, number, number, number, number?];
      [passed, duplicates, tooOld, unsequenced, evicted] = m;
      known = 0;
      if (lru !== null) {
        // Standalone: the LRU order is rebuilt from the entries.
        lru.clear();
        for (const [id, seen] of devices.entries()) {
          lru.set(id, seen);
          known++;
        }
      } else if (typeof m[5] === 'number') {
        known = m[5];
      } else {
        for (const _ of devices.keys()) known++;
      }
    },
  };
  return keyedStatefulOperator(NAME, settings, core, {
    stats: (): DedupeStats => ({ passed, duplicates, tooOld, unsequenced, devices: known, evicted }),
  });
}

/**
 * How many numbers ending at `high` a bitmap holds as one unbroken run with nothing else
 * set (0 when it holds anything else): the bitmap's run form.
 */
function runOf(high: number, bits: Uint32Array, window: number): number {
  let run = 0;
  while (run < window && run <= high) {
    const s = high - run;
    if (((bits[(s % window) >>> 5] as number) & (1 << (s % window & 31))) === 0) break;
    run++;
  }
  if (run === 0) return 0;
  let set = 0;
  for (let i = 0; i < bits.length; i++) {
    let v = (bits[i] as number) >>> 0;
    while (v !== 0) {
      v &= v - 1;
      set++;
    }
  }
  return set === run ? run : 0;
}
