import { invalid, optionalNumber, requireFunction, requireObject, requireOneOf } from './options';
import { keyedStatefulOperator } from './stateful-operator';
import { MemoryKeyedState, storeKey, type KeyedState, type KeyedStateSnapshot, type KeyedStateful, type StateProvider } from './state';
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

/** The JSON state of a threshold detector used standalone (`snapshot()`). */
export type ThresholdSnapshot = KeyedStateSnapshot;

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
export function thresholdDetector<T, K extends StreamKey>(options: ThresholdOptions<T, K>): StatefulOperator<StreamEvent<T>, ThresholdEvent<K>, ThresholdSnapshot> & KeyedStateful {
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
  // Only keys in a run past a level or in alarm have an entry: the usual state (quiet, no
  // run) is the absence of one, so a fleet of healthy devices costs no state at all.
  let keys: KeyedState<KeyState> = new MemoryKeyedState<KeyState>();
  const codec = {
    save: (s: KeyState): JsonValue => [s.alarm, s.since],
    load: (j: JsonValue): KeyState => {
      const [alarm, since] = j as [boolean, number | null];
      return { alarm, since };
    },
  };
  let emit: (e: ThresholdEvent<K>) => void = () => undefined;

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
      const r = ev.value;
      const key = options.key(r);
      const v = options.value(r);
      const sk = storeKey(key);
      const s = keys.get(sk);
      const alarm = s?.alarm ?? false;
      // sign folds `below` into `above`: compare sign·v with sign·level.
      const past = alarm ? sign * v < sign * level(clear, r) : sign * v > sign * level(raise, r);
      if (!past) {
        if (s === undefined || s.since === null) return;
        if (s.alarm) {
          s.since = null;
          keys.changed(sk);
        } else {
          keys.delete(sk);
        }
        return;
      }
      let since = s?.since ?? null;
      if (since === null) since = ev.time;
      if (ev.time - since >= (alarm ? clearDuration : minDuration)) {
        const raised = !alarm;
        if (raised) keys.set(sk, { alarm: true, since: null });
        else keys.delete(sk);
        emit({ type: raised ? 'raised' : 'cleared', key, time: ev.time, since, value: v });
        return;
      }
      if (s === undefined) keys.set(sk, { alarm: false, since });
      else if (s.since !== since) {
        s.since = since;
        keys.changed(sk);
      }
    },
    bindState: (provider: StateProvider) => {
      keys = provider.store('keys', codec);
    },
    saveMeta: () => null,
    restoreMeta: () => undefined,
  });
}
