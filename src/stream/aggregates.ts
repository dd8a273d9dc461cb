import { DDSketch } from '@datadog/sketches-js';
import { invalid, requireFunction, requireNumber } from './options';
import type { JsonValue } from './types';

/**
 * A mergeable aggregate over the records of one window. Accumulators are mutable and
 * owned by the operator; `add` and `merge` return the accumulator so that an aggregate
 * may keep a primitive. `merge` must leave `other` untouched (sliding windows merge the
 * same bucket into several windows). `save`/`load` turn an accumulator into plain JSON
 * for checkpoints.
 *
 * Every aggregate here is exact and independent of arrival order, except `sum`/`mean`/
 * `variance` whose floating-point rounding depends on the order of additions, and the
 * percentiles, which are within the sketch's relative accuracy.
 */
export interface Aggregate<T, A, R> {
  create(): A;
  add(acc: A, record: T, time: number): A;
  merge(into: A, other: A): A;
  result(acc: A): R;
  save(acc: A): JsonValue;
  load(json: JsonValue): A;
}

/** The result type of an aggregate. */
export type AggregateResult<G> = G extends Aggregate<never, unknown, infer R> ? R : never;

type Selector<T> = (record: T) => number;

function selector<T>(name: string, select: unknown): Selector<T> {
  requireFunction(name, 'select', select);
  return select as Selector<T>;
}

const n = (json: JsonValue): number => (json === null ? NaN : (json as number));

/** Number of records. */
export function count<T = unknown>(): Aggregate<T, number, number> {
  return {
    create: () => 0,
    add: (acc) => acc + 1,
    merge: (a, b) => a + b,
    result: (acc) => acc,
    save: (acc) => acc,
    load: (json) => json as number,
  };
}

/** Sum of a numeric field (0 for an empty window). */
export function sum<T>(select: Selector<T>): Aggregate<T, number, number> {
  const f = selector<T>('sum', select);
  return {
    create: () => 0,
    add: (acc, r) => acc + f(r),
    merge: (a, b) => a + b,
    result: (acc) => acc,
    save: (acc) => acc,
    load: (json) => json as number,
  };
}

interface MeanAcc {
  n: number;
  sum: number;
}

/** Arithmetic mean (NaN for an empty window): sum / count, so it merges exactly. */
export function mean<T>(select: Selector<T>): Aggregate<T, MeanAcc, number> {
  const f = selector<T>('mean', select);
  return {
    create: () => ({ n: 0, sum: 0 }),
    add: (acc, r) => {
      acc.n++;
      acc.sum += f(r);
      return acc;
    },
    merge: (a, b) => {
      a.n += b.n;
      a.sum += b.sum;
      return a;
    },
    result: (acc) => (acc.n === 0 ? NaN : acc.sum / acc.n),
    save: (acc) => [acc.n, acc.sum],
    load: (json) => {
      const [c, s] = json as number[];
      return { n: c as number, sum: s as number };
    },
  };
}

/** Smallest value (+Infinity for an empty window; saved as null). */
export function min<T>(select: Selector<T>): Aggregate<T, number, number> {
  const f = selector<T>('min', select);
  return {
    create: () => Infinity,
    add: (acc, r) => {
      const v = f(r);
      return v < acc ? v : acc;
    },
    merge: (a, b) => (b < a ? b : a),
    result: (acc) => acc,
    save: (acc) => (Number.isFinite(acc) ? acc : null),
    load: (json) => (json === null ? Infinity : (json as number)),
  };
}

/** Largest value (-Infinity for an empty window; saved as null). */
export function max<T>(select: Selector<T>): Aggregate<T, number, number> {
  const f = selector<T>('max', select);
  return {
    create: () => -Infinity,
    add: (acc, r) => {
      const v = f(r);
      return v > acc ? v : acc;
    },
    merge: (a, b) => (b > a ? b : a),
    result: (acc) => acc,
    save: (acc) => (Number.isFinite(acc) ? acc : null),
    load: (json) => (json === null ? -Infinity : (json as number)),
  };
}

interface MomentsAcc {
  n: number;
  mean: number;
  m2: number;
}

/** Population or sample variance, and the standard deviation derived from it. */
export interface VarianceOptions {
  /** `population` divides by n, `sample` by n − 1. Default `population`. */
  readonly kind?: 'population' | 'sample';
}

function moments<T>(name: string, select: Selector<T>, options: VarianceOptions | undefined, sqrt: boolean): Aggregate<T, MomentsAcc, number> {
  const f = selector<T>(name, select);
  const kind = options?.kind ?? 'population';
  if (kind !== 'population' && kind !== 'sample') invalid(name, 'kind', kind, 'expected "population" or "sample"');
  const ddof = kind === 'sample' ? 1 : 0;
  // Welford's update and Chan's merge: stable where sum-of-squares cancels (GPS
  // coordinates, large offsets with small spread).
  return {
    create: () => ({ n: 0, mean: 0, m2: 0 }),
    add: (acc, r) => {
      const x = f(r);
      acc.n++;
      const d = x - acc.mean;
      acc.mean += d / acc.n;
      acc.m2 += d * (x - acc.mean);
      return acc;
    },
    merge: (a, b) => {
      if (b.n === 0) return a;
      if (a.n === 0) {
        a.n = b.n;
        a.mean = b.mean;
        a.m2 = b.m2;
        return a;
      }
      const total = a.n + b.n;
      const d = b.mean - a.mean;
      a.m2 += b.m2 + (d * d * a.n * b.n) / total;
      a.mean += (d * b.n) / total;
      a.n = total;
      return a;
    },
    result: (acc) => {
      if (acc.n - ddof <= 0) return NaN;
      const v = acc.m2 / (acc.n - ddof);
      return sqrt ? Math.sqrt(v) : v;
    },
    save: (acc) => [acc.n, acc.mean, acc.m2],
    load: (json) => {
      const [c, m, m2] = json as number[];
      return { n: c as number, mean: m as number, m2: m2 as number };
    },
  };
}

export function variance<T>(select: Selector<T>, options?: VarianceOptions): Aggregate<T, MomentsAcc, number> {
  return moments('variance', select, options, false);
}

export function stddev<T>(select: Selector<T>, options?: VarianceOptions): Aggregate<T, MomentsAcc, number> {
  return moments('stddev', select, options, true);
}

interface PickAcc<V> {
  time: number;
  value: V | undefined;
}

/**
 * The value of the record with the earliest event time (ties: the first to arrive).
 * `undefined` for an empty window. The picked value must be JSON data for snapshots.
 */
export function first<T, V extends JsonValue>(select: (record: T) => V): Aggregate<T, PickAcc<V>, V | undefined> {
  return pick('first', select, (t, best) => t < best);
}

/** The value of the record with the latest event time (ties: the last to arrive). */
export function last<T, V extends JsonValue>(select: (record: T) => V): Aggregate<T, PickAcc<V>, V | undefined> {
  return pick('last', select, (t, best) => t >= best);
}

function pick<T, V extends JsonValue>(name: string, select: (record: T) => V, better: (t: number, best: number) => boolean): Aggregate<T, PickAcc<V>, V | undefined> {
  requireFunction(name, 'select', select);
  const empty = name === 'first' ? Infinity : -Infinity;
  return {
    create: () => ({ time: empty, value: undefined }),
    add: (acc, r, time) => {
      if (better(time, acc.time)) {
        acc.time = time;
        acc.value = select(r);
      }
      return acc;
    },
    // Merged accumulators never hold equal times that both count (session and sliding
    // buckets are disjoint in time), so the strict comparison decides.
    merge: (a, b) => {
      if (b.value !== undefined && (a.value === undefined || better(b.time, a.time))) {
        a.time = b.time;
        a.value = b.value;
      }
      return a;
    },
    result: (acc) => acc.value,
    save: (acc) => (acc.value === undefined ? null : [acc.time, acc.value]),
    load: (json) => {
      if (json === null) return { time: empty, value: undefined };
      const [time, value] = json as [number, V];
      return { time, value };
    },
  };
}

/** Options of the sketch behind `percentiles`. */
export interface PercentileOptions {
  /** Relative accuracy of every returned quantile, in (0, 1). Default 0.01 (1 %). */
  readonly relativeAccuracy?: number;
}

/**
 * Quantiles through a DDSketch: each returned value is within `relativeAccuracy` of the
 * exact value at rank ⌊q·(n−1)⌋ of the window's sorted values. Sketches merge exactly,
 * so session merges and sliding windows lose nothing. Result: one number per requested
 * quantile, in the order asked (NaN for an empty window).
 */
export function percentiles<T>(select: Selector<T>, quantiles: readonly number[], options?: PercentileOptions): Aggregate<T, DDSketch, number[]> {
  const f = selector<T>('percentiles', select);
  if (!Array.isArray(quantiles) || quantiles.length === 0) invalid('percentiles', 'quantiles', quantiles, 'expected a non-empty array of numbers in [0, 1]');
  for (const q of quantiles) if (typeof q !== 'number' || !(q >= 0 && q <= 1)) invalid('percentiles', 'quantiles', quantiles, 'expected numbers in [0, 1]');
  const accuracy = options?.relativeAccuracy ?? 0.01;
  if (!(typeof accuracy === 'number' && accuracy > 0 && accuracy < 1)) invalid('percentiles', 'relativeAccuracy', accuracy, 'expected a number in (0, 1)');
  const qs = [...quantiles];
  return {
    create: () => new DDSketch({ relativeAccuracy: accuracy }),
    add: (acc, r) => {
      acc.accept(f(r));
      return acc;
    },
    merge: mergeSketch,
    result: (acc) => qs.map((q) => acc.getValueAtQuantile(q)),
    save: (acc) => saveSketch(acc),
    load: (json) => loadSketch(json, accuracy),
  };
}

/** One quantile through a DDSketch; see `percentiles`. */
export function percentile<T>(select: Selector<T>, quantile: number, options?: PercentileOptions): Aggregate<T, DDSketch, number> {
  requireNumber('percentile', 'quantile', quantile, 0);
  const inner = percentiles(select, [quantile], options);
  return { ...inner, result: (acc) => acc.getValueAtQuantile(quantile) };
}

// DDSketch.merge in @datadog/sketches-js 2.1.1 merges the positive store only and loses
// every negative value of the merged sketch (unless the target is empty), so stores are
// merged here one by one.
function mergeSketch(a: DDSketch, b: DDSketch): DDSketch {
  if (b.count === 0) return a;
  a.store.merge(b.store);
  a.negativeStore.merge(b.negativeStore);
  a.zeroCount += b.zeroCount;
  a.count += b.count;
  a.sum += b.sum;
  if (b.min < a.min) a.min = b.min;
  if (b.max > a.max) a.max = b.max;
  return a;
}

type Bins = Array<[number, number]>;

function storeBins(store: DDSketch['store']): Bins {
  const out: Bins = [];
  if (store.count === 0) return out;
  for (let i = 0; i < store.bins.length; i++) {
    const c = store.bins[i] as number;
    if (c !== 0) out.push([i + store.offset, c]);
  }
  return out;
}

// The library's own serialisation is protobuf and drops min/max; bins as [index, count]
// pairs are plain JSON and restore the sketch exactly.
function saveSketch(s: DDSketch): JsonValue {
  return {
    pos: storeBins(s.store),
    neg: storeBins(s.negativeStore),
    zero: s.zeroCount,
    count: s.count,
    sum: s.sum,
    min: Number.isFinite(s.min) ? s.min : null,
    max: Number.isFinite(s.max) ? s.max : null,
  };
}

function loadSketch(json: JsonValue, accuracy: number): DDSketch {
  const j = json as { pos: Bins; neg: Bins; zero: number; count: number; sum: number; min: number | null; max: number | null };
  const s = new DDSketch({ relativeAccuracy: accuracy });
  for (const [k, c] of j.pos) s.store.add(k, c);
  for (const [k, c] of j.neg) s.negativeStore.add(k, c);
  s.zeroCount = j.zero;
  s.count = j.count;
  s.sum = j.sum;
  s.min = j.min === null ? Infinity : n(j.min);
  s.max = j.max === null ? -Infinity : n(j.max);
  return s;
}

// Method parameters are compared bivariantly, so this accepts an aggregate of any record
// and accumulator type without resorting to `any`.
type AnyAggregate = Aggregate<never, unknown, unknown>;

/** Results of a composite aggregate: one field per named part. */
export type CompositeResult<S extends Record<string, AnyAggregate>> = { [P in keyof S]: AggregateResult<S[P]> };

/**
 * Several aggregates computed in one pass over a window, e.g.
 * `aggregate({ n: count(), avg: mean(r => r.v), p95: percentile(r => r.v, 0.95) })`.
 * The accumulator is an array with one slot per part.
 */
export function aggregate<T, S extends Record<string, Aggregate<T, unknown, unknown>>>(parts: S): Aggregate<T, unknown[], CompositeResult<S>> {
  if (typeof parts !== 'object' || parts === null || Object.keys(parts).length === 0) invalid('aggregate', 'parts', parts, 'expected an object of named aggregates');
  const names = Object.keys(parts);
  const list = names.map((k) => parts[k] as unknown as Aggregate<T, unknown, unknown>);
  for (let i = 0; i < list.length; i++) {
    const a = list[i] as Aggregate<T, unknown, unknown>;
    if (typeof a.create !== 'function' || typeof a.add !== 'function' || typeof a.merge !== 'function') invalid('aggregate', names[i] as string, a, 'expected an aggregate such as count() or mean(select)');
  }
  const size = list.length;
  return {
    create: () => {
      const acc = new Array<unknown>(size);
      for (let i = 0; i < size; i++) acc[i] = (list[i] as Aggregate<T, unknown, unknown>).create();
      return acc;
    },
    add: (acc, r, time) => {
      for (let i = 0; i < size; i++) acc[i] = (list[i] as Aggregate<T, unknown, unknown>).add(acc[i], r, time);
      return acc;
    },
    merge: (a, b) => {
      for (let i = 0; i < size; i++) a[i] = (list[i] as Aggregate<T, unknown, unknown>).merge(a[i], b[i]);
      return a;
    },
    result: (acc) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < size; i++) out[names[i] as string] = (list[i] as Aggregate<T, unknown, unknown>).result(acc[i]);
      return out as CompositeResult<S>;
    },
    save: (acc) => acc.map((a, i) => (list[i] as Aggregate<T, unknown, unknown>).save(a)),
    load: (json) => (json as JsonValue[]).map((j, i) => (list[i] as Aggregate<T, unknown, unknown>).load(j)),
  };
}
