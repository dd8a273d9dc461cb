/**
 * The pipelines of the `worker` bench: `vitals` (pipelines/vitals.ts, the real one) and
 * its floor, a minimal pipeline over the same topic.
 *
 * The minimal pipeline is one 10 s tumbling per-device count / mean / max of heart rate
 * and nothing else: no alerts, no `combinedLabel`, no `frameRanges` (the runtime does not
 * need them: a result without a label gets its partition's running label, and provenance
 * defaults to none). Everything the runtime itself does is the same as for `vitals`: the
 * same source, the same watermark bound (`DEFAULT_MAX_OUT_OF_ORDERNESS_MS`), the same 6 h
 * allowed lateness (`DEFAULT_LATENESS_MS`) and the same ceiling, so the two runs differ
 * only in the operator work.
 */
import { filter, map } from 'rxjs';
import { DEFAULT_CEILING, DEFAULT_LATENESS_MS, DEFAULT_MAX_OUT_OF_ORDERNESS_MS, vitals } from '../../pipelines';
import { aggregate, count, definePipeline, keyedWindow, max, mean, tumbling, type JsonValue, type PipelineContext, type PipelineDefinition, type StatefulOperator } from '../../src';

type Registrar = {
  state?: <I, O, S extends JsonValue>(name: string, operator: StatefulOperator<I, O, S>) => StatefulOperator<I, O, S>;
  stateful?: <I, O, S extends JsonValue>(operator: StatefulOperator<I, O, S>) => StatefulOperator<I, O, S>;
};

/**
 * Registers a stateful operator with whichever API the runtime has: `ctx.state(name, op)`
 * (named stores, issue 11) or the older `ctx.stateful(op)` (by position), so the bench
 * measures the parent commit and the rewrite alike.
 */
export function registerState<I, O, S extends JsonValue>(ctx: PipelineContext, name: string, operator: StatefulOperator<I, O, S>): StatefulOperator<I, O, S> {
  const c = ctx as unknown as Registrar;
  if (typeof c.state === 'function') return c.state(name, operator);
  if (typeof c.stateful === 'function') return c.stateful(operator);
  throw new Error('the pipeline context has neither state() nor stateful()');
}

/** Name of the minimal pipeline: its derived topic and changelog are its own. */
export const MINIMAL_PIPELINE = 'bench-vitals-minimal';

/** One 10 s tumbling per-device count / mean / max of heart rate, 6 h allowed lateness. */
export const minimalVitalsPipeline = definePipeline({
  name: MINIMAL_PIPELINE,
  sources: ['telemetry.vitals'],
  ceiling: DEFAULT_CEILING,
  watermarks: { maxOutOfOrderness: DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
  build: (events$, ctx) =>
    events$.pipe(
      registerState(
        ctx,
        'stats',
        keyedWindow({
          key: (r) => r.deviceId,
          window: tumbling(10_000),
          allowedLateness: DEFAULT_LATENESS_MS,
          aggregate: aggregate({
            n: count(),
            hrMean: mean((r) => r.reading.heartRateBpm ?? 0),
            hrMax: max((r) => r.reading.heartRateBpm ?? -Infinity),
          }),
        }),
      ),
      filter((w) => w.type !== 'early'),
      map((w) => ({
        key: w.key,
        windowStartMs: w.window.start,
        windowEndMs: w.window.end,
        revision: w.revision,
        values: { readings: w.value.n, heartRateMeanBpm: w.value.hrMean, heartRateMaxBpm: w.value.hrMax },
      })),
    ),
});

/** The bench's pipelines by the short name the bench uses. */
export const WORKER_BENCH_PIPELINES: Readonly<Record<'vitals' | 'minimal', PipelineDefinition>> = {
  vitals: vitals as unknown as PipelineDefinition,
  minimal: minimalVitalsPipeline as unknown as PipelineDefinition,
};

export type WorkerBenchPipeline = keyof typeof WORKER_BENCH_PIPELINES;
