import { map, merge, share } from 'rxjs';
import { definePipeline, silenceDetector, thresholdDetector, type PipelineDefinition, type PipelineReading, type PowerReading } from '../src';
import { DEFAULT_CEILING, keepRecords, pointEvent, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

export interface SensorHealthPipelineOptions extends CommonPipelineOptions {
  /**
   * Event-time ms without a power reading after which a device is reported silent.
   * Default 90,000: every simulated device class reports power at least every 30 s, so
   * this is three missed reports.
   */
  readonly silentAfterMs?: number;
  /** Battery state of charge (%) below which `battery-low` is raised. Default 20. */
  readonly batteryLowPct?: number;
  /** State of charge (%) above which it clears again; the band stops a battery hovering at the level from flapping. Default 25. */
  readonly batteryClearPct?: number;
}

type Power = PipelineReading<PowerReading>;

/**
 * `sensor-health` — device silence and low battery, from `telemetry.power`.
 *
 * Every device class sends power readings as a heartbeat, so their absence is the
 * device's silence. What an analyst of `derived.sensor-health` sees:
 *
 * - **Silence**, key `<deviceId>/silence/<silent|resumed>`, a point window: `event`
 *   (`silent`/`resumed`), `silent` (true while silent), `lastSeenMs` (event time of the
 *   device's last power reading before the gap) and `gapS` (seconds since it: the
 *   threshold for `silent`, the whole gap for `resumed`). `silent` is judged in event time
 *   when the partition's watermark passes last seen + 90 s, so it needs other devices of
 *   the same partition to keep reporting; a partition that falls quiet as a whole reports
 *   nothing until data arrives again (the runtime has no processing-time idleness, by
 *   design: results must not depend on when a worker ran).
 * - **Battery**, key `<deviceId>/battery-low/<raised|cleared>`, a point window:
 *   `condition` (`battery-low`), `state`, `alarm`, `batteryPct` and `sinceMs`. Raised
 *   below 20 %, cleared above 25 %; readings without a state of charge are ignored.
 *
 * Not here: the rejected-frame rate per device from `telemetry.rejected`. Those records are
 * plain JSON written by gateways (no seal, no classification label, no sequence number,
 * gateway wall-clock time, and an unauthenticated claimed device id), while the runtime
 * reads only sealed `telemetry.<kind>` records and needs a label for every result. Reading
 * them needs a runtime source kind with its own label, dedupe and event-time rules; see
 * the report of issue 6.
 *
 * Events judge readings in arrival order and are never revised. Label: the partition's
 * running label (never less restrictive than the truth).
 */
export function sensorHealthPipeline(options: SensorHealthPipelineOptions = {}): PipelineDefinition<'power'> {
  const after = options.silentAfterMs ?? 90_000;
  const low = options.batteryLowPct ?? 20;
  const clear = options.batteryClearPct ?? 25;
  return definePipeline({
    name: 'sensor-health',
    sources: ['telemetry.power'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) => {
      const shared$ = events$.pipe(share());
      // Registered in a fixed order (silence, battery): checkpoints restore by position.
      const silence$ = shared$.pipe(
        ctx.stateful(silenceDetector({ key: (r: Power) => r.deviceId, after })),
        map((e) =>
          pointEvent(`${e.key}/silence/${e.type}`, e.time, {
            event: e.type,
            silent: e.type === 'silent',
            lastSeenMs: e.lastSeen,
            gapS: (e.time - e.lastSeen) / 1000,
          }),
        ),
      );
      const battery$ = shared$.pipe(
        keepRecords((r: Power) => r.reading.batteryPct !== null),
        ctx.stateful(thresholdDetector({ key: (r: Power) => r.deviceId, value: (r: Power) => r.reading.batteryPct as number, direction: 'below', raise: low, clear })),
        map((e) =>
          pointEvent(`${e.key}/battery-low/${e.type}`, e.time, {
            condition: 'battery-low',
            state: e.type,
            alarm: e.type === 'raised',
            batteryPct: e.value,
            sinceMs: e.since,
          }),
        ),
      );
      return merge(silence$, battery$);
    },
  });
}

/** The `sensor-health` pipeline with its default settings. */
export const sensorHealth = sensorHealthPipeline();
