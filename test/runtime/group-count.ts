import { filter, map } from 'rxjs';
import { aggregate, combinedLabel, count, definePipeline, keyedWindow, tumbling, type DerivedOutput, type PipelineDefinition, type PipelineReading, type PowerReading, type RepartitionedReading, type TelemetryRecord } from '../../src';

/** A two-stage test pipeline: per-group counts of power readings through the second stage. */
const GROUPS = 3;
export const groupOf = (d: string): string => `group-${Number(d.slice(4)) % GROUPS}`;

/**
 * Counts power readings per group of devices and 10 s window in its second stage: the
 * first stage re-keys every reading by group. Not idempotent on purpose: a re-keyed result
 * that reached the second stage twice would be counted twice.
 */
export function groupCount(options: { rekeyInSecondStage?: boolean } = {}): PipelineDefinition<'power'> {
  return definePipeline({
    name: 'group-count',
    sources: ['telemetry.power'],
    watermarks: { maxOutOfOrderness: 5_000 },
    build: (events$) =>
      events$.pipe(
        filter((e) => e.kind === 'record'),
        map((e): DerivedOutput => {
          const r = e.value as PipelineReading<PowerReading>;
          return { key: r.deviceId, windowStartMs: r.timeMs, windowEndMs: r.timeMs, values: { batteryPct: r.reading.batteryPct }, label: r.label, repartitionKey: groupOf(r.deviceId) };
        }),
      ),
    repartition: {
      maxOutOfOrderness: 5_000,
      build: (events$, ctx) =>
        events$.pipe(
          ctx.state(
            'counts',
            keyedWindow({
              key: (r: PipelineReading<RepartitionedReading>) => r.reading.repartitionKey,
              window: tumbling(10_000),
              allowedLateness: 60_000,
              aggregate: aggregate({ n: count<PipelineReading<RepartitionedReading>>(), label: combinedLabel<PipelineReading<RepartitionedReading>>() }),
            }),
          ),
          filter((w) => w.type !== 'early'),
          map((w): DerivedOutput => ({ key: w.key, windowStartMs: w.window.start, windowEndMs: w.window.end, revision: w.revision, values: { n: w.value.n }, ...(w.value.label === undefined ? {} : { label: w.value.label }), ...(options.rekeyInSecondStage === true ? { repartitionKey: w.key } : {}) })),
        ),
    },
  });
}

/** Readings per group and 10 s window, from the input itself. */
export function truth(records: readonly TelemetryRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    for (const reading of r.readings) {
      const t = r.eventTimeMs + reading.offsetMs;
      const start = Math.floor(t / 10_000) * 10_000;
      const k = `${groupOf(r.deviceId)}|${start}|${start + 10_000}`;
      out.set(k, (out.get(k) ?? 0) + 1);
    }
  }
  return out;
}

