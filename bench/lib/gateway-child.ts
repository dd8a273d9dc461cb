/**
 * The e2e bench's gateway in its own process: `startGateway` on the bench config, so its
 * RSS (VmHWM) is its own. IPC: `ready` when started; `stats` → gateway and MQTT counters;
 * `loopReset` at the start of a measured run and `loop` at its end → the event-loop delay
 * (ms) and the gateway's own timings over the run, per batch (ms): the durable write (Kafka
 * send → acknowledgement), the replay flush before the PUBACKs, and the batch size;
 * `stop` → graceful stop, exit.
 */
import * as hdr from 'hdr-histogram-js';
import { join } from 'node:path';
import type * as Runner from '../../src/cli/gateway-runner';
import type * as Config from '../../src/config';
import { channels, type DurabilityEvent, type FramesDurableEvent, type ReleaseEvent } from '../../src/instrument';
import { serveParent } from './child-process';
import { GcTally, LoopDelay } from './loop-delay';

type Hist = ReturnType<typeof hdr.build>;
const newHist = (): Hist => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
/** p50/p99/max of a histogram of microseconds, in ms. */
const r1 = (us: number): number => Math.round(us / 100) / 10;
const ms = (h: Hist): { p50: number; p99: number; p999: number; max: number; n: number } => ({
  p50: r1(h.getValueAtPercentile(50)), p99: r1(h.getValueAtPercentile(99)), p999: r1(h.getValueAtPercentile(99.9)), max: r1(h.maxValue), n: h.totalCount,
});

/**
 * The gateway as it ships: the compiled `dist/` (what `bin/vigil.js` runs; the bench builds it
 * first), or with `src` as the second argument the TypeScript sources through tsx.
 */
function load(build: string | undefined): { startGateway: typeof Runner.startGateway; loadConfig: typeof Config.loadConfig } {
  if (build !== undefined && build !== 'src' && build !== 'dist') throw new Error(`gateway child: build must be src or dist, got ${build}`);
  const root = build === 'src' ? join(__dirname, '../../src') : join(__dirname, '../../dist/src');
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { startGateway } = require(join(root, 'cli/gateway-runner')) as typeof Runner;
  const { loadConfig } = require(join(root, 'config')) as typeof Config;
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { startGateway, loadConfig };
}

async function main(): Promise<void> {
  const { startGateway, loadConfig } = load(process.argv[3]);
  const cfg = loadConfig({ file: process.argv[2] as string, env: {} });
  const gw = await startGateway(cfg, { http: false, logStream: process.stderr });
  const loop = new LoopDelay(10);
  const gc = new GcTally();
  let write = newHist();
  let flush = newHist();
  let frames = newHist();
  const onDurable = (e: DurabilityEvent): void => {
    write.recordValue(Math.max(1, Math.round(e.writeSeconds * 1e6)));
    frames.recordValue(Math.max(1, e.frames));
  };
  const onRelease = (e: ReleaseEvent): void => flush.recordValue(Math.max(1, Math.round(e.replayFlushSeconds * 1e6)));
  // Per frame: its event time (the bench's scheduled publish time) → Kafka acknowledged its
  // batch; frames published since the last loopReset (the end of the run's warm-up) only, as
  // the bench's consumer counts them.
  let acked = newHist();
  let since = Infinity;
  const onFramesDurable = (e: FramesDurableEvent): void => {
    if (e.sink !== 'kafka') return;
    for (let i = 0; i < e.count; i++) {
      const t = e.eventTimesMs[i] as number;
      if (t >= since) acked.recordValue(Math.max(1, Math.round((e.atMs - t) * 1000)));
    }
  };
  channels.framesDurable.subscribe(onFramesDurable);
  channels.durability.subscribe(onDurable);
  channels.release.subscribe(onRelease);
  serveParent(
    {
      stats: () => ({ gateway: gw.gateway.stats(), mqtt: { ...gw.ingest.counters }, heapUsed: process.memoryUsage().heapUsed }),
      loopReset: (m) => {
        loop.reset();
        gc.reset();
        write = newHist();
        flush = newHist();
        frames = newHist();
        acked = newHist();
        // Frames published from `since` on (the parent passes the run's warm-up end).
        since = typeof m.since === 'number' ? m.since : Date.now();
        return {};
      },
      loop: () => ({
        ...loop.read(),
        gc: gc.read(),
        writeMs: ms(write), replayFlushMs: ms(flush), publishToKafkaAckMs: ms(acked),
        batchFrames: { p50: frames.getValueAtPercentile(50), p99: frames.getValueAtPercentile(99), max: frames.maxValue, batches: frames.totalCount },
      }),
    },
    () => {
      channels.durability.unsubscribe(onDurable);
      channels.framesDurable.unsubscribe(onFramesDurable);
      channels.release.unsubscribe(onRelease);
      return gw.stop();
    },
  );
  process.send?.({ type: 'ready' });
}
main().catch((err: unknown) => {
  process.stderr.write(`gateway child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
