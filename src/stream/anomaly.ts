import { invalid, optionalNumber, requireFunction, requireObject } from './options';
import { MemoryKeyedState, storeKey, type KeyedState, type KeyedStateSnapshot, type KeyedStateful, type StateProvider } from './state';
import { keyedStatefulOperator } from './stateful-operator';
import type { JsonValue, StatefulOperator, StreamEvent, StreamKey } from './types';

/** Exponentially weighted mean and variance: recent values weigh more, O(1) state. */
export interface EwmaBaseline {
  readonly kind: 'ewma';
  /** Weight of the newest value, in (0, 1]. Default 0.1. */
  readonly alpha?: number;
}

/** Mean and standard deviation of the last `window` values of the key. */
export interface RollingBaseline {
  readonly kind: 'rolling';
  /** Number of values in the baseline. Default 30. */
  readonly window?: number;
}

export interface AnomalyOptions<T, K extends StreamKey> {
  readonly key: (record: T) => K;
  readonly value: (record: T) => number;
  /** Default `{ kind: 'ewma', alpha: 0.1 }`. */
  readonly baseline?: EwmaBaseline | RollingBaseline;
  /** A value more than this many standard deviations from the baseline is a spike or dip. Default 3. */
  readonly sensitivity?: number;
  /** Values a key must have sent before it is judged. Default 10 (at most the rolling window). */
  readonly warmup?: number;
  /** Floor of the standard deviation, so a perfectly flat signal does not alarm on noise of 1 ulp. Default 1e-9. */
  readonly minStdDev?: number;
}

export interface AnomalyEvent<K> {
  readonly type: 'spike' | 'dip';
  readonly key: K;
  readonly time: number;
  readonly value: number;
  /** Baseline mean and standard deviation before this value. */
  readonly mean: number;
  readonly stdDev: number;
  /** (value − mean) / stdDev. */
  readonly score: number;
}

/** The JSON state of an anomaly detector used standalone (`snapshot()`). */
export type AnomalySnapshot = KeyedStateSnapshot;

interface KeyState {
  n: number;
  mean: number;
  variance: number;
  /** Rolling baseline only: ring of the last values. */
  ring: number[];
  head: number;
}

const NAME = 'anomalyDetector';

/**
 * Spike-and-dip detection against a rolling per-key baseline (EWMA or a rolling window
 * z-score). Every value, anomalous or not, then joins the baseline, so a lasting level
 * shift stops alarming once the baseline has caught up. Records in arrival order;
 * watermarks pass by unused.
 *
 * State: one entry per key with a baseline, in the store `keys`; every value a key sends
 * joins its baseline, so each record with a finite value writes its key (and only it).
 *
 * @example
 * events$.pipe(anomalyDetector({ key: (r) => r.deviceId, value: (r) => r.rpm, baseline: { kind: 'ewma', alpha: 0.05 }, sensitivity: 4 }));
 */
export function anomalyDetector<T, K extends StreamKey>(options: AnomalyOptions<T, K>): StatefulOperator<StreamEvent<T>, AnomalyEvent<K>, AnomalySnapshot> & KeyedStateful {
  requireObject(NAME, options);
  requireFunction(NAME, 'key', options.key);
  requireFunction(NAME, 'value', options.value);
  const baseline = options.baseline ?? { kind: 'ewma' };
  if (typeof baseline !== 'object' || baseline === null || (baseline.kind !== 'ewma' && baseline.kind !== 'rolling')) {
    invalid(NAME, 'baseline', baseline, 'expected { kind: "ewma", alpha } or { kind: "rolling", window }');
  }
  const alpha = baseline.kind === 'ewma' ? optionalNumber(NAME, 'baseline.alpha', baseline.alpha, 0.1, Number.MIN_VALUE) : 0;
  if (alpha > 1) invalid(NAME, 'baseline.alpha', alpha, 'expected a number in (0, 1]');
  const window = baseline.kind === 'rolling' ? optionalNumber(NAME, 'baseline.window', baseline.window, 30, 2, true) : 0;
  const sensitivity = optionalNumber(NAME, 'sensitivity', options.sensitivity, 3, Number.MIN_VALUE);
  const warmup = optionalNumber(NAME, 'warmup', options.warmup, window > 0 ? Math.min(10, window) : 10, 1, true);
  if (window > 0 && warmup > window) invalid(NAME, 'warmup', warmup, `expected at most the rolling window (${window})`);
  const minStd = optionalNumber(NAME, 'minStdDev', options.minStdDev, 1e-9, 0);
  const settings = `${baseline.kind};${alpha};${window}`;
  let keys: KeyedState<KeyState> = new MemoryKeyedState<KeyState>();
  // EWMA: `[n, mean, variance]`; rolling: `[n, mean, variance, ring, head]`.
  const codec = {
    save: (s: KeyState): JsonValue => (window === 0 ? [s.n, s.mean, s.variance] : [s.n, s.mean, s.variance, [...s.ring], s.head]),
    load: (j: JsonValue): KeyState => {
      const [n, mean, variance, ring, head] = j as [number, number, number, number[]?, number?];
      return { n, mean, variance, ring: ring === undefined ? [] : [...ring], head: head ?? 0 };
    },
  };
  let emit: (e: AnomalyEvent<K>) => void = () => undefined;

  const judge = (s: KeyState, key: K, time: number, v: number): void => {
    if (s.n < warmup) return;
    const std = Math.max(Math.sqrt(s.variance), minStd);
    const score = (v - s.mean) / std;
    if (score > sensitivity || score < -sensitivity) {
      emit({ type: score > 0 ? 'spike' : 'dip', key, time, value: v, mean: s.mean, stdDev: std, score });
    }
  };

  const learn = (s: KeyState, v: number): void => {
    if (window === 0) {
      if (s.n === 0) {
        s.mean = v;
        s.variance = 0;
      } else {
        const d = v - s.mean;
        s.mean += alpha * d;
        s.variance = (1 - alpha) * (s.variance + alpha * d * d);
      }
      s.n++;
      return;
    }
    if (s.ring.length < window) s.ring.push(v);
    else {
      s.ring[s.head] = v;
      s.head = (s.head + 1) % window;
    }
    s.n = s.ring.length;
    // Recomputed from the ring (window is small) rather than kept as running sums, which
    // drift with floating-point cancellation over a long-lived key.
    let sum = 0;
    for (const x of s.ring) sum += x;
    const m = sum / s.n;
    let sq = 0;
    for (const x of s.ring) sq += (x - m) * (x - m);
    s.mean = m;
    s.variance = sq / s.n;
  };

  return keyedStatefulOperator(NAME, settings, {
    open: (e) => {
      emit = e;
    },
    close: () => {
      emit = () => undefined;
    },
    complete: () => undefined,
    next: (ev) => {
      if (ev.kind !== 'record') return;
      const key = options.key(ev.value);
      const v = options.value(ev.value);
      if (!Number.isFinite(v)) return;
      const sk = storeKey(key);
      const found = keys.get(sk);
      const s = found ?? { n: 0, mean: 0, variance: 0, ring: [], head: 0 };
      judge(s, key, ev.time, v);
      learn(s, v);
      if (found === undefined) keys.set(sk, s);
      else keys.changed(sk);
    },
    bindState: (provider: StateProvider) => {
      keys = provider.store('keys', codec);
    },
    saveMeta: () => null,
    restoreMeta: () => undefined,
  });
}
