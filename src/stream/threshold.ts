import { invalid, optionalNumber, requireFunction, requireObject, requireOneOf } from './options';
import { checkSnapshot, statefulOperator } from './stateful-operator';
import type { JsonValue, StatefulOperator, StreamEvent, StreamKey } from './types';

type Level<T> = number | ((record: T) => number);

export interface ThresholdOptions<T, K extends StreamKey> {
  readonly key: (record: T) => K;
  readonly value: (record: T) => number;
  /** `above`: alarm when the value rises above `raise`; `below`: when it falls below. Default `above`. */
  readonly direction?: 'above' | 'below';
  /** Level that raises the alarm; a number or per record (e.g. per-device thresholds from a reference join). */
  readonly raise: Level<T>;
  /**
   * Level that clears it: the hysteresis band between `raise` and `clear` keeps the
   * current state, so a value hovering at the level does not flap. For `above`, `clear ≤ raise`.
   */
  readonly clear: Level<T>;
  /** Event-time ms the value must stay past `raise` before the alarm is raised. Default 0. */
  readonly minDuration?: number;
  /** Event-time ms the value must stay past `clear` before the alarm clears. Default `minDuration`. */
  readonly clearDuration?: number;
}

/** `since`: event time of the first record of the run that caused the change. */
export interface ThresholdEvent<K> {
  readonly type: 'raised' | 'cleared';
  readonly key: K;
  readonly time: number;
  readonly since: number;
  readonly value: number;
}

export interface ThresholdSnapshot {
  readonly operator: 'threshold';
  readonly version: 1;
  readonly settings: string;
  readonly keys: ReadonlyArray<readonly [StreamKey, boolean, number | null]>;
  readonly [extra: string]: JsonValue;
}

interface KeyState {
  alarm: boolean;
  /** Start of the current run of records past the level that would change the state. */
  since: number | null;
}

const NAME = 'thresholdDetector';

/**
 * Threshold alarms with hysteresis and a minimum duration, per key. Records are judged
 * in arrival order (put it after `dedupe`; late records count when they arrive);
 * watermarks pass by unused.
 *
 * @example
 * events$.pipe(thresholdDetector({ key: (r) => r.deviceId, value: (r) => r.tempC, raise: 80, clear: 75, minDuration: 10_000 }));
 */
export function thresholdDetector<T, K extends StreamKey>(options: ThresholdOptions<T, K>): StatefulOperator<StreamEvent<T>, ThresholdEvent<K>, ThresholdSnapshot> {
  requireObject(NAME, options);
  requireFunction(NAME, 'key', options.key);
  requireFunction(NAME, 'value', options.value);
  const direction = options.direction === undefined ? 'above' : requireOneOf(NAME, 'direction', options.direction, ['above', 'below'] as const);
  for (const opt of ['raise', 'clear'] as const) {
    const v = options[opt];
    if (typeof v !== 'function' && (typeof v !== 'number' || !Number.isFinite(v))) invalid(NAME, opt, v, 'expected a finite number or a function of the record');
  }
  const { raise, clear } = options;
  if (typeof raise === 'number' && typeof clear === 'number' && (direction === 'above' ? clear > raise : clear < raise)) {
    invalid(NAME, 'clear', clear, `expected a level ${direction === 'above' ? 'at or below' : 'at or above'} raise (${raise}) for direction "${direction}"`);
  }
  const minDuration = optionalNumber(NAME, 'minDuration', options.minDuration, 0, 0);
  const clearDuration = optionalNumber(NAME, 'clearDuration', options.clearDuration, minDuration, 0);
  const level = (l: Level<T>, r: T): number => (typeof l === 'number' ? l : l(r));
  const sign = direction === 'above' ? 1 : -1;
  const settings = `${direction};${minDuration};${clearDuration}`;
  const keys = new Map<K, KeyState>();
  let emit: (e: ThresholdEvent<K>) => void = () => undefined;

  return statefulOperator(NAME, {
    open: (e) => {
      emit = e;
    },
    close: () => {
      emit = () => undefined;
    },
    complete: () => undefined,
    next: (ev) => {
      if (ev.kind !== 'record') return;
      const r = ev.value;
      const key = options.key(r);
      const v = options.value(r);
      let s = keys.get(key);
      if (s === undefined) {
        s = { alarm: false, since: null };
        keys.set(key, s);
      }
      // sign folds `below` into `above`: compare sign·v with sign·level.
      const past = s.alarm ? sign * v < sign * level(clear, r) : sign * v > sign * level(raise, r);
      if (!past) {
        s.since = null;
        return;
      }
      if (s.since === null) s.since = ev.time;
      if (ev.time - s.since >= (s.alarm ? clearDuration : minDuration)) {
        s.alarm = !s.alarm;
        const since = s.since;
        s.since = null;
        emit({ type: s.alarm ? 'raised' : 'cleared', key, time: ev.time, since, value: v });
      }
    },
    snapshot: () => ({
      operator: 'threshold',
      version: 1,
      settings,
      keys: [...keys].map(([k, s]) => [k, s.alarm, s.since] as const),
    }),
    restore: (state) => {
      checkSnapshot('threshold', state, settings);
      keys.clear();
      for (const [k, alarm, since] of state.keys) keys.set(k as K, { alarm, since });
    },
  });
}
