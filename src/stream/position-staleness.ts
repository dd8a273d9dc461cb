import type { LatLon } from './geofence';
import { LastSeenCore, type LastSeenSnapshot } from './last-seen';
import { requireFunction, requireObject, requirePositive } from './options';
import type { KeyedStateful } from './state';
import { keyedStatefulOperator } from './stateful-operator';
import type { StatefulOperator, StreamEvent, StreamKey } from './types';

export interface PositionStalenessOptions<T, K extends StreamKey> {
  readonly key: (record: T) => K;
  /** Position of a record; records without one do not refresh it. */
  readonly position: (record: T) => LatLon | undefined;
  /** Event-time ms after which the last known position is stale. */
  readonly maxAge: number;
}

/**
 * `stale`: the last known position (taken at `positionTime`) is older than `maxAge` at
 * `time`. `fresh`: a new position arrived for a key whose position was stale.
 */
export interface StalenessEvent<K> {
  readonly type: 'stale' | 'fresh';
  readonly key: K;
  readonly time: number;
  readonly position: LatLon;
  readonly positionTime: number;
}

/**
 * Staleness of each key's last known position, in event time (watermarks). A device that
 * keeps sending readings without a fix still goes stale.
 *
 * State: one entry per key with a known position, in the store `keys` (see `LastSeenCore`).
 *
 * @example
 * events$.pipe(positionStaleness({ key: (r) => r.deviceId, position: (r) => r.pos, maxAge: 300_000 }));
 */
export function positionStaleness<T, K extends StreamKey>(options: PositionStalenessOptions<T, K>): StatefulOperator<StreamEvent<T>, StalenessEvent<K>, LastSeenSnapshot> & KeyedStateful {
  requireObject('positionStaleness', options);
  requireFunction('positionStaleness', 'key', options.key);
  requireFunction('positionStaleness', 'position', options.position);
  const maxAge = requirePositive('positionStaleness', 'maxAge', options.maxAge);
  const capture = (r: T): [number, number] | undefined => {
    const p = options.position(r);
    return p === undefined || !Number.isFinite(p.lat) || !Number.isFinite(p.lon) ? undefined : [p.lat, p.lon];
  };
  const pos = (p: [number, number]): LatLon => ({ lat: p[0], lon: p[1] });
  const core = new LastSeenCore<T, K, [number, number], StalenessEvent<K>>(
    maxAge,
    options.key,
    capture,
    (key, time, s) => ({ type: 'stale', key, time, position: pos(s.payload), positionTime: s.last }),
    (key, time, s) => ({ type: 'fresh', key, time, position: pos(s.payload), positionTime: s.last }),
  );
  return keyedStatefulOperator('positionStaleness', core.settings, core);
}
