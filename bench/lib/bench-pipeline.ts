import { filter, map } from 'rxjs';
import { aggregate, combinedLabel, count, definePipeline, frameRanges, keyedWindow, mean, tumbling } from '../../src';

/** Out-of-orderness bound of the bench pipeline: part of the window end → derived latency. */
export const BENCH_PIPELINE_OOO_MS = 200;

/**
 * The e2e bench's pipeline: per device, 1 s tumbling count and mean battery of
 * `telemetry.power`. Small on purpose, so the bench measures the runtime and the bus, not
 * one pipeline's arithmetic; the watermark lags event time by 200 ms (frames of one
 * device arrive in order, and devices on one partition are interleaved by publish time).
 */
export const benchPowerPipeline = definePipeline({
  name: 'bench-power',
  sources: ['telemetry.power'],
  watermarks: { maxOutOfOrderness: BENCH_PIPELINE_OOO_MS },
  build: (events$, ctx) =>
    events$.pipe(
      ctx.state('stats', 
        keyedWindow({
          key: (r) => r.deviceId,
          window: tumbling(1000),
          aggregate: aggregate({ n: count(), battery: mean((r) => r.reading.batteryPct ?? 0), label: combinedLabel(), frames: frameRanges() }),
        }),
      ),
      filter((w) => w.type !== 'early'),
      map((w) => ({
        key: String(w.key), windowStartMs: w.window.start, windowEndMs: w.window.end, revision: w.revision,
        values: { n: w.value.n, batteryPct: w.value.battery }, label: w.value.label, provenance: w.value.frames,
      })),
    ),
});
