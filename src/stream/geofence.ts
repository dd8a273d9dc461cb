import pointInPolygon from 'point-in-polygon';
import { invalid, optionalNumber, requireFunction, requireObject } from './options';
import { MemoryKeyedState, storeKey, type KeyedState, type KeyedStateSnapshot, type KeyedStateful, type StateProvider } from './state';
import { keyedStatefulOperator } from './stateful-operator';
import type { JsonValue, StatefulOperator, StreamEvent, StreamKey } from './types';

/** WGS84 position in degrees. */
export interface LatLon {
  readonly lat: number;
  readonly lon: number;
}

/** A named polygon: vertices as `[lon, lat]` pairs (GeoJSON order), closed or not. */
export interface Fence {
  readonly id: string;
  readonly polygon: ReadonlyArray<readonly [number, number]>;
}

export interface GeofenceOptions<T, K extends StreamKey> {
  readonly key: (record: T) => K;
  /** Position of a record; records without one (`undefined`) pass by. */
  readonly position: (record: T) => LatLon | undefined;
  readonly fences: readonly Fence[];
  /**
   * Hysteresis band at the border, in metres: inside a fence, a point must lie more than
   * this far outside to count as outside, and the other way round. Default 0.
   */
  readonly bufferMeters?: number;
  /** Consecutive points needed on the other side before enter/exit is reported. Default 1. */
  readonly confirmPoints?: number;
  /** After this many ms of event time inside a fence, report `dwell` (once per visit). Default: no dwell events. */
  readonly dwell?: number;
}

export interface GeofenceEvent<K> {
  readonly type: 'enter' | 'exit' | 'dwell';
  readonly key: K;
  readonly fence: string;
  readonly time: number;
  readonly position: LatLon;
  /** Event time of the point that entered (for `dwell` and `exit`). */
  readonly since?: number;
}

/** The JSON state of a geofence operator used standalone (`snapshot()`). */
export type GeofenceSnapshot = KeyedStateSnapshot;

interface FenceState {
  inside: boolean;
  /** Consecutive points seen on the other side. */
  streak: number;
  /** Inside only: when the key entered, and whether its dwell was reported. */
  enteredAt: number;
  dwelt: boolean;
}

/** A key's state for a fence it is outside of with no run towards entering: the state of a key never seen. */
const OUTSIDE: Readonly<FenceState> = Object.freeze({ inside: false, streak: 0, enteredAt: 0, dwelt: false });
const outside = (): FenceState => ({ inside: false, streak: 0, enteredAt: 0, dwelt: false });
const idle = (s: FenceState): boolean => !s.inside && s.streak === 0;

interface PreparedFence {
  readonly id: string;
  readonly ring: number[][];
  /** Bounding box widened by the buffer, for a cheap "far outside" test. */
  readonly minLon: number;
  readonly maxLon: number;
  readonly minLat: number;
  readonly maxLat: number;
}

const NAME = 'geofence';
const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;

/**
 * Distance in metres from a point to the polygon's border. Local equirectangular
 * projection around the point: accurate to well under a metre for fences up to tens of
 * kilometres, which is the scale hysteresis bands work at.
 */
export function distanceToBorderMeters(p: LatLon, ring: ReadonlyArray<readonly [number, number]>): number {
  const kx = Math.cos(p.lat * RAD) * RAD * EARTH_RADIUS_M;
  const ky = RAD * EARTH_RADIUS_M;
  let best = Infinity;
  const n = ring.length;
  for (let i = 0; i < n; i++) {
    const a = ring[i] as readonly [number, number];
    const b = ring[(i + 1) % n] as readonly [number, number];
    const ax = (a[0] - p.lon) * kx;
    const ay = (a[1] - p.lat) * ky;
    const bx = (b[0] - p.lon) * kx;
    const by = (b[1] - p.lat) * ky;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const u = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2));
    const cx = ax + u * dx;
    const cy = ay + u * dy;
    const d = Math.sqrt(cx * cx + cy * cy);
    if (d < best) best = d;
  }
  return best;
}

/**
 * Enter, exit and dwell events of keys (devices, units) against polygons, with
 * hysteresis at the border: a buffer band in metres and/or N consecutive points. Points
 * in arrival order; watermarks pass by unused.
 *
 * State: only keys inside a fence or on a run of points towards entering one have an
 * entry (store `keys`, listing those fences by id); a key outside every fence has none, and
 * a point that changes nothing (still inside, still outside) writes nothing.
 *
 * @example
 * positions$.pipe(geofence({ key: (r) => r.deviceId, position: (r) => r.pos, fences, bufferMeters: 25, confirmPoints: 2, dwell: 600_000 }));
 */
export function geofence<T, K extends StreamKey>(options: GeofenceOptions<T, K>): StatefulOperator<StreamEvent<T>, GeofenceEvent<K>, GeofenceSnapshot> & KeyedStateful {
  requireObject(NAME, options);
  requireFunction(NAME, 'key', options.key);
  requireFunction(NAME, 'position', options.position);
  if (!Array.isArray(options.fences)) invalid(NAME, 'fences', options.fences, 'expected an array of { id, polygon }');
  const ids = new Set<string>();
  for (const f of options.fences) {
    if (typeof f !== 'object' || f === null || typeof f.id !== 'string' || ids.has(f.id)) invalid(NAME, 'fences', f?.id, 'expected fences with unique string ids');
    ids.add(f.id);
    const poly: ReadonlyArray<readonly unknown[]> = f.polygon;
    if (!Array.isArray(poly) || poly.length < 3 || !poly.every((v) => Array.isArray(v) && v.length === 2 && v.every((c) => Number.isFinite(c)))) {
      invalid(NAME, `fences[${f.id}].polygon`, f.polygon, 'expected at least 3 [lon, lat] vertices');
    }
  }
  const buffer = optionalNumber(NAME, 'bufferMeters', options.bufferMeters, 0, 0);
  const confirm = optionalNumber(NAME, 'confirmPoints', options.confirmPoints, 1, 1, true);
  const dwell = options.dwell === undefined ? Infinity : optionalNumber(NAME, 'dwell', options.dwell, 0, 0);
  const fences: PreparedFence[] = options.fences.map((f: Fence) => {
    const lons = f.polygon.map((v) => v[0]);
    const lats = f.polygon.map((v) => v[1]);
    const maxAbsLat = Math.min(89, Math.max(...lats.map(Math.abs)));
    const dLat = buffer / (RAD * EARTH_RADIUS_M);
    const dLon = buffer / (RAD * EARTH_RADIUS_M * Math.cos((maxAbsLat + dLat) * RAD));
    return {
      id: f.id,
      ring: f.polygon.map((v): number[] => [v[0], v[1]]),
      minLon: Math.min(...lons) - dLon,
      maxLon: Math.max(...lons) + dLon,
      minLat: Math.min(...lats) - dLat,
      maxLat: Math.max(...lats) + dLat,
    };
  });
  const settings = `${fences.map((f) => f.id).join(',')};${buffer};${confirm};${dwell}`;
  let keys: KeyedState<FenceState[]> = new MemoryKeyedState<FenceState[]>();
  const fenceIndex = new Map(fences.map((f, i) => [f.id, i]));
  // Saved: `[fenceId, inside, streak, enteredAt, dwelt]` for each fence not idle. A fence
  // no longer configured is dropped on load; one added since starts idle.
  const codec = {
    save: (states: FenceState[]): JsonValue =>
      states.flatMap((s, i) => (idle(s) ? [] : [[(fences[i] as PreparedFence).id, s.inside, s.streak, s.enteredAt, s.dwelt]])),
    load: (j: JsonValue): FenceState[] => {
      const states = fences.map(outside);
      for (const [id, inside, streak, enteredAt, dwelt] of j as Array<[string, boolean, number, number, boolean]>) {
        const i = fenceIndex.get(id);
        if (i !== undefined) states[i] = { inside, streak, enteredAt, dwelt };
      }
      return states;
    },
  };
  let emit: (e: GeofenceEvent<K>) => void = () => undefined;

  // Where the point counts, given where the key is now: inside the band it keeps its side.
  const side = (f: PreparedFence, p: LatLon, inside: boolean): boolean => {
    if (p.lon < f.minLon || p.lon > f.maxLon || p.lat < f.minLat || p.lat > f.maxLat) return false;
    const raw = pointInPolygon([p.lon, p.lat], f.ring);
    if (buffer === 0 || raw === inside) return raw;
    return distanceToBorderMeters(p, f.ring as unknown as ReadonlyArray<readonly [number, number]>) > buffer ? raw : inside;
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
      const p = options.position(ev.value);
      if (p === undefined || !Number.isFinite(p.lat) || !Number.isFinite(p.lon)) return;
      const key = options.key(ev.value);
      const sk = storeKey(key);
      const found = keys.get(sk);
      // A key without an entry is idle at every fence: its states are made on its first change.
      let states = found;
      let changed = false;
      const t = ev.time;
      for (let i = 0; i < fences.length; i++) {
        const f = fences[i] as PreparedFence;
        // OUTSIDE is frozen: it is only read (an idle fence that stays idle changes nothing).
        let s = states === undefined ? (OUTSIDE as FenceState) : (states[i] as FenceState);
        if (side(f, p, s.inside) !== s.inside) {
          if (states === undefined) {
            states = fences.map(outside);
            s = states[i] as FenceState;
          }
          changed = true;
          if (++s.streak >= confirm) {
            s.streak = 0;
            s.inside = !s.inside;
            if (s.inside) {
              s.enteredAt = t;
              s.dwelt = false;
              emit({ type: 'enter', key, fence: f.id, time: t, position: p });
            } else {
              emit({ type: 'exit', key, fence: f.id, time: t, position: p, since: s.enteredAt });
            }
          }
        } else if (s.streak !== 0) {
          s.streak = 0;
          changed = true;
        }
        if (s.inside && !s.dwelt && t - s.enteredAt >= dwell) {
          s.dwelt = true;
          changed = true;
          emit({ type: 'dwell', key, fence: f.id, time: t, position: p, since: s.enteredAt });
        }
      }
      if (!changed || states === undefined) return;
      if (states.every(idle)) {
        if (found !== undefined) keys.delete(sk);
      } else if (found === undefined) {
        keys.set(sk, states);
      } else {
        keys.changed(sk);
      }
    },
    bindState: (provider: StateProvider) => {
      keys = provider.store('keys', codec);
    },
    saveMeta: () => null,
    restoreMeta: () => undefined,
  },
  undefined,
  // Under the runtime the fence list may change between deployments (a removed fence's
  // state is dropped, an added one starts idle); the detection settings may not.
  `${buffer};${confirm};${dwell}`,
  );
}
