import { invalid, optionalNumber, requireFunction, requireNumber, requireObject, requirePositive } from './options';
import { checkSnapshot, statefulOperator, type OperatorCore } from './stateful-operator';
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
 * One key: `[key, times, raisedAt, floor, pending, timerAt]`, see `KeyState`. `floor` is
 * null for "none"; `pending` is `[time, count, since]` or null.
 */
export type RateKeySnapshot = readonly [StreamKey, readonly number[], number | null, number | null, readonly [number, number, number] | null, number | null];

export interface RateSnapshot {
  readonly operator: 'rate';
  readonly version: 1;
  readonly settings: string;
  readonly watermark: number | null;
  /** `[raises, clears, expired]`. */
  readonly counters: readonly number[];
  readonly keys: ReadonlyArray<RateKeySnapshot>;
  /** Pending event-time timers: `[time, keys]`, keys in the order they fire. */
  readonly timers: ReadonlyArray<readonly [number, readonly StreamKey[]]>;
  readonly [extra: string]: JsonValue;
}

export type RateOperator<T, K extends StreamKey> = StatefulOperator<StreamEvent<T>, RateEvent<K>, RateSnapshot> & {
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
  return statefulOperator(NAME, core, { stats: () => core.stats() });
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

class RateCore<T, K extends StreamKey> implements OperatorCore<StreamEvent<T>, RateEvent<K>, RateSnapshot> {
  private emit: (out: RateEvent<K>) => void = () => undefined;
  private readonly keys = new Map<K, KeyState>();
  private readonly timers = new TimerIndex<K>();
  private watermark = -Infinity;
  private raises = 0;
  private clears = 0;
  private expired = 0;
  private readonly settings: string;

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
    let raised = 0;
    for (const s of this.keys.values()) if (s.raisedAt !== null) raised++;
    return {
      watermark: this.watermark,
      keys: this.keys.size,
      raised,
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
    let s = this.keys.get(key);
    if (s === undefined) {
      s = { times: [], raisedAt: null, floor: -Infinity, pending: null, timerAt: null };
      this.keys.set(key, s);
    }
    const a = s.times;
    a.splice(upperBound(a, t), 0, t);
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
    if (a.length > this.raise) a.splice(0, a.length - this.raise);
    const due = this.nextDue(s);
    if (due < this.watermark) this.settle(key, s, due);
    else this.arm(key, s);
  }

  /** Emits a settled clear ahead of the watermark, so a key's events always alternate. */
  private flushPending(key: K, s: KeyState): void {
    if (s.pending === null) return;
    const [time, count, since] = s.pending;
    s.pending = null;
    this.clears++;
    this.emit({ type: 'cleared', key, time, count, since });
  }

  private arm(key: K, s: KeyState): void {
    const due = this.nextDue(s);
    if (s.timerAt === null || due < s.timerAt) {
      s.timerAt = due;
      this.timers.add(due, key);
    }
  }

  // ---- event time -----------------------------------------------------------------

  private advance(time: number): void {
    if (!(time > this.watermark)) return;
    this.watermark = time;
    // A watermark W settles event times below W: records at W may still come.
    while (this.timers.peek() < time) {
      const at = this.timers.peek();
      for (const key of this.timers.pop()) {
        const s = this.keys.get(key);
        if (s === undefined || s.timerAt !== at) continue;
        s.timerAt = null;
        this.settle(key, s, at);
      }
    }
  }

  /**
   * Applies what is due at or before `at` (a time below the watermark): at most one clear,
   * then forgets the key or re-arms its timer at its next due time (after `at`).
   */
  private settle(key: K, s: KeyState, at: number): void {
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
    if (s.raisedAt === null && s.pending === null && this.forgetAt(s) <= at) {
      this.keys.delete(key);
      return;
    }
    this.arm(key, s);
  }

  // ---- checkpoints ----------------------------------------------------------------

  snapshot(): RateSnapshot {
    return {
      operator: 'rate',
      version: 1,
      settings: this.settings,
      watermark: Number.isFinite(this.watermark) ? this.watermark : null,
      counters: [this.raises, this.clears, this.expired],
      keys: [...this.keys].map(
        ([k, s]): RateKeySnapshot => [k, [...s.times], s.raisedAt, Number.isFinite(s.floor) ? s.floor : null, s.pending === null ? null : [...s.pending], s.timerAt],
      ),
      timers: this.timers.entries(),
    };
  }

  restore(state: RateSnapshot): void {
    checkSnapshot('rate', state, this.settings);
    this.keys.clear();
    this.timers.clear();
    this.watermark = state.watermark === null ? -Infinity : state.watermark;
    [this.raises, this.clears, this.expired] = state.counters as [number, number, number];
    for (const [k, times, raisedAt, floor, pending, timerAt] of state.keys) {
      this.keys.set(k as K, {
        times: [...times],
        raisedAt,
        floor: floor === null ? -Infinity : floor,
        pending: pending === null ? null : [pending[0], pending[1], pending[2]],
        timerAt,
      });
    }
    for (const [time, keys] of state.timers) for (const key of keys) this.timers.add(time, key as K);
  }
}
