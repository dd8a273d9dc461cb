import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { invalid, optionalNumber, requireFunction, requireObject } from './options';
import { checkSnapshot, statefulOperator } from './stateful-operator';
import { recordEvent, watermark, type JsonValue, type RecordEvent, type StatefulOperator, type StreamEvent, type StreamKey } from './types';

export interface WithWatermarksOptions<T> {
  /** Event time of a record in ms since the epoch, read from the record. */
  readonly eventTime: (record: T) => number;
  /**
   * How far (ms) a record may trail the newest event time of its partition and still be
   * on time: each partition's watermark is `max event time − maxOutOfOrderness`.
   * Default 0.
   */
  readonly maxOutOfOrderness?: number;
  /**
   * Source partition of a record (Kafka partition, gateway, or device). The watermark is
   * the minimum over active partitions, so one slow partition holds it back — until it is
   * idle. Default: one partition.
   */
  readonly partition?: (record: T) => StreamKey;
  /**
   * A partition that sends nothing for this many ms of scheduler time stops holding the
   * watermark back until it sends again. Checked by one scheduler action per operator.
   * Default: partitions never go idle.
   */
  readonly idleTimeout?: number;
  /**
   * Clock-skew tolerance: a record stamped more than this many ms ahead of the
   * scheduler's clock advances the watermark only to `now + maxClockSkew`, so one device
   * with a clock running ahead cannot make every other device's records late. The
   * record itself keeps its time. A number or a per-record (per-device) function.
   * Default: no limit.
   */
  readonly maxClockSkew?: number | ((record: T) => number);
  /** Supplies processing time for idleness and skew. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Records whose event time is not a finite number go here (and are counted) instead of downstream. */
  readonly onInvalidTime?: (record: T) => void;
}

export interface WithWatermarksStats {
  readonly watermark: number;
  readonly partitions: number;
  readonly idlePartitions: number;
  /** Records whose time was beyond the clock-skew tolerance. */
  readonly skewed: number;
  readonly invalidTime: number;
}

export interface WithWatermarksSnapshot {
  readonly operator: 'with-watermarks';
  readonly version: 1;
  readonly settings: string;
  readonly watermark: number | null;
  readonly partitions: ReadonlyArray<readonly [StreamKey, number | null, boolean]>;
  readonly counters: readonly number[];
  readonly [extra: string]: JsonValue;
}

export type WithWatermarksOperator<T> = StatefulOperator<T, StreamEvent<T>, WithWatermarksSnapshot> & {
  stats(): WithWatermarksStats;
};

interface Partition {
  readonly id: StreamKey;
  max: number;
  lastSeen: number;
  idle: boolean;
  /** Position in the heap of active partitions, −1 when idle. */
  slot: number;
}

const NAME = 'withWatermarks';

/**
 * Assigns event time from each record and emits watermarks with bounded
 * out-of-orderness, per source partition, with idleness and clock-skew tolerance.
 * A record is emitted before the watermark it advances. Watermarks only move forward and
 * are emitted only when they advance.
 *
 * @example
 * records$.pipe(
 *   withWatermarks({ eventTime: (r) => r.time, maxOutOfOrderness: 5_000, partition: (r) => r.deviceId, idleTimeout: 30_000 }),
 *   keyedWindow({ ... }),
 * );
 */
export function withWatermarks<T>(options: WithWatermarksOptions<T>): WithWatermarksOperator<T> {
  requireObject(NAME, options);
  requireFunction(NAME, 'eventTime', options.eventTime);
  const delay = optionalNumber(NAME, 'maxOutOfOrderness', options.maxOutOfOrderness, 0, 0);
  if (options.partition !== undefined) requireFunction(NAME, 'partition', options.partition);
  const idle = options.idleTimeout === undefined ? 0 : optionalNumber(NAME, 'idleTimeout', options.idleTimeout, 0, 1);
  const skew = options.maxClockSkew;
  if (skew !== undefined && typeof skew !== 'function') optionalNumber(NAME, 'maxClockSkew', skew, 0, 0);
  if (options.onInvalidTime !== undefined) requireFunction(NAME, 'onInvalidTime', options.onInvalidTime);
  const scheduler = options.scheduler ?? asyncScheduler;
  if (typeof scheduler !== 'object' || scheduler === null || typeof scheduler.schedule !== 'function' || typeof scheduler.now !== 'function') {
    invalid(NAME, 'scheduler', scheduler, 'expected an rxjs SchedulerLike');
  }
  const core = new WatermarkCore<T>(options.eventTime, delay, options.partition, idle, skew, scheduler, options.onInvalidTime);
  return statefulOperator(NAME, core, { stats: () => core.stats() });
}

class WatermarkCore<T> {
  private emit: (out: StreamEvent<T>) => void = () => undefined;
  private readonly partitions = new Map<StreamKey, Partition>();
  /** Active partitions, min-heap by `max`: the root holds the watermark back. */
  private readonly heap: Partition[] = [];
  private watermark = -Infinity;
  private skewed = 0;
  private invalidTime = 0;
  private pending: Subscription | null = null;
  private readonly needsNow: boolean;

  constructor(
    private readonly eventTime: (record: T) => number,
    private readonly delay: number,
    private readonly partitionOf: ((record: T) => StreamKey) | undefined,
    private readonly idleTimeout: number,
    private readonly maxSkew: number | ((record: T) => number) | undefined,
    private readonly scheduler: SchedulerLike,
    private readonly onInvalid: ((record: T) => void) | undefined,
  ) {
    this.needsNow = idleTimeout > 0 || maxSkew !== undefined;
  }

  open(emit: (out: StreamEvent<T>) => void): void {
    this.emit = emit;
    if (this.idleTimeout > 0 && this.heap.length > 0) this.schedule(this.idleTimeout);
  }

  close(): void {
    this.emit = () => undefined;
    this.pending?.unsubscribe();
    this.pending = null;
  }

  complete(): void {
    this.pending?.unsubscribe();
    this.pending = null;
  }

  next(record: T): void {
    const t = this.eventTime(record);
    if (typeof t !== 'number' || !Number.isFinite(t)) {
      this.invalidTime++;
      this.onInvalid?.(record);
      return;
    }
    const ev: RecordEvent<T> = recordEvent(t, record);
    this.emit(ev);
    const id = this.partitionOf === undefined ? 0 : this.partitionOf(record);
    let p = this.partitions.get(id);
    if (p === undefined) {
      p = { id, max: -Infinity, lastSeen: 0, idle: true, slot: -1 };
      this.partitions.set(id, p);
    }
    let wm = t;
    if (this.needsNow) {
      const now = this.scheduler.now();
      p.lastSeen = now;
      if (this.maxSkew !== undefined) {
        const limit = now + (typeof this.maxSkew === 'number' ? this.maxSkew : this.maxSkew(record));
        if (wm > limit) {
          wm = limit;
          this.skewed++;
        }
      }
      if (this.idleTimeout > 0 && this.pending === null) this.schedule(this.idleTimeout);
    }
    if (p.idle) {
      p.idle = false;
      if (wm > p.max) p.max = wm;
      this.heapInsert(p);
    } else if (wm > p.max) {
      p.max = wm;
      this.siftDown(p.slot);
    }
    this.update();
  }

  private update(): void {
    if (this.heap.length === 0) return;
    const candidate = (this.heap[0] as Partition).max - this.delay;
    if (candidate > this.watermark) {
      this.watermark = candidate;
      this.emit(watermark(candidate));
    }
  }

  // One scheduler action per operator, due when the least recently seen active partition
  // would turn idle; records arriving meanwhile only move deadlines later, so the action
  // is never early-cancelled, only re-armed when it runs.
  private schedule(delay: number): void {
    this.pending = this.scheduler.schedule(() => this.checkIdle(), Math.max(0, delay));
  }

  private checkIdle(): void {
    this.pending = null;
    const now = this.scheduler.now();
    let next = Infinity;
    for (const p of this.partitions.values()) {
      if (p.idle) continue;
      if (now - p.lastSeen >= this.idleTimeout) {
        p.idle = true;
        this.heapRemove(p);
      } else if (p.lastSeen + this.idleTimeout < next) {
        next = p.lastSeen + this.idleTimeout;
      }
    }
    this.update();
    if (next !== Infinity) this.schedule(next - now);
  }

  stats(): WithWatermarksStats {
    return {
      watermark: this.watermark,
      partitions: this.partitions.size,
      idlePartitions: this.partitions.size - this.heap.length,
      skewed: this.skewed,
      invalidTime: this.invalidTime,
    };
  }

  // ---- indexed min-heap ----------------------------------------------------------

  private heapInsert(p: Partition): void {
    p.slot = this.heap.length;
    this.heap.push(p);
    this.siftUp(p.slot);
  }

  private heapRemove(p: Partition): void {
    const i = p.slot;
    const last = this.heap.pop() as Partition;
    p.slot = -1;
    if (last === p) return;
    this.heap[i] = last;
    last.slot = i;
    this.siftUp(i);
    this.siftDown(last.slot);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const p = heap[i] as Partition;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const q = heap[parent] as Partition;
      if (q.max <= p.max) break;
      heap[i] = q;
      q.slot = i;
      i = parent;
    }
    heap[i] = p;
    p.slot = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const p = heap[i] as Partition;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (heap[r] as Partition).max < (heap[l] as Partition).max ? r : l;
      const q = heap[c] as Partition;
      if (q.max >= p.max) break;
      heap[i] = q;
      q.slot = i;
      i = c;
    }
    heap[i] = p;
    p.slot = i;
  }

  // ---- checkpoints ---------------------------------------------------------------

  snapshot(): WithWatermarksSnapshot {
    return {
      operator: 'with-watermarks',
      version: 1,
      settings: `delay=${this.delay}`,
      watermark: Number.isFinite(this.watermark) ? this.watermark : null,
      partitions: [...this.partitions.values()].map((p) => [p.id, Number.isFinite(p.max) ? p.max : null, p.idle] as const),
      counters: [this.skewed, this.invalidTime],
    };
  }

  restore(state: WithWatermarksSnapshot): void {
    checkSnapshot('with-watermarks', state, `delay=${this.delay}`);
    this.partitions.clear();
    this.heap.length = 0;
    this.watermark = state.watermark === null ? -Infinity : state.watermark;
    [this.skewed, this.invalidTime] = state.counters as [number, number];
    // Idleness is measured in processing time, which does not survive a restart: every
    // restored active partition gets a fresh idle timeout from now.
    const now = this.needsNow ? this.scheduler.now() : 0;
    for (const [id, max, idle] of state.partitions) {
      const p: Partition = { id, max: max === null ? -Infinity : max, lastSeen: now, idle: true, slot: -1 };
      this.partitions.set(id, p);
      if (!idle) {
        p.idle = false;
        this.heapInsert(p);
      }
    }
  }
}
