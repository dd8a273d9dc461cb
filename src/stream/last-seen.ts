import { checkSnapshot, type OperatorCore } from './stateful-operator';
import { TimerIndex } from './timer-index';
import type { JsonValue, StreamEvent, StreamKey } from './types';

/** Per-key state of a "nothing heard for N ms of event time" detector. */
export interface LastSeen<P> {
  /** Newest event time seen. */
  last: number;
  /** What the newest record carried (a position, for staleness). */
  payload: P;
  silent: boolean;
  /** Due time of this key's one pending timer, or null. */
  timerAt: number | null;
}

export interface LastSeenSnapshot {
  readonly operator: string;
  readonly version: 1;
  readonly settings: string;
  readonly watermark: number | null;
  readonly keys: ReadonlyArray<readonly [StreamKey, number, JsonValue, boolean, number | null]>;
  readonly timers: ReadonlyArray<readonly [number, readonly StreamKey[]]>;
  readonly [extra: string]: JsonValue;
}

/**
 * Shared core of `silenceDetector` and `positionStaleness`. Event time comes from
 * watermarks, so silence is judged only once the stream as a whole has moved on: a key
 * is silent when the watermark passes its last record time + `after`. Each key has at
 * most one pending timer, re-armed lazily when it fires, so a chatty key costs no timer
 * work per record.
 */
export class LastSeenCore<T, K extends StreamKey, P extends JsonValue, O> implements OperatorCore<StreamEvent<T>, O, LastSeenSnapshot> {
  private emit: (out: O) => void = () => undefined;
  private readonly keys = new Map<K, LastSeen<P>>();
  private readonly timers = new TimerIndex<K>();
  private watermark = -Infinity;

  constructor(
    private readonly name: string,
    private readonly after: number,
    private readonly keyOf: (record: T) => K,
    /** What to remember of a record, or undefined when the record does not count. */
    private readonly capture: (record: T) => P | undefined,
    private readonly lost: (key: K, time: number, state: LastSeen<P>) => O,
    private readonly back: (key: K, time: number, state: LastSeen<P>, previous: number) => O,
  ) {}

  open(emit: (out: O) => void): void {
    this.emit = emit;
  }

  close(): void {
    this.emit = () => undefined;
  }

  complete(): void {
    // Silence is judged against watermarks; end of input is not evidence of silence.
  }

  next(ev: StreamEvent<T>): void {
    if (ev.kind === 'watermark') {
      this.advance(ev.time);
      return;
    }
    const payload = this.capture(ev.value);
    if (payload === undefined) return;
    const key = this.keyOf(ev.value);
    let s = this.keys.get(key);
    if (s === undefined) {
      s = { last: ev.time, payload, silent: false, timerAt: null };
      this.keys.set(key, s);
    } else {
      const previous = s.last;
      if (ev.time >= s.last) {
        s.last = ev.time;
        s.payload = payload;
      }
      if (s.silent) {
        s.silent = false;
        this.emit(this.back(key, ev.time, s, previous));
      }
    }
    if (s.timerAt === null) this.arm(key, s);
  }

  private arm(key: K, s: LastSeen<P>): void {
    s.timerAt = s.last + this.after;
    this.timers.add(s.timerAt, key);
  }

  private advance(time: number): void {
    if (!(time > this.watermark)) return;
    this.watermark = time;
    while (this.timers.peek() <= time) {
      const keys = this.timers.pop();
      for (const key of keys) {
        const s = this.keys.get(key);
        if (s === undefined || s.timerAt === null) continue;
        s.timerAt = null;
        if (s.silent) continue;
        if (s.last + this.after <= time) {
          s.silent = true;
          this.emit(this.lost(key, s.last + this.after, s));
        } else {
          this.arm(key, s);
        }
      }
    }
  }

  snapshot(): LastSeenSnapshot {
    return {
      operator: this.name,
      version: 1,
      settings: `after=${this.after}`,
      watermark: Number.isFinite(this.watermark) ? this.watermark : null,
      keys: [...this.keys].map(([k, s]) => [k, s.last, s.payload, s.silent, s.timerAt] as const),
      timers: this.timers.entries(),
    };
  }

  restore(state: LastSeenSnapshot): void {
    checkSnapshot(this.name, state, `after=${this.after}`);
    this.keys.clear();
    this.timers.clear();
    this.watermark = state.watermark === null ? -Infinity : state.watermark;
    for (const [k, last, payload, silent, timerAt] of state.keys) {
      this.keys.set(k as K, { last, payload: payload as P, silent, timerAt });
    }
    for (const [time, keys] of state.timers) for (const key of keys) this.timers.add(time, key as K);
  }
}
