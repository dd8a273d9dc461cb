import { filter, map, merge, share, type Observable } from 'rxjs';
import {
  aggregate,
  combinedLabel,
  count,
  definePipeline,
  frameRanges,
  keyedWindow,
  max,
  min,
  sum,
  thresholdDetector,
  tumbling,
  type DerivedOutput,
  type PipelineDefinition,
  type PipelineReading,
  type VitalsReading,
} from '../src';
import { DEFAULT_CEILING, DEFAULT_LATENESS_MS, keepRecords, pointEvent, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

/** A casualty condition: a vitals field past a level for at least `minDuration` of event time. */
export interface VitalsCondition {
  /** Name in result keys and values, e.g. `spo2-low`. */
  readonly id: string;
  readonly field: 'heartRateBpm' | 'spo2Pct';
  /** `above`: raised when the value exceeds `raise`; `below`: when it falls under it. */
  readonly direction: 'above' | 'below';
  /** Level that raises the alert, in the field's unit. */
  readonly raise: number;
  /** Level that clears it; between the two the alert keeps its state (hysteresis). */
  readonly clear: number;
}

/**
 * Default casualty conditions, adult field values: sustained tachycardia, bradycardia
 * (or a detached sensor reading 0, which deserves a look just the same) and hypoxaemia.
 * The bands are wide enough that a soldier hovering at a level does not flap the alert.
 */
export const DEFAULT_VITALS_CONDITIONS: readonly VitalsCondition[] = Object.freeze([
  { id: 'heart-rate-high', field: 'heartRateBpm', direction: 'above', raise: 150, clear: 130 },
  { id: 'heart-rate-low', field: 'heartRateBpm', direction: 'below', raise: 40, clear: 50 },
  { id: 'spo2-low', field: 'spo2Pct', direction: 'below', raise: 90, clear: 94 },
]);

export interface VitalsPipelineOptions extends CommonPipelineOptions {
  /** Tumbling window of the statistics, ms. Default 10,000. */
  readonly windowMs?: number;
  /** Default `DEFAULT_VITALS_CONDITIONS`. Changing them changes the checkpointed state: run it under a new name. */
  readonly conditions?: readonly VitalsCondition[];
  /** Event-time ms a value must stay past `raise` before the alert is raised. Default 15,000. */
  readonly minDurationMs?: number;
  /** Event-time ms a value must stay past `clear` before the alert clears. Default 15,000. */
  readonly clearDurationMs?: number;
}

type Vitals = PipelineReading<VitalsReading>;

/**
 * `vitals` — casualty indication per soldier, from `telemetry.vitals`.
 *
 * What an analyst of `derived.vitals` sees:
 *
 * - **Statistics**, key `<deviceId>`, window `[start, start + 10 s)`:
 *   `readings` (vitals readings in the window), `heartRateSamples`, `heartRateMeanBpm`,
 *   `heartRateMaxBpm`, `spo2Samples`, `spo2MinPct`. A reading may omit either measurement
 *   (`null` on the wire); only present ones count, and a window with none of a measurement
 *   shows `null` for its mean/max/min. Label = combination of the window's records;
 *   provenance = its frames. Published when the watermark passes the window's end; data up
 *   to 6 h late (a drained DDIL backlog) publishes `revision` 1, 2, … of the same window
 *   under the same Kafka key, which replaces the earlier value.
 * - **Alerts**, key `<deviceId>/<condition>/<raised|cleared>`, a point window at the time
 *   of the transition: `condition`, `state` (`raised`/`cleared`), `alarm` (true while
 *   raised), the field's value that completed the run (`heartRateBpm` or `spo2Pct`) and
 *   `sinceMs` (event time the run past the level began). Raised once the value has stayed
 *   past `raise` for `minDurationMs`, cleared once it has stayed past `clear` for
 *   `clearDurationMs`; in between nothing is published, so no flapping. Alerts judge
 *   readings in arrival order and are never revised. Their label is the partition's
 *   running label (never less restrictive than the truth).
 */
export function vitalsPipeline(options: VitalsPipelineOptions = {}): PipelineDefinition<'vitals'> {
  const windowMs = options.windowMs ?? 10_000;
  const conditions = options.conditions ?? DEFAULT_VITALS_CONDITIONS;
  const minDuration = options.minDurationMs ?? 15_000;
  const clearDuration = options.clearDurationMs ?? minDuration;
  return definePipeline({
    name: 'vitals',
    sources: ['telemetry.vitals'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) => {
      const shared$ = events$.pipe(share());
      // State is named: the window's store is `stats`, each condition's detector is named after the condition.
      const stats$ = shared$.pipe(
        ctx.state(
          'stats',
          keyedWindow({
            key: (r: Vitals) => r.deviceId,
            window: tumbling(windowMs),
            allowedLateness: DEFAULT_LATENESS_MS,
            aggregate: aggregate({
              n: count<Vitals>(),
              hrN: sum((r: Vitals) => (r.reading.heartRateBpm === null ? 0 : 1)),
              hrSum: sum((r: Vitals) => r.reading.heartRateBpm ?? 0),
              // Absent measurements fold to the identity of max/min: an all-null window stays ±∞, published as null.
              hrMax: max((r: Vitals) => r.reading.heartRateBpm ?? -Infinity),
              spo2N: sum((r: Vitals) => (r.reading.spo2Pct === null ? 0 : 1)),
              spo2Min: min((r: Vitals) => r.reading.spo2Pct ?? Infinity),
              label: combinedLabel<Vitals>(),
              frames: frameRanges<Vitals>(),
            }),
          }),
        ),
        filter((w) => w.type !== 'early'),
        map(
          (w): DerivedOutput => ({
            key: w.key,
            windowStartMs: w.window.start,
            windowEndMs: w.window.end,
            revision: w.revision,
            values: {
              readings: w.value.n,
              heartRateSamples: w.value.hrN,
              heartRateMeanBpm: w.value.hrN === 0 ? null : w.value.hrSum / w.value.hrN,
              heartRateMaxBpm: w.value.hrMax,
              spo2Samples: w.value.spo2N,
              spo2MinPct: w.value.spo2Min,
            },
            ...(w.value.label === undefined ? {} : { label: w.value.label }),
            provenance: w.value.frames,
          }),
        ),
      );
      const alerts: Observable<DerivedOutput>[] = conditions.map((c) =>
        shared$.pipe(
          keepRecords((r: Vitals) => r.reading[c.field] !== null),
          ctx.state(
            c.id,
            thresholdDetector({
              key: (r: Vitals) => r.deviceId,
              value: (r: Vitals) => r.reading[c.field] as number,
              direction: c.direction,
              raise: c.raise,
              clear: c.clear,
              minDuration,
              clearDuration,
            }),
          ),
          map((e) =>
            pointEvent(`${e.key}/${c.id}/${e.type}`, e.time, {
              condition: c.id,
              state: e.type,
              alarm: e.type === 'raised',
              [c.field]: e.value,
              sinceMs: e.since,
            }),
          ),
        ),
      );
      return merge(stats$, ...alerts);
    },
  });
}

/** The `vitals` pipeline with its default settings. */
export const vitals = vitalsPipeline();
