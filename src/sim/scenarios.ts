import type { TimeWindow } from './device-model';

/**
 * The scenario events of a built fleet, with their targets and absolute simulated times,
 * so that a demo can configure its detectors and a test can check their triggers without
 * repeating the fleet's layout rules. An absent entry is disabled (by configuration, or
 * because the fleet has no device of the kind it needs).
 */
export interface ResolvedScenarios {
  /** Engine coolant of `deviceId` rises above `thresholdC` to `peakC`, then cools after `untilMs`. */
  readonly overheat?: TimeWindow & {
    readonly deviceId: string;
    readonly thresholdC: number;
    readonly peakC: number;
    /** When the peak is first reached. */
    readonly peakAtMs: number;
  };
  /** Heart rate ~172 bpm and SpO2 85–89 % for `deviceId` inside the window. */
  readonly vitalsSpike?: TimeWindow & { readonly deviceId: string };
  /** The patrol `deviceIds` walks into the polygon `name` around `expectedEnterMs`. */
  readonly geofence?: {
    readonly name: string;
    /** `[lon, lat]` vertices, GeoJSON order, closed (first vertex repeated), as geofence detectors take them. */
    readonly polygon: ReadonlyArray<readonly [number, number]>;
    readonly deviceIds: readonly string[];
    /** Nominal time the patrol's lead crosses the border (its speed varies ±20 %). */
    readonly expectedEnterMs: number;
  };
  /** `deviceId` sends nothing inside the window. */
  readonly silence?: TimeWindow & { readonly deviceId: string };
  /** `deviceId` sends no position readings inside the window (other readings continue). */
  readonly gpsDropout?: TimeWindow & { readonly deviceId: string };
}
