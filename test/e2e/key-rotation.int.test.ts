import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readTelemetry } from '../../src/audit';
import { KafkaBus, type BusMessage } from '../../src/bus';
import { RECORD_KEY_ID_HEADER } from '../../src/codec';
import { startGateway, type RunningGateway } from '../../src/cli/gateway-runner';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';
import { startWorker, type RunningWorker } from '../../src/cli/worker-runner';
import { configSchema } from '../../src/config';
import { generateStreamKey, readStreamKeyRing, StreamKeyring, writeKeyFile, type StreamDataKey } from '../../src/crypto';
import { createFleet, provisionFleet } from '../../src/sim';
import { DerivedCollector, exited, spawnVigil } from './e2e-helpers';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
const mqttUrl = process.env.VIGIL_MQTT_URL as string;

/**
 * Stream-key rotation without downtime (issue 12, item 4), under load: a fleet sends through
 * a gateway to a worker while `vigil keys rotate stream` makes new telemetry and derived keys
 * current. Nothing restarts; every record is readable by holders of the ring, the records
 * after the rotation by no holder of the old key alone; the worker opened every input and
 * sealed its results under the new derived key from then on; `vigil keys retire` refuses the
 * old key while records under it remain and drops it from a topic that has none.
 */
describe('stream-key rotation under load (real brokers, gateway and worker keep running)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rotate-'));
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('rotates the telemetry and derived keys mid-run: nothing lost, nothing unreadable to the ring', async () => {
    const run = randomUUID().slice(0, 6);
    const prefix = `rot${run}.`;
    const theatre = `rot${run}`;
    const provisioned = await provisionFleet({
      dir: join(dir, 'fleet'),
      fleet: createFleet({ seed: 3, vehicles: 0, soldiers: 6, ugs: 0, uavs: 0, theatre, unit: 'u1', rateHz: 2, scenarios: { overheat: { enabled: false }, vitalsSpike: { enabled: false }, geofence: { enabled: false }, silence: { enabled: false }, gpsDropout: { enabled: false } } }, { startMs: Date.now() }),
      ingestKeyId: 'rot-ingest',
    });
    mkdirSync(join(dir, 'keys'));
    const telemetryKeyFile = join(dir, 'keys', 'telemetry.key.json');
    const derivedKeyFile = join(dir, 'keys', 'derived.vitals.key.json');
    const oldTelemetry = generateStreamKey('telemetry-1');
    const oldDerived = generateStreamKey('derived.vitals-1');
    await writeKeyFile(telemetryKeyFile, { type: 'stream', key: oldTelemetry });
    await writeKeyFile(derivedKeyFile, { type: 'stream', key: oldDerived });
    const cfg = configSchema.parse({
      log: { level: 'info' },
      mqtt: { url: mqttUrl, clientId: `rot-${run}` },
      kafka: { brokers: brokers.split(','), clientId: `rot-${run}`, partitions: 2, topicPrefix: prefix, sendTimeoutMs: 5000 },
      gateway: { id: `gw-${run}`, group: `g-${run}`, subscription: `vigil/v1/${theatre}/+/+/telemetry`, registryFile: provisioned.registryFile, ingestKeyFile: provisioned.ingestKeyFile, streamKeyFile: telemetryKeyFile, dataDir: join(dir, 'data') },
      worker: { pipelines: ['vitals'], telemetryKeyFile, keyDir: join(dir, 'keys'), checkpointIntervalMs: 1000, stateDir: join(dir, 'state') },
      http: { host: '127.0.0.1', port: 0 },
    });
    const logs: string[] = [];
    const logStream = {
      write: (l: string): boolean => {
        logs.push(l);
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const gw: RunningGateway = await startGateway(cfg, { logStream });
    cleanups.push(() => gw.stop());
    const worker: RunningWorker = await startWorker(cfg, pipelineCatalogue(), { logStream });
    cleanups.push(() => worker.stop());

    const sim = spawnVigil(['simulate', '--dir', join(dir, 'fleet'), '--mqtt-url', mqttUrl, '--speed', '10', '--duration', '14', '--bad-clocks', '0', '--replays-per-min', '0', '--tampered-per-min', '0']);
    cleanups.push(() => void (sim.child.exitCode === null && sim.child.kill('SIGKILL')));
    // Mid-run: a new telemetry key, then a new derived key, with the CLI, as an operator would.
    await new Promise((r) => setTimeout(r, 4000));
    const rotateTelemetry = spawnVigil(['keys', 'rotate', 'stream', telemetryKeyFile]);
    expect(await exited(rotateTelemetry.child)).toBe(0);
    await new Promise((r) => setTimeout(r, 3000));
    const rotateDerived = spawnVigil(['keys', 'rotate', 'stream', derivedKeyFile]);
    expect(await exited(rotateDerived.child)).toBe(0);
    expect(await exited(sim.child)).toBe(0);
    const summary = JSON.parse(sim.output().slice(sim.output().indexOf('{'))) as { framesAcked: number; framesUnacked: number };
    expect(summary.framesUnacked).toBe(0);
    expect(logs.filter((l) => l.includes('stream key ring reloaded')).length).toBeGreaterThanOrEqual(3); // gateway + worker (telemetry), worker (derived)

    const telemetryRing = await readStreamKeyRing(telemetryKeyFile);
    expect(telemetryRing.all.map((k) => k.keyId)).toEqual(['telemetry-2', 'telemetry-1']);
    const bus = new KafkaBus({ brokers: brokers.split(','), clientId: `rot-reader-${run}`, logLevel: 'nothing' });
    cleanups.push(() => bus.close());
    const read = async (keys: readonly StreamDataKey[]): Promise<{ opened: number; unreadable: Map<string, number>; byKey: Map<string, number> }> => {
      const out = { opened: 0, unreadable: new Map<string, number>(), byKey: new Map<string, number>() };
      const tally = (m: BusMessage): void => {
        const id = m.headers[RECORD_KEY_ID_HEADER]?.toString('utf8') ?? '';
        out.byKey.set(id, (out.byKey.get(id) ?? 0) + 1);
      };
      await readTelemetry({ bus, keyring: new StreamKeyring(keys), topics: [`${prefix}telemetry.vitals`] }, {
        record: (m) => {
          out.opened++;
          tally(m);
        },
        unreadable: (m, code) => {
          out.unreadable.set(code, (out.unreadable.get(code) ?? 0) + 1);
          tally(m);
        },
        tombstone: () => undefined,
      });
      return out;
    };
    const withRing = await read(telemetryRing.all);
    expect(withRing.unreadable.size).toBe(0);
    expect(withRing.byKey.get('telemetry-1')).toBeGreaterThan(20);
    expect(withRing.byKey.get('telemetry-2')).toBeGreaterThan(20);
    const oldOnly = await read([oldTelemetry]);
    expect(oldOnly.opened).toBe(withRing.byKey.get('telemetry-1'));
    expect(oldOnly.unreadable.get('VIGIL_E_KEY_UNKNOWN')).toBe(withRing.byKey.get('telemetry-2'));

    // The worker opened every input (none refused for an unknown key) and sealed results under both derived keys.
    await new Promise((r) => setTimeout(r, 3000));
    const stats = worker.workers.get('vitals')?.stats();
    expect(stats).toMatchObject({ state: 'running', invalid: 0 });
    const derivedRing = await readStreamKeyRing(derivedKeyFile);
    const collectors = derivedRing.all.map((k) => new DerivedCollector(brokers, `${prefix}derived.vitals`, k));
    for (const c of collectors) cleanups.push(() => c.close());
    for (const c of collectors) await c.start();
    await collectors[0]?.settle(1, 2000, 60_000);
    const counts = collectors.map((c) => c.latest().size);
    expect(counts.every((n) => n > 0)).toBe(true);

    // Retiring the old telemetry key: refused while records under it remain; fine for a topic without any.
    const config = join(dir, 'vigil.yaml');
    writeFileSync(config, stringify({ kafka: { brokers: brokers.split(',') } }));
    const refused = spawnVigil(['keys', 'retire', 'stream', telemetryKeyFile, 'telemetry-1', '--topic', `${prefix}telemetry.vitals`, '--config', config], { VIGIL_KAFKA_BROKERS: undefined });
    expect(await exited(refused.child)).toBe(2);
    expect(refused.output()).toContain('VIGIL_E_KEY_IN_USE');
    expect(refused.output()).toContain(`${prefix}telemetry.vitals`);
    const retired = spawnVigil(['keys', 'retire', 'stream', telemetryKeyFile, 'telemetry-1', '--topic', `${prefix}telemetry.ugs`, '--config', config], { VIGIL_KAFKA_BROKERS: undefined });
    expect(await exited(retired.child)).toBe(0);
    expect((await readStreamKeyRing(telemetryKeyFile)).all.map((k) => k.keyId)).toEqual(['telemetry-2']);
  }, 240_000);
});
