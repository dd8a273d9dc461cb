import { invalid, optionalNumber, requireFunction, requireNumber, requireObject, requirePositive } from './options';
import { MemoryKeyedState, storeKey, type KeyedState, type KeyedStateSnapshot, type KeyedStateful, type StateProvider } from './state';
import { keyedStatefulOperator, type KeyedOperatorCore } from './stateful-operator';
import { TimerIndex } from './timer-index';
import type { JsonValue, StatefulOperator, StreamEvent, StreamKey } from './types';

export interface RateOptions<T, K extends StreamKey> {
  readonly key: (record: T) => K;
  /** Event-time span in ms: a record at time t counts for times in [t, t + over). */
  readonly over: number;
  /** Raise when a key has at least this many records within `over` (integer >= 1). */
  readonly raise: number;
  /** Clear when the count within `over` falls to this or below (integer, 0 <= clear < raise). Default raise - 1. */
  readonly clear?: number;
}

export interface RateEvent<K> {
  readonly type: 'raised' | 'cleared';
  readonly key: K;
  /**
   * raised: event time of the record that reached `raise`; cleared: the event time at
   * which the count fell to `clear` (an expiry time t_i + over).
   */
  readonly time: number;
  /** Count within the span at `time`. */
  readonly count: number;
  /** raised: time of the oldest record counted; cleared: time it had been raised at. */
  readonly since: number;
}

/** Counters of a rate detector since it was built (kept across snapshot/restore). */
export interface RateStats {
  readonly watermark: number;
  /** Keys held: raised, or with records that can still count. */
  readonly keys: number;
  /** Keys currently raised. */
  readonly raised: number;
  /** Distinct due times in the event-time timer index. */
  readonly timers: number;
  readonly raises: number;
  readonly clears: number;
  /** Records ignored because they had expired against the watermark when they arrived. */
  readonly expired: number;
}

/**
 * One key's entry in the store `keys` (under its store key): `[times, raisedAt, floor,
 * pending, timerAt, timers]`, see `KeyState`. `floor` is null for "none"; `pending` is
 * `[time, count, since]` or null; `timers` lists the key's entries in the timer index as
 * `[time, registration]`.
 */
export type RateKeySnapshot = readonly [
  readonly number[],
  number | null,
  number | null,
  readonly [number, number, number] | null,
  number | null,
  ReadonlyArray<readonly [number, number]>,
];

/** The JSON state of a rate detector used standalone (`snapshot()`): meta `[watermark, raises, clears, expired, registrations]` and the store `keys`. */
export type RateSnapshot = KeyedStateSnapshot;

export type RateOperator<T, K extends StreamKey> = StatefulOperator<StreamEvent<T>, RateEvent<K>, RateSnapshot> &
  KeyedStateful & {
    stats(): RateStats;
  };

interface KeyState {
  /** The key's newest record times, at most `raise` of them, ascending; equal times kept. */
  times: number[];
  /** Event time the key was raised at, or null while it is not raised. */
  raisedAt: number | null;
  /** Time of the key's last clear (emitted or pending): no raise is placed at or before it. */
  floor: number;
  /**
   * A clear that a newer record of the key has already settled (the count fell to `clear`
   * before that record), waiting for the watermark: `[time, count, since]`.
   */
  pending: [number, number, number] | null;
  /** Due time of the key's one live timer entry, or null. Other entries are stale. */
  timerAt: number | null;
  /**
   * The key's entries in the timer index, live and stale, as `[time, registration]`
   * (registration: a counter across keys); entries below the watermark have fired and are
   * dropped when the key next arms. A restored operator re-registers them in registration
   * order, so the index (and the order keys due together fire in) is the one it had.
   */
  timers: Array<[number, number]>;
}

const NAME = 'rateDetector';

/**
 * Rate alarms per key in event time: raised when a key has at least `raise` records
 * within `over` ms, cleared when that count falls to `clear` (hysteresis: default
 * `raise - 1`). A record at time t counts for event times [t, t + over).
 *
 * The raise is judged when a record arrives, so the alert fires on the record that
 * crosses the threshold, without waiting for a watermark. The clear is judged in event
 * time: it is emitted once a watermark passes (is above) the time the count fell, as
 * records at that very time would still count. While raised, further records emit
 * nothing; after the clear a new burst raises again.
 *
 * Memory is bounded: a key holds at most its newest `raise` record times (the count
 * reaches `raise` iff the raise-th newest is within the span, and falls to `clear` when
 * the (clear+1)-th newest expires), and a key that is not raised is forgotten once the
 * watermark is `over` past its newest record and its last clear. Timers live in one
 * event-time index, not per key.
 *
 * State: one entry per key held, in the store `keys`; a key that is forgotten (back to
 * "never seen") is deleted, and a record or timer that changes nothing writes nothing.
 *
 * Exact when each key's records arrive in event-time order. A late record (older than
 * its key's newest) is merged in order and can complete a burst, but it only meets the
 * key's newest `raise` records and does not reopen a clear already emitted or settled.
 * A record already expired against the watermark (`t + over <= watermark`) is ignored.
 * Completion of the source emits nothing.
 *
 * @example
 * // Alert when a device sends 5 rejected frames within a minute; clear at 2 or fewer.
 * rejected$.pipe(rateDetector({ key: (r) => r.deviceId, over: 60_000, raise: 5, clear: 2 }));
 */
export function rateDetector<T, K extends StreamKey>(options: RateOptions<T, K>): RateOperator<T, K> {
  requireObject(NAME, options);
  requireFunction(NAME, 'key', options.key);
  const over = requirePositive(NAME, 'over', options.over);
  const raise = requireNumber(NAME, 'raise', options.raise, 1, true);
  const clear = optionalNumber(NAME, 'clear', options.clear, raise - 1, 0, true);
  if (clear >= raise) invalid(NAME, 'clear', clear, `expected an integer below raise (${raise})`);
  const core = new RateCore<T, K>(options.key, over, raise, clear);
  return keyedStatefulOperator(NAME, core.settings, core, { stats: () => core.stats() });
}

/** First index whose time is at or above `x`. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose time is above `x`. */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A stream key back from its store key (`storeKey`). */
function streamKey(sk: string): StreamKey {
  return sk.charCodeAt(0) === 110 /* n */ ? Number(sk.slice(1)) : sk.slice(1);
}

const keyCodec = {
  save: (s: KeyState): JsonValue =>
    [
      [...s.times],
      s.raisedAt,
      Number.isFinite(s.floor) ? s.floor : null,
      s.pending === null ? null : [...s.pending],
      s.timerAt,
      s.timers.map(([t, r]) => [t, r] as const),
    ] satisfies RateKeySnapshot,
  load: (j: JsonValue): KeyState => {
    const [times, raisedAt, floor, pending, timerAt, timers] = j as RateKeySnapshot;
    return {
      times: [...times],
      raisedAt,
      floor: floor === null ? -Infinity : floor,
      pending: pending === null ? null : [pending[0], pending[1], pending[2]],
      timerAt,
      timers: timers.map(([t, r]): [number, number] => [t, r]),
    };
  },
};

class RateCore<T, K extends StreamKey> implements KeyedOperatorCore<StreamEvent<T>, RateEvent<K>> {
  private emit: (out: RateEvent<K>) => void = () => undefined;
  private keys: KeyedState<KeyState> = new MemoryKeyedState<KeyState>();
  /** Pending timers by store key. */
  private readonly timers = new TimerIndex<string>();
  private watermark = -Infinity;
  private raises = 0;
  private clears = 0;
  private expired = 0;
  /** Timer registrations so far (orders the index on restore). */
  private registered = 0;
  /** Keys held and keys raised, kept up to date so stats() does not read the store. */
  private held = 0;
  private raisedKeys = 0;
  readonly settings: string;

  constructor(
    private readonly keyOf: (record: T) => K,
    private readonly over: number,
    private readonly raise: number,
    private readonly clear: number,
  ) {
    this.settings = `over=${over};raise=${raise};clear=${clear}`;
  }

  open(emit: (out: RateEvent<K>) => void): void {
    this.emit = emit;
  }

  close(): void {
    this.emit = () => undefined;
  }

  complete(): void {
    // Clears are judged against watermarks; the end of input is not evidence of a clear.
  }

  next(ev: StreamEvent<T>): void {
    if (ev.kind === 'watermark') this.advance(ev.time);
    else this.record(ev.time, ev.value);
  }

  stats(): RateStats {
    return {
      watermark: this.watermark,
      keys: this.held,
      raised: this.raisedKeys,
      timers: this.timers.size,
      raises: this.raises,
      clears: this.clears,
      expired: this.expired,
    };
  }

  // ---- counting over a key's sorted times -----------------------------------------

  /** First index whose record still counts at event time `s` (t + over > s). */
  private firstLive(a: readonly number[], s: number): number {
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((a[mid] as number) + this.over <= s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Records counting at event time `s`: t <= s < t + over. */
  private countAt(a: readonly number[], s: number): number {
    return upperBound(a, s) - this.firstLive(a, s);
  }

  /**
   * The earliest record time x >= t, x > floor, with t still counting at x, where the
   * count reaches `raise`: the windows a new record at t can complete.
   */
  private raiseAt(a: readonly number[], t: number, floor: number): number | null {
    for (let k = Math.max(lowerBound(a, t), upperBound(a, floor)); k < a.length; k++) {
      const x = a[k] as number;
      if (t + this.over <= x) break;
      if (this.countAt(a, x) >= this.raise) return x;
    }
    return null;
  }

  /**
   * The earliest expiry time e = t_i + over with from < e < before where the count has
   * fallen to `clear`. Counts at expiry times are exact: the times a key has dropped are
   * all older than t_i, so none of them counts in (t_i, t_i + over].
   */
  private clearAt(a: readonly number[], from: number, before: number): number | null {
    for (let i = this.firstLive(a, from); i < a.length; i++) {
      const e = (a[i] as number) + this.over;
      if (e >= before) break;
      if (e > from && this.countAt(a, e) <= this.clear) return e;
    }
    return null;
  }

  /**
   * When a raised key clears if no record comes: from its newest record on every record
   * of the key has arrived, so the count falls to `clear` when the (clear+1)-th newest
   * expires. (Clears before the newest record were settled when it arrived.)
   */
  private clearDue(s: KeyState): number {
    const a = s.times;
    return (a[Math.max(0, a.length - this.clear - 1)] as number) + this.over;
  }

  /** When nothing the key holds can change an outcome any more. */
  private forgetAt(s: KeyState): number {
    return Math.max(s.times[s.times.length - 1] as number, s.floor) + this.over;
  }

  private nextDue(s: KeyState): number {
    if (s.pending !== null) return s.pending[0];
    if (s.raisedAt !== null) return this.clearDue(s);
    return this.forgetAt(s);
  }

  // ---- records --------------------------------------------------------------------

  private record(t: number, value: T): void {
    // withWatermarks routes records without a finite time away; never sort one in.
    if (!Number.isFinite(t)) return;
    if (t + this.over <= this.watermark) {
      this.expired++;
      return;
    }
    const key = this.keyOf(value);
    const sk = storeKey(key);
    const found = this.keys.get(sk);
    const s: KeyState = found ?? { times: [], raisedAt: null, floor: -Infinity, pending: null, timerAt: null, timers: [] };
    const { raisedAt, floor, pending, timerAt } = s;
    const a = s.times;
    const at = upperBound(a, t);
    a.splice(at, 0, t);
    const newest = a[a.length - 1] as number;
    // Replay the changes the new record causes, in event-time order. In order, that is at
    // most: settle a clear that fell before this record, then raise at this record.
    for (;;) {
      if (s.raisedAt === null) {
        const x = this.raiseAt(a, t, s.floor);
        if (x === null) break;
        this.flushPending(key, s);
        s.raisedAt = x;
        this.raises++;
        this.emit({ type: 'raised', key, time: x, count: this.countAt(a, x), since: a[this.firstLive(a, x)] as number });
      }
      // A clear strictly before the newest record is settled: records of the key at or
      // before it have arrived. It waits for the watermark unless the key raises again.
      const e = this.clearAt(a, s.raisedAt, newest);
      if (e === null) break;
      s.pending = [e, this.countAt(a, e), s.raisedAt];
      s.floor = e;
      s.raisedAt = null;
    }
    // The new record may be the one dropped again (older than the key's newest `raise`).
    let changed = true;
    if (a.length > this.raise) {
      const drop = a.length - this.raise;
      a.splice(0, drop);
      changed = at >= drop;
    }
    const due = this.nextDue(s);
    let forget = false;
    if (due < this.watermark) forget = this.settle(sk, key, s, due);
    else this.arm(sk, s);
    changed ||= s.raisedAt !== raisedAt || s.floor !== floor || s.pending !== pending || s.timerAt !== timerAt;
    this.write(sk, s, found === undefined, raisedAt !== null, forget, changed);
  }

  /** Tells the store what became of a key: forgotten, new, changed in place, or nothing. */
  private write(sk: string, s: KeyState, added: boolean, wasRaised: boolean, forget: boolean, changed: boolean): void {
    if (forget) {
      if (!added) {
        this.keys.delete(sk);
        this.held--;
      }
    } else if (added) {
      this.keys.set(sk, s);
      this.held++;
    } else if (changed) {
      this.keys.changed(sk);
    }
    this.raisedKeys += (!forget && s.raisedAt !== null ? 1 : 0) - (wasRaised ? 1 : 0);
  }

  /** Emits a settled clear ahead of the watermark, so a key's events always alternate. */
  private flushPending(key: K, s: KeyState): void {
    if (s.pending === null) return;
    const [time, count, since] = s.pending;
    s.pending = null;
    this.clears++;
    this.emit({ type: 'cleared', key, time, count, since });
  }

  private arm(sk: string, s: KeyState): void {
    const due = this.nextDue(s);
    if (s.timerAt === null || due < s.timerAt) {
      s.timerAt = due;
      const w = this.watermark;
      // Entries below the watermark have fired (or fire before this watermark is done).
      if (s.timers.some(([time]) => time < w)) s.timers = s.timers.filter(([time]) => time >= w);
      s.timers.push([due, this.registered++]);
      this.timers.add(due, sk);
    }
  }

  // ---- event time -----------------------------------------------------------------

  private advance(time: number): void {
    if (!(time > this.watermark)) return;
    this.watermark = time;
    // A watermark W settles event times below W: records at W may still come.
    while (this.timers.peek() < time) {
      const at = this.timers.peek();
      for (const sk of this.timers.pop()) {
        const s = this.keys.get(sk);
        if (s === undefined || s.timerAt !== at) continue;
        const wasRaised = s.raisedAt !== null;
        s.timerAt = null;
        const forget = this.settle(sk, streamKey(sk) as K, s, at);
        this.write(sk, s, false, wasRaised, forget, true);
      }
    }
  }

  /**
   * Applies what is due at or before `at` (a time below the watermark): at most one clear,
   * then re-arms the key's timer at its next due time (after `at`), or returns true when
   * the key is to be forgotten.
   */
  private settle(sk: string, key: K, s: KeyState, at: number): boolean {
    if (s.pending !== null) {
      if (s.pending[0] <= at) this.flushPending(key, s);
    } else if (s.raisedAt !== null) {
      const e = this.clearDue(s);
      if (e <= at) {
        const since = s.raisedAt;
        s.raisedAt = null;
        s.floor = e;
        this.clears++;
        this.emit({ type: 'cleared', key, time: e, count: this.countAt(s.times, e), since });
      }
    }
    if (s.raisedAt === null && s.pending === null && this.forgetAt(s) <= at) return true;
    this.arm(sk, s);
    return false;
  }

  // ---- state ----------------------------------------------------------------------

  bindState(provider: StateProvider): void {
    this.keys = provider.store('keys', keyCodec);
    this.timers.clear();
    this.held = 0;
    this.raisedKeys = 0;
  }

  saveMeta(): JsonValue {
    return [Number.isFinite(this.watermark) ? this.watermark : null, this.raises, this.clears, this.expired, this.registered];
  }

  restoreMeta(meta: JsonValue): void {
    const [watermark, raises, clears, expired, registered] = (meta ?? [null, 0, 0, 0, 0]) as [number | null, number, number, number, number];
    this.watermark = watermark === null ? -Infinity : watermark;
    [this.raises, this.clears, this.expired, this.registered] = [raises, clears, expired, registered];
    this.timers.clear();
    this.held = 0;
    this.raisedKeys = 0;
    // The index as it was: entries not yet fired, in registration order.
    const pending: Array<[number, number, string]> = [];
    for (const [sk, s] of this.keys.entries()) {
      this.held++;
      if (s.raisedAt !== null) this.raisedKeys++;
      for (const [time, r] of s.timers) if (time >= this.watermark) pending.push([time, r, sk]);
    }
    pending.sort((x, y) => x[1] - y[1]);
    for (const [time, , sk] of pending) this.timers.add(time, sk);
  }
}
