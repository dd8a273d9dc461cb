import pointInPolygon from 'point-in-polygon';
import { invalid, optionalNumber, requireFunction, requireObject } from './options';
import { checkSnapshot, statefulOperator } from './stateful-operator';
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

export interface GeofenceSnapshot {
  readonly operator: 'geofence';
  readonly version: 1;
  readonly settings: string;
  readonly keys: ReadonlyArray<readonly [StreamKey, readonly JsonValue[]]>;
  readonly [extra: string]: JsonValue;
}

interface FenceState {
  inside: boolean;
  /** Consecutive points seen on the other side. */
  streak: number;
  enteredAt: number;
  dwelt: boolean;
}

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
 * @example
 * positions$.pipe(geofence({ key: (r) => r.deviceId, position: (r) => r.pos, fences, bufferMeters: 25, confirmPoints: 2, dwell: 600_000 }));
 */
export function geofence<T, K extends StreamKey>(options: GeofenceOptions<T, K>): StatefulOperator<StreamEvent<T>, GeofenceEvent<K>, GeofenceSnapshot> {
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
  const keys = new Map<K, FenceState[]>();
  let emit: (e: GeofenceEvent<K>) => void = () => undefined;

  // Where the point counts, given where the key is now: inside the band it keeps its side.
  const side = (f: PreparedFence, p: LatLon, inside: boolean): boolean => {
    if (p.lon < f.minLon || p.lon > f.maxLon || p.lat < f.minLat || p.lat > f.maxLat) return false;
    const raw = pointInPolygon([p.lon, p.lat], f.ring);
    if (buffer === 0 || raw === inside) return raw;
    return distanceToBorderMeters(p, f.ring as unknown as ReadonlyArray<readonly [number, number]>) > buffer ? raw : inside;
  };

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
      const p = options.position(ev.value);
      if (p === undefined || !Number.isFinite(p.lat) || !Number.isFinite(p.lon)) return;
      const key = options.key(ev.value);
      let states = keys.get(key);
      if (states === undefined) {
        states = fences.map(() => ({ inside: false, streak: 0, enteredAt: 0, dwelt: false }));
        keys.set(key, states);
      }
      const t = ev.time;
      for (let i = 0; i < fences.length; i++) {
        const f = fences[i] as PreparedFence;
        const s = states[i] as FenceState;
        if (side(f, p, s.inside) !== s.inside) {
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
        } else {
          s.streak = 0;
        }
        if (s.inside && !s.dwelt && t - s.enteredAt >= dwell) {
          s.dwelt = true;
          emit({ type: 'dwell', key, fence: f.id, time: t, position: p, since: s.enteredAt });
        }
      }
    },
    snapshot: () => ({
      operator: 'geofence',
      version: 1,
      settings,
      keys: [...keys].map(([k, states]) => [k, states.map((s) => [s.inside, s.streak, s.enteredAt, s.dwelt])] as const),
    }),
    restore: (state) => {
      checkSnapshot('geofence', state, settings);
      keys.clear();
      for (const [k, saved] of state.keys) {
        keys.set(
          k as K,
          saved.map((j) => {
            const [inside, streak, enteredAt, dwelt] = j as [boolean, number, number, boolean];
            return { inside, streak, enteredAt, dwelt };
          }),
        );
      }
    },
  });
}
