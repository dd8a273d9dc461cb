import { z } from 'zod';
import { VigilError } from '../errors';

/** The kinds of simulated device. */
export const ARCHETYPES = ['vehicle', 'soldier', 'ugs', 'uav'] as const;
export type Archetype = (typeof ARCHETYPES)[number];

const level = z.string().regex(/^[a-z0-9-]{1,32}$/, { message: 'expected 1-32 characters of [a-z0-9-] (an MQTT topic level)' });
const count = z.number().int().min(0).max(100_000);
const ms = z.number().int().min(0).max(7 * 24 * 3600 * 1000);
const positiveMs = z.number().int().min(1).max(7 * 24 * 3600 * 1000);

/** A scenario accepts `true`/`false` as shorthand for `{ enabled }` with default timings. */
const toggle = <T extends z.ZodRawShape>(shape: T) =>
  z.preprocess((v) => (typeof v === 'boolean' ? { enabled: v } : v), z.strictObject({ enabled: z.boolean().default(true), ...shape })).prefault({});

/**
 * Scenario hooks: conditions the demo pipelines and detector tests look for. Times are
 * simulated ms after the fleet's start. Defaults put every event inside the first five
 * minutes, so a demo at `--speed 1` shows all of them.
 */
const scenariosSchema = z
  .strictObject({
    /** The first vehicle's engine temperature ramps above `thresholdC` (a threshold detector's trigger), holds, then cools. */
    overheat: toggle({
      atMs: ms.default(60_000),
      rampMs: positiveMs.default(60_000),
      holdMs: ms.default(60_000),
      peakC: z.number().min(100).max(200).default(125),
      thresholdC: z.number().min(90).max(200).default(110),
    }),
    /** The first soldier's heart rate jumps and SpO2 dips for a while (an anomaly detector's trigger). */
    vitalsSpike: toggle({ atMs: ms.default(90_000), durationMs: positiveMs.default(45_000) }),
    /** The first patrol walks into a named square `halfSizeM` around its objective about `enterAfterMs` after start. */
    geofence: toggle({
      name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/).default('objective-alpha'),
      enterAfterMs: positiveMs.default(120_000),
      halfSizeM: z.number().min(20).max(5_000).default(150),
    }),
    /** The first UGS (else the first UAV, soldier or vehicle) sends nothing for `durationMs` (a silence detector's trigger). */
    silence: toggle({ atMs: ms.default(45_000), durationMs: positiveMs.default(120_000) }),
    /** The second vehicle (the first when alone) loses its GPS fix: no position readings for `durationMs`. */
    gpsDropout: toggle({ atMs: ms.default(150_000), durationMs: positiveMs.default(90_000) }),
  })
  .prefault({});

/** Everything that defines a simulated fleet; saved as `fleet.json` by provisioning. */
export const fleetConfigSchema = z.strictObject({
  /** PRNG seed: the same seed (and start time) gives the same readings. */
  seed: z.number().int().min(0).max(0xffffffff).default(1),
  vehicles: count.default(4),
  soldiers: count.default(8),
  ugs: count.default(4),
  uavs: count.default(1),
  /** Centre of the area of operations (WGS 84 degrees); routes and sensors lie within ~5 km. */
  centre: z.strictObject({ lat: z.number().min(-80).max(80), lon: z.number().min(-180).max(180) }).default({ lat: 51.2, lon: 9.5 }),
  theatre: level.default('north'),
  unit: level.default('sim-1'),
  /** Model steps per device per second: each step emits the device's high-rate readings (position, vitals…). */
  rateHz: z.number().positive().max(1000).default(1),
  scenarios: scenariosSchema,
});

/** A fleet configuration with every default filled in. */
export type FleetConfig = z.output<typeof fleetConfigSchema>;
/** What callers may pass: any field may be left out (defaults above). */
export type FleetConfigInput = z.input<typeof fleetConfigSchema>;
export type ScenarioConfig = FleetConfig['scenarios'];

/**
 * Validates a fleet configuration once and fills in defaults.
 *
 * @throws VigilError `VIGIL_E_CONFIG_INVALID` naming the key, the value and what is allowed.
 */
export function resolveFleetConfig(input: FleetConfigInput = {}, source = 'fleet config'): FleetConfig {
  const r = fleetConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0] as z.core.$ZodIssue;
  const key = issue.path.join('.') || '(top level)';
  let value: unknown = input;
  for (const p of issue.path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[p as PropertyKey] : undefined;
  throw new VigilError('VIGIL_E_CONFIG_INVALID', `${source}: ${key}: ${issue.message} (got ${JSON.stringify(value) ?? 'nothing'})`, { details: { key } });
}
