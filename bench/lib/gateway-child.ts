/**
 * The e2e bench's gateway in its own process: `startGateway` on the bench config, so its
 * RSS (VmHWM) is its own. IPC: `ready` when started; `stats` → gateway and MQTT counters;
 * `stop` → graceful stop, exit.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startGateway } from '../../src/cli/gateway-runner';
import { loadConfig } from '../../src/config';
import { serveParent } from './child-process';

async function main(): Promise<void> {
  const cfg = loadConfig({ file: process.argv[2] as string, env: {} });
  const gw = await startGateway(cfg, { http: false, logStream: process.stderr });
  // Event-loop delay over a measured run: `loopReset` at its start, `loop` at its end (ms).
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  serveParent(
    {
      stats: () => ({ gateway: gw.gateway.stats(), mqtt: { ...gw.ingest.counters }, heapUsed: process.memoryUsage().heapUsed }),
      loopReset: () => (loop.reset(), {}),
      loop: () => ({ p50Ms: loop.percentile(50) / 1e6, p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 }),
    },
    () => gw.stop(),
  );
  process.send?.({ type: 'ready' });
}
main().catch((err: unknown) => {
  process.stderr.write(`gateway child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
