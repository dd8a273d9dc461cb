import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka, type KafkaService } from '../../scripts/services';
import { startWorker, type RunningWorker } from '../../src/cli/worker-runner';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';
import type { DerivedRecord } from '../../src/codec';
import { configSchema } from '../../src/config';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { captureLog } from '../harness/log-lines';
import { until } from '../harness/until';
import { DerivedCollector, produceVitals, VITALS_T0 } from './e2e-helpers';

/** Long enough to outlast the Kafka client's own retries (about 10 s), so only a restart helps. */
const OUTAGE_MS = 15_000;
const T0 = VITALS_T0;

// Kafka goes away for longer than its client retries and comes back: a pipeline worker must
// resume from its last checkpoint on its own, not sit in the process as a stopped pipeline
// that nobody restarts (the derived streams analysts watch would stay silent for ever).
describe('pipeline worker through a Kafka outage (dedicated broker, stopped and restarted)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-wout-'));
  let kafka: KafkaService | undefined;
  let worker: RunningWorker | undefined;
  let out: DerivedCollector | undefined;
  const { stream: logStream, lines: logLines } = captureLog();

  afterAll(async () => {
    await out?.close();
    await worker?.stop();
    await kafka?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts the failed pipeline when Kafka returns and publishes the windows after the outage', async () => {
    kafka = await startKafka();
    const telemetry = generateStreamKey('telemetry-outage');
    const derived = generateStreamKey('derived.vitals-outage');
    const keyDir = join(dir, 'keys');
    mkdirSync(keyDir);
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key: telemetry });
    await writeKeyFile(join(keyDir, 'derived.vitals.key.json'), { type: 'stream', key: derived });
    const prefix = `wo${randomUUID().slice(0, 6)}.`;
    await produceVitals(kafka.brokers, `${prefix}telemetry.vitals`, telemetry, 0, 120);

    const cfg = configSchema.parse({
      log: { level: 'info' },
      kafka: { brokers: [kafka.brokers], clientId: 'w-outage', partitions: 3, topicPrefix: prefix, sendTimeoutMs: 3000 },
      worker: { pipelines: ['vitals'], telemetryKeyFile: join(dir, 'telemetry.key.json'), keyDir, checkpointIntervalMs: 300, stateDir: join(dir, 'state') },
      http: { port: 0 },
    });
    worker = await startWorker(cfg, pipelineCatalogue(), { logStream });
    const w = worker;
    out = new DerivedCollector(kafka.brokers, `${prefix}derived.vitals`, derived);
    await out.start();
    /** Vitals windows (not alerts) ending by `endS` s of event time. */
    const windows = (endS: number): DerivedRecord[] => [...(out as DerivedCollector).latest().values()].filter((r) => 'readings' in r.values && r.windowEndMs <= T0 + endS * 1000);
    const windowsUpTo = (endS: number): number => windows(endS).length;
    await until(() => windowsUpTo(110) >= 3 * 11, 60_000, 'windows before the outage', 100);

    // The outage: longer than the clients' retries.
    await out.close();
    out = undefined;
    const reuse = { dir: kafka.dir, port: kafka.port, controllerPort: kafka.controllerPort };
    await kafka.stop({ keepData: true });
    kafka = undefined;
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const notReady = (await fetch(`${w.http.url}/readyz`)).status;
    kafka = await startKafka({ reuse });

    await produceVitals(kafka.brokers, `${prefix}telemetry.vitals`, telemetry, 120, 240);
    out = new DerivedCollector(kafka.brokers, `${prefix}derived.vitals`, derived);
    await out.start();
    try {
      await until(() => windowsUpTo(230) >= 3 * 23, 90_000, 'windows after the outage', 200);
      await until(async () => (await fetch(`${w.http.url}/readyz`)).status === 200, 30_000, 'ready again', 200);
    } catch (err) {
      throw new Error(`${(err as Error).message}; pipeline state ${w.workers.get('vitals')?.stats().state}; worker log:\n${logLines.slice(-40).join('\n')}`, { cause: err });
    }
    expect(notReady).toBe(503);
    const metrics = await (await fetch(`${w.http.url}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_pipeline_failures_total\{pipeline="vitals",reason="VIGIL_E_BUS_UNAVAILABLE",action="restart"[^}]*\} [1-9]/m);
    // Every window of the whole run, before and after, each soldier once per window.
    const all = windows(230);
    expect(new Set(all.map((r) => `${r.key}|${r.windowStartMs}`)).size).toBe(all.length);
    expect(all).toHaveLength(3 * 23);
    expect(all.filter((r) => r.values.readings !== 10)).toEqual([]);
  }, 300_000);
});
