import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configSchema } from '../../src/config';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { createFleet, provisionFleet } from '../../src/sim';
import { startGateway, type RunningGateway } from '../../src/cli/gateway-runner';
import { DerivedCollector, exited, spawnVigil } from './e2e-helpers';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
const mqttUrl = process.env.VIGIL_MQTT_URL as string;
const WINDOW = 10_000;

interface LoggedReading {
  deviceId: string;
  atMs: number;
  reading: { kind: string; heartRateBpm?: number | null; spo2Pct?: number | null };
}

// Issue 6's end-to-end test: `vigil simulate` → Mosquitto → gateway → Kafka → two pipeline
// workers (separate processes, one consumer group) → derived.vitals; every final window
// equals a reference computed independently from the simulator's own log of what it sent.
describe('simulate → gateway → Kafka → two workers → derived stream (real brokers)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('produces derived windows equal to a reference computed from the simulator log', async () => {
    const run = randomUUID().slice(0, 6);
    const prefix = `e2e${run}.`;
    const theatre = `e2e${run}`;
    const provisioned = await provisionFleet({
      dir: join(dir, 'fleet'),
      fleet: createFleet({ seed: 5, vehicles: 0, soldiers: 8, ugs: 0, uavs: 0, theatre, unit: 'u1', rateHz: 2 }, { startMs: Date.now() }),
      ingestKeyId: 'e2e-ingest',
    });
    mkdirSync(join(dir, 'keys'), { recursive: true });
    const telemetryKeyFile = join(dir, 'keys', 'telemetry.key.json');
    await writeKeyFile(telemetryKeyFile, { type: 'stream', key: generateStreamKey('telemetry-e2e') });
    const derivedKey = generateStreamKey('derived.vitals-e2e');
    await writeKeyFile(join(dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: derivedKey });
    const common = {
      log: { level: 'info' },
      mqtt: { url: mqttUrl, clientId: `e2e-${run}` },
      kafka: { brokers: brokers.split(','), clientId: `e2e-${run}`, partitions: 4, topicPrefix: prefix, sendTimeoutMs: 5000 },
      gateway: {
        id: `gw-${run}`, group: `g-${run}`, subscription: `vigil/v1/${theatre}/+/+/telemetry`, registryFile: provisioned.registryFile,
        ingestKeyFile: provisioned.ingestKeyFile, streamKeyFile: telemetryKeyFile, dataDir: join(dir, 'data'),
      },
      worker: { pipelines: ['vitals'], telemetryKeyFile, keyDir: join(dir, 'keys'), checkpointIntervalMs: 1000, stateDir: join(dir, 'state') },
      http: { host: '127.0.0.1', port: 0 },
    };
    const configFile = join(dir, 'vigil.yaml');
    writeFileSync(configFile, stringify(common));

    const gw: RunningGateway = await startGateway(configSchema.parse(common), { logStream: { write: () => true } as unknown as NodeJS.WritableStream });
    cleanups.push(() => gw.stop());
    const workers = [spawnVigil(['worker', '--config', configFile]), spawnVigil(['worker', '--config', configFile])];
    for (const w of workers) cleanups.push(() => void (w.child.exitCode === null && w.child.kill('SIGKILL')));
    const derived = new DerivedCollector(brokers, `${prefix}derived.vitals`, derivedKey);
    cleanups.push(() => derived.close());
    await new Promise((r) => setTimeout(r, 4000)); // both workers up and in the group

    const logFile = join(dir, 'sent.jsonl');
    const sim = spawnVigil(['simulate', '--dir', join(dir, 'fleet'), '--mqtt-url', mqttUrl, '--speed', '10', '--duration', '15', '--bad-clocks', '0', '--log', logFile]);
    cleanups.push(() => void (sim.child.exitCode === null && sim.child.kill('SIGKILL')));
    expect(await exited(sim.child)).toBe(0);
    const summary = JSON.parse(sim.output().slice(sim.output().indexOf('{'))) as { framesAcked: number; framesUnacked: number; readingsAcked: number };
    expect(summary.framesUnacked).toBe(0);

    // The reference: from the simulator's own log, per soldier and 10 s window.
    const sent = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LoggedReading).filter((r) => r.reading.kind === 'vitals');
    expect(sent.length).toBeGreaterThan(500);
    const lastAt = Math.max(...sent.map((r) => r.atMs));
    const ref = new Map<string, { n: number; hr: number[]; spo2: number[] }>();
    for (const r of sent) {
      const start = Math.floor(r.atMs / WINDOW) * WINDOW;
      const key = `${r.deviceId}|${start}|${start + WINDOW}`;
      const w = ref.get(key) ?? { n: 0, hr: [], spo2: [] };
      w.n++;
      if (typeof r.reading.heartRateBpm === 'number') w.hr.push(r.reading.heartRateBpm);
      if (typeof r.reading.spo2Pct === 'number') w.spo2.push(r.reading.spo2Pct);
      ref.set(key, w);
    }
    // Windows that closed: their end is well before the last reading (watermark lag < 10 s here).
    const closed = [...ref.keys()].filter((k) => Number(k.split('|')[2]) + WINDOW <= lastAt);
    expect(closed.length).toBeGreaterThanOrEqual(8 * 10);

    await derived.start();
    await derived.settle(closed.length, 3000, 60_000);
    const got = derived.latest();
    for (const k of closed) {
      const w = ref.get(k) as { n: number; hr: number[]; spo2: number[] };
      const d = got.get(k);
      expect({ k, values: d?.values }).toEqual({
        k,
        values: expect.objectContaining({
          readings: w.n,
          heartRateSamples: w.hr.length,
          heartRateMaxBpm: w.hr.length ? Math.max(...w.hr) : null,
          spo2MinPct: w.spo2.length ? Math.min(...w.spo2) : null,
        }),
      });
      const mean = w.hr.reduce((a, b) => a + b, 0) / w.hr.length;
      expect(Math.abs((d?.values.heartRateMeanBpm as number) - mean)).toBeLessThan(1e-9);
    }
    // Two workers split the work: each read part of the input (their own /metrics say so).
    for (const w of workers) {
      const url = /"http":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(w.output())?.[1];
      expect(url).toBeDefined();
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('vigil_pipeline_records_total{pipeline="vitals"'));
      expect(line).toMatch(/ [1-9]\d*$/);
    }
    for (const w of workers) w.child.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => exited(w.child)))).toEqual([0, 0]);
  }, 240_000);
});
