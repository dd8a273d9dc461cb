/**
 * The e2e bench's pipeline worker in its own process: `startWorker` with the bench pipeline
 * (per-device 1 s tumbling count/mean of telemetry.power). IPC: `ready`, `stats`, `stop`.
 */
import { startWorker } from '../../src/cli/worker-runner';
import { loadConfig } from '../../src/config';
import type { PipelineDefinition } from '../../src/runtime';
import { benchPowerPipeline } from './bench-pipeline';
import { serveParent } from './child-process';

async function main(): Promise<void> {
  const cfg = loadConfig({ file: process.argv[2] as string, env: {} });
  const w = await startWorker(cfg, new Map([[benchPowerPipeline.name, benchPowerPipeline as unknown as PipelineDefinition]]), { http: false, logStream: process.stderr });
  serveParent({ stats: () => ({ workers: Object.fromEntries([...w.workers].map(([n, x]) => [n, x.stats()])) }) }, () => w.stop());
  process.send?.({ type: 'ready' });
}
main().catch((err: unknown) => {
  process.stderr.write(`worker child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
