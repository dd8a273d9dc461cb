import { map, merge, share } from 'rxjs';
import { anomalyDetector, definePipeline, thresholdDetector, type PipelineDefinition, type PipelineReading, type VehicleReading } from '../src';
import { DEFAULT_CEILING, keepRecords, pointEvent, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

/** How one vehicle signal is judged against its own EWMA baseline. */
export interface AnomalySignal {
  /** Weight of the newest value in the baseline, (0, 1]. */
  readonly alpha: number;
  /** Standard deviations from the baseline that make a spike or dip. */
  readonly sensitivity: number;
  /** Readings a vehicle must have sent before this signal is judged. */
  readonly warmup: number;
  /** Floor of the baseline's standard deviation, in the signal's unit: a steady signal must not alarm on sensor quantisation. */
  readonly minStdDev: number;
}

export interface VehicleAnomalyPipelineOptions extends CommonPipelineOptions {
  /** Default: alpha 0.05, sensitivity 4, warmup 30, floor 0.5 °C. */
  readonly engineTempC?: AnomalySignal;
  /** Default: alpha 0.05, sensitivity 5, warmup 30, floor 100 rpm. */
  readonly rpm?: AnomalySignal;
  /**
   * Sustained over-temperature, which a baseline follows and so never calls a spike:
   * raised once above `raiseC` for `minDurationMs` of event time, cleared once below
   * `clearC` as long. Default 110 °C / 100 °C / 10 s (a diesel's coolant runs at 85–95 °C).
   */
  readonly overheat?: { readonly raiseC: number; readonly clearC: number; readonly minDurationMs: number };
}

type Vehicle = PipelineReading<VehicleReading>;

/** Signals, in the order their detectors are registered (checkpoints restore by position), with their value names. */
const SIGNALS = [
  { field: 'engineTempC', unit: 'C', defaults: { alpha: 0.05, sensitivity: 4, warmup: 30, minStdDev: 0.5 } },
  { field: 'rpm', unit: 'Rpm', defaults: { alpha: 0.05, sensitivity: 5, warmup: 30, minStdDev: 100 } },
] as const;

/**
 * `vehicle-anomaly` — spike-and-dip detection on engine coolant temperature and engine
 * speed per vehicle, from `telemetry.vehicle`.
 *
 * Each vehicle has its own exponentially weighted baseline (mean and standard deviation)
 * per signal; every reading more than `sensitivity` standard deviations away from it is
 * reported, then joins the baseline, so a lasting level shift stops being reported once
 * the baseline has caught up. What an analyst of `derived.vehicle-anomaly` sees: one
 * point event per anomalous reading, key `<deviceId>/<engineTempC|rpm>/<spike|dip>`, with
 * `signal`, `event` (`spike`/`dip`), the reading's value (`engineTempC` in °C or `rpm`),
 * the baseline before it (`baselineMeanC`/`baselineStdDevC`, or
 * `baselineMeanRpm`/`baselineStdDevRpm`) and `zScore`. A run of anomalous readings (an
 * sudden overheat) gives one event per reading until the baseline adapts. A slow climb is
 * not a spike; it is caught by the **overheat** threshold instead: key
 * `<deviceId>/overheat/<raised|cleared>`, values `condition` (`overheat`), `state`,
 * `alarm`, `engineTempC` and `sinceMs` — raised once the engine has been above 110 °C for
 * 10 s of event time, cleared once it has been back below 100 °C as long. Engine speed
 * follows the driver: a halt or a hard acceleration is a genuine step and can show as a dip
 * or a spike; read rpm events with the vehicle's speed. Readings are judged in arrival
 * order; events are never revised. Label: the partition's running label.
 */
export function vehicleAnomalyPipeline(options: VehicleAnomalyPipelineOptions = {}): PipelineDefinition<'vehicle'> {
  return definePipeline({
    name: 'vehicle-anomaly',
    sources: ['telemetry.vehicle'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) => {
      const shared$ = events$.pipe(share());
      const perSignal = SIGNALS.map(({ field, unit, defaults }) => {
        const s = options[field] ?? defaults;
        return shared$.pipe(
          keepRecords((r: Vehicle) => r.reading[field] !== null),
          ctx.state(
            `anomaly-${field}`,
            anomalyDetector({
              key: (r: Vehicle) => r.deviceId,
              value: (r: Vehicle) => r.reading[field] as number,
              baseline: { kind: 'ewma', alpha: s.alpha },
              sensitivity: s.sensitivity,
              warmup: s.warmup,
              minStdDev: s.minStdDev,
            }),
          ),
          map((e) =>
            pointEvent(`${e.key}/${field}/${e.type}`, e.time, {
              signal: field,
              event: e.type,
              [field]: e.value,
              [`baselineMean${unit}`]: e.mean,
              [`baselineStdDev${unit}`]: e.stdDev,
              zScore: e.score,
            }),
          ),
        );
      });
      const o = options.overheat ?? { raiseC: 110, clearC: 100, minDurationMs: 10_000 };
      const overheat$ = shared$.pipe(
        keepRecords((r: Vehicle) => r.reading.engineTempC !== null),
        ctx.state(
          'overheat',
          thresholdDetector({
            key: (r: Vehicle) => r.deviceId,
            value: (r: Vehicle) => r.reading.engineTempC as number,
            direction: 'above',
            raise: o.raiseC,
            clear: o.clearC,
            minDuration: o.minDurationMs,
            clearDuration: o.minDurationMs,
          }),
        ),
        map((e) => pointEvent(`${e.key}/overheat/${e.type}`, e.time, { condition: 'overheat', state: e.type, alarm: e.type === 'raised', engineTempC: e.value, sinceMs: e.since })),
      );
      return merge(...perSignal, overheat$);
    },
  });
}

/** The `vehicle-anomaly` pipeline with its default settings. */
export const vehicleAnomaly = vehicleAnomalyPipeline();
