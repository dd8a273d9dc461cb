import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startKafka, type KafkaService } from '../../scripts/services';
import { KafkaBus } from '../../src/bus';
import { startWorker, type RunningWorker } from '../../src/cli/worker-runner';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';
import { makeLabel, RecordCodec, type DerivedRecord, type Reading } from '../../src/codec';
import { configSchema } from '../../src/config';
import { generateStreamKey, writeKeyFile, type StreamDataKey } from '../../src/crypto';
import { until } from '../harness/until';
import { DerivedCollector } from './e2e-helpers';

const SOLDIERS = ['sol-a', 'sol-b', 'sol-c'];
const T0 = Date.UTC(2026, 10, 28, 10, 0, 0);
/** Long enough to outlast the Kafka client's own retries (about 10 s), so only a restart helps. */
const OUTAGE_MS = 15_000;

/** Vitals of the three soldiers, one reading per second of event time in [fromS, toS), sealed as a gateway would. */
async function produceVitals(brokers: string, topic: string, key: StreamDataKey, fromS: number, toS: number): Promise<void> {
  const bus = new KafkaBus({ brokers: [brokers], clientId: `input-${randomUUID().slice(0, 6)}`, logLevel: 'nothing' });
  const codec = new RecordCodec();
  try {
    await bus.admin().ensureTopics([{ topic, partitions: 3 }]);
    const producer = bus.producer();
    const msgs = [];
    for (let i = fromS; i < toS; i++) {
      for (const [j, id] of SOLDIERS.entries()) {
        const reading: Reading = { kind: 'vitals', offsetMs: 0, heartRateBpm: 70 + ((i * (j + 3)) % 41), spo2Pct: 90 + ((i + j) % 10), skinTempC: 33, posture: 'standing' };
        const sealed = codec.seal({ type: 'telemetry', deviceId: id, seq: BigInt(i + 1), eventTimeMs: T0 + i * 1000, ingestTimeMs: T0 + i * 1000, gatewayId: 'gw-test', kind: 'vitals', label: makeLabel('RESTRICTED', ['GBR']), readings: [reading] }, key);
        msgs.push({ key: id, value: Buffer.from(sealed.value), headers: { 'vigil-key-id': sealed.keyId } });
      }
    }
    await producer.send(topic, msgs);
    await producer.close();
  } finally {
    await bus.close();
  }
}

// Kafka goes away for longer than its client retries and comes back: a pipeline worker must
// resume from its last checkpoint on its own, not sit in the process as a stopped pipeline
// that nobody restarts (the derived streams analysts watch would stay silent for ever).
describe('pipeline worker through a Kafka outage (dedicated broker, stopped and restarted)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-wout-'));
  let kafka: KafkaService | undefined;
  let worker: RunningWorker | undefined;
  let out: DerivedCollector | undefined;
  const logLines: string[] = [];

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
      worker: { pipelines: ['vitals'], telemetryKeyFile: join(dir, 'telemetry.key.json'), keyDir, checkpointIntervalMs: 300 },
      http: { port: 0 },
    });
    const logStream = new Writable({
      write(chunk: Buffer, _e, done): void {
        logLines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
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
