import { MemoryKeyedState, storeKey, type KeyedState, type KeyedStateSnapshot, type StateProvider } from './state';
import type { KeyedOperatorCore } from './stateful-operator';
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
  /**
   * When the pending timer was registered (a counter across keys): a restored operator
   * re-registers timers in this order, so keys due at the same time fire in the same order.
   */
  seq: number;
}

/** The JSON state of a silence or staleness detector used standalone (`snapshot()`). */
export type LastSeenSnapshot = KeyedStateSnapshot;

/** Saved entry: `[last, payload, silent, timerAt, seq]`. */
type SavedLastSeen = [number, JsonValue, boolean, number | null, number];

/** A stream key back from its store key (`storeKey`). */
function streamKey(sk: string): StreamKey {
  return sk.charCodeAt(0) === 110 /* n */ ? Number(sk.slice(1)) : sk.slice(1);
}

/** A deep copy of plain JSON (payloads are small: a number, a position). */
function copyJson<P extends JsonValue>(v: P): P {
  return typeof v === 'object' && v !== null ? (JSON.parse(JSON.stringify(v)) as P) : v;
}

function sameJson(a: JsonValue, b: JsonValue): boolean {
  return a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b));
}

/**
 * Shared core of `silenceDetector` and `positionStaleness`. Event time comes from
 * watermarks, so silence is judged only once the stream as a whole has moved on: a key
 * is silent when the watermark passes its last record time + `after`. Each key has at
 * most one pending timer, re-armed lazily when it fires, so a chatty key costs no timer
 * work per record.
 *
 * State: one store entry per key seen (`keys`); every key seen stays watched, so none
 * returns to the state of a key never seen. A record that changes nothing (an older
 * record of a key that is not silent) writes nothing. The timer index holds store keys
 * only and is rebuilt from the entries on restore.
 */
export class LastSeenCore<T, K extends StreamKey, P extends JsonValue, O> implements KeyedOperatorCore<StreamEvent<T>, O> {
  private emit: (out: O) => void = () => undefined;
  private keys: KeyedState<LastSeen<P>> = new MemoryKeyedState<LastSeen<P>>();
  /** Pending timers by store key. */
  private readonly timers = new TimerIndex<string>();
  private watermark = -Infinity;
  private seq = 0;
  readonly settings: string;

  constructor(
    private readonly after: number,
    private readonly keyOf: (record: T) => K,
    /** What to remember of a record, or undefined when the record does not count. */
    private readonly capture: (record: T) => P | undefined,
    private readonly lost: (key: K, time: number, state: LastSeen<P>) => O,
    private readonly back: (key: K, time: number, state: LastSeen<P>, previous: number) => O,
  ) {
    this.settings = `after=${after}`;
  }

  // ---- state -----------------------------------------------------------------------

  bindState(provider: StateProvider): void {
    this.keys = provider.store<LastSeen<P>>('keys', {
      save: (s): JsonValue => [s.last, copyJson(s.payload), s.silent, s.timerAt, s.seq] satisfies SavedLastSeen,
      load: (j) => {
        const [last, payload, silent, timerAt, seq] = j as SavedLastSeen;
        return { last, payload: copyJson(payload as P), silent, timerAt, seq };
      },
    });
    this.timers.clear();
  }

  saveMeta(): JsonValue {
    return [Number.isFinite(this.watermark) ? this.watermark : null, this.seq];
  }

  restoreMeta(meta: JsonValue): void {
    const [watermark, seq] = (meta ?? [null, 0]) as [number | null, number];
    this.watermark = watermark === null ? -Infinity : watermark;
    this.seq = seq;
    this.timers.clear();
    // Timers back in registration order: keys due at the same time fire as they would have.
    const pending: Array<[string, number, number]> = [];
    for (const [sk, s] of this.keys.entries()) if (s.timerAt !== null) pending.push([sk, s.timerAt, s.seq]);
    pending.sort((a, b) => a[2] - b[2]);
    for (const [sk, at] of pending) this.timers.add(at, sk);
  }

  // ---- subscription ----------------------------------------------------------------

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
    const sk = storeKey(key);
    const s = this.keys.get(sk);
    if (s === undefined) {
      const fresh: LastSeen<P> = { last: ev.time, payload, silent: false, timerAt: null, seq: 0 };
      this.arm(sk, fresh);
      this.keys.set(sk, fresh);
      return;
    }
    let changed = false;
    const previous = s.last;
    if (ev.time > s.last || (ev.time === s.last && !sameJson(payload, s.payload))) {
      s.last = ev.time;
      s.payload = payload;
      changed = true;
    }
    if (s.silent) {
      s.silent = false;
      changed = true;
      this.emit(this.back(key, ev.time, s, previous));
    }
    if (s.timerAt === null) {
      this.arm(sk, s);
      changed = true;
    }
    if (changed) this.keys.changed(sk);
  }

  private arm(sk: string, s: LastSeen<P>): void {
    s.timerAt = s.last + this.after;
    s.seq = this.seq++;
    this.timers.add(s.timerAt, sk);
  }

  private advance(time: number): void {
    if (!(time > this.watermark)) return;
    this.watermark = time;
    while (this.timers.peek() <= time) {
      const sks = this.timers.pop();
      for (const sk of sks) {
        const s = this.keys.get(sk);
        if (s === undefined || s.timerAt === null) continue;
        s.timerAt = null;
        if (!s.silent) {
          if (s.last + this.after <= time) {
            s.silent = true;
            this.emit(this.lost(streamKey(sk) as K, s.last + this.after, s));
          } else {
            this.arm(sk, s);
          }
        }
        this.keys.changed(sk);
      }
    }
  }
}
