import { LastSeenCore, type LastSeenSnapshot } from './last-seen';
import { requireFunction, requireObject, requirePositive } from './options';
import type { KeyedStateful } from './state';
import { keyedStatefulOperator } from './stateful-operator';
import type { StatefulOperator, StreamEvent, StreamKey } from './types';

export interface SilenceOptions<T, K extends StreamKey> {
  readonly key: (record: T) => K;
  /** Event-time ms without a record after which a key is reported silent. */
  readonly after: number;
}

/**
 * `silent`: the key sent nothing from `lastSeen` until `time` (= lastSeen + after).
 * `resumed`: a record arrived from a silent key; `time` is its event time.
 */
export interface SilenceEvent<K> {
  readonly type: 'silent' | 'resumed';
  readonly key: K;
  readonly time: number;
  readonly lastSeen: number;
}

/**
 * Sensor silence in event time: raised once when the watermark passes a key's last
 * record time + `after`, cleared by the key's next record. Needs watermarks (from
 * `withWatermarks`, with `idleTimeout` if the whole source can fall quiet). Only keys seen
 * at least once are watched.
 *
 * State: one entry per key seen, in the store `keys` (see `LastSeenCore`).
 *
 * @example
 * events$.pipe(silenceDetector({ key: (r) => r.deviceId, after: 60_000 }));
 */
export function silenceDetector<T, K extends StreamKey>(options: SilenceOptions<T, K>): StatefulOperator<StreamEvent<T>, SilenceEvent<K>, LastSeenSnapshot> & KeyedStateful {
  requireObject('silenceDetector', options);
  requireFunction('silenceDetector', 'key', options.key);
  const after = requirePositive('silenceDetector', 'after', options.after);
  const core = new LastSeenCore<T, K, 0, SilenceEvent<K>>(
    after,
    options.key,
    () => 0,
    (key, time, s) => ({ type: 'silent', key, time, lastSeen: s.last }),
    (key, time, _s, previous) => ({ type: 'resumed', key, time, lastSeen: previous }),
  );
  return keyedStatefulOperator('silenceDetector', core.settings, core);
}
