import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startKafka, startMosquitto, type KafkaService, type MosquittoService } from '../../scripts/services';
import { KafkaBus, roleAcls } from '../../src/bus';
import { deploymentTopics } from '../../src/cli/kafka-command';
import { configSchema } from '../../src/config';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { createCa, issueCertificate } from '../../src/pki';
import { DerivedCollector, exited, spawnVigil } from './e2e-helpers';

const WINDOW = 10_000;

/**
 * Issue 12's whole chain, every hop authenticated and encrypted, each process with only its
 * role's rights: `vigil simulate` (a TLS client certificate per device, from `vigil sim
 * provision --pki`) → Mosquitto (TLS only, certificates required, deploy/mosquitto/acl) →
 * `vigil gateway` (its own certificate; Kafka user gw-1: writes telemetry) → Kafka (SASL_SSL,
 * SCRAM, StandardAuthorizer) → `vigil worker` (user worker-1) → derived.vitals, read by an
 * analyst (user analyst-1, that one stream). The windows equal a reference computed from the
 * simulator's own log.
 */
describe('the secure chain: mTLS MQTT with ACLs → gateway → SASL_SSL Kafka with ACLs → worker → analyst (real brokers, real processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-secure-e2e-'));
  const cleanups: Array<() => Promise<unknown> | void> = [];
  let kafka: KafkaService | undefined;
  let mosquitto: MosquittoService | undefined;
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    await mosquitto?.stop();
    await kafka?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('delivers every window to the analyst, computed from what the devices sent', async () => {
    const run = randomUUID().slice(0, 6);
    const prefix = `sec${run}.`;
    const theatre = `sec${run}`;
    const pki = join(dir, 'pki');
    mkdirSync(pki, { recursive: true });
    // The operator's CA and the brokers' certificates (what `vigil pki init` / `issue broker` write).
    const ca = await createCa({ name: 'secure-e2e-ca', days: 1 });
    writeFileSync(join(pki, 'ca.crt'), ca.certPem);
    writeFileSync(join(pki, 'ca.key'), ca.keyPem, { mode: 0o600 });
    const pem = async (role: 'broker' | 'gateway', name: string): Promise<{ cert: string; key: string }> => {
      const c = await issueCertificate(ca, { role, name, days: 1 });
      const files = { cert: join(pki, `${role}-${name}.crt`), key: join(pki, `${role}-${name}.key`) };
      writeFileSync(files.cert, c.certPem);
      writeFileSync(files.key, c.keyPem, { mode: 0o600 });
      return files;
    };
    const mqttServer = await pem('broker', 'localhost');
    const gatewayCert = await pem('gateway', 'gw-1');
    mosquitto = await startMosquitto({ tls: { caFile: join(pki, 'ca.crt'), certFile: mqttServer.cert, keyFile: mqttServer.key } });
    const passwords = { 'gw-1': `g${randomBytes(9).toString('hex')}`, 'worker-1': `w${randomBytes(9).toString('hex')}`, 'analyst-1': `a${randomBytes(9).toString('hex')}` };
    kafka = await startKafka({ secure: { users: passwords } });
    const security = kafka.security as NonNullable<KafkaService['security']>;
    for (const [user, pw] of Object.entries(passwords)) writeFileSync(join(dir, `${user}.pass`), `${pw}\n`, { mode: 0o600 });

    // The fleet, with a client certificate per device (CN = device id, what the ACL's %u matches).
    // No scenarios: a device that goes silent would hold back its partition's watermark, and its last window with it.
    const fleetDir = join(dir, 'fleet');
    const provision = spawnVigil(['sim', 'provision', '--dir', fleetDir, '--vehicles', '0', '--soldiers', '6', '--ugs', '0', '--uavs', '0', '--theatre', theatre, '--unit', 'u1', '--rate-hz', '2', '--seed', '5', '--no-scenarios', '--pki', pki]);
    expect(await exited(provision.child)).toBe(0);
    const provisioned = JSON.parse(provision.output().slice(provision.output().indexOf('{'))) as { registry: string; ingestKeyFile: string };
    expect(provisioned).toMatchObject({ devices: 6, certificates: { issued: 6 } });

    mkdirSync(join(dir, 'keys'), { recursive: true });
    const telemetryKeyFile = join(dir, 'keys', 'telemetry.key.json');
    await writeKeyFile(telemetryKeyFile, { type: 'stream', key: generateStreamKey('telemetry-sec') });
    const derivedKey = generateStreamKey('derived.vitals-sec');
    await writeKeyFile(join(dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: derivedKey });
    const kafkaSection = (user: string) => ({
      brokers: [kafka?.brokers as string],
      clientId: `sec-${run}-${user}`,
      partitions: 3,
      topicPrefix: prefix,
      sendTimeoutMs: 5000,
      ssl: { caFile: security.caFile },
      sasl: { username: user, passwordFile: join(dir, `${user}.pass`) },
    });
    const base = {
      log: { level: 'info' },
      mqtt: { url: `mqtts://127.0.0.1:${mosquitto.port}`, clientId: `sec-${run}`, tls: { caFile: join(pki, 'ca.crt'), certFile: gatewayCert.cert, keyFile: gatewayCert.key } },
      gateway: {
        id: 'gw-1', group: 'vigil-gateways', subscription: `vigil/v1/${theatre}/+/+/telemetry`, registryFile: provisioned.registry,
        ingestKeyFile: provisioned.ingestKeyFile, streamKeyFile: telemetryKeyFile, dataDir: join(dir, 'data'),
      },
      worker: { pipelines: ['vitals'], telemetryKeyFile, keyDir: join(dir, 'keys'), checkpointIntervalMs: 1000, stateDir: join(dir, 'state') },
      http: { host: '127.0.0.1', port: 0 },
    };
    const write = (name: string, cfg: object): string => {
      configSchema.parse(cfg); // the test's own configs are valid before any process reads them
      writeFileSync(join(dir, name), stringify(cfg));
      return join(dir, name);
    };
    const gatewayConfig = write('gateway.yaml', { ...base, kafka: kafkaSection('gw-1') });
    const workerConfig = write('worker.yaml', { ...base, kafka: kafkaSection('worker-1') });

    // The admin provisions topics and ACLs; no other role may create a topic.
    const admin = new KafkaBus({ brokers: [kafka.brokers], ssl: { ca: readFileSync(security.caFile) }, sasl: { mechanism: 'scram-sha-512', ...security.admin }, logLevel: 'nothing' });
    cleanups.push(() => admin.close());
    await admin.admin().ensureTopics(deploymentTopics(configSchema.parse({ kafka: kafkaSection('admin') }), ['vitals']));
    await admin.createAcls([
      ...roleAcls('gateway', 'gw-1', { topicPrefix: prefix }),
      ...roleAcls('worker', 'worker-1', { topicPrefix: prefix, pipelines: ['vitals'] }),
      ...roleAcls('analyst', 'analyst-1', { topicPrefix: prefix, pipelines: ['vitals'] }),
    ]);

    // The integration project's VIGIL_KAFKA_BROKERS / VIGIL_MQTT_URL name its plaintext brokers: not for these processes.
    const unset = { VIGIL_KAFKA_BROKERS: undefined, VIGIL_MQTT_URL: undefined } as unknown as NodeJS.ProcessEnv;
    const gateway = spawnVigil(['gateway', '--config', gatewayConfig], unset);
    cleanups.push(() => void (gateway.child.exitCode === null && gateway.child.kill('SIGKILL')));
    const worker = spawnVigil(['worker', '--config', workerConfig], unset);
    cleanups.push(() => void (worker.child.exitCode === null && worker.child.kill('SIGKILL')));
    const derived = new DerivedCollector(kafka.brokers, `${prefix}derived.vitals`, derivedKey, {
      bus: { ssl: { ca: readFileSync(security.caFile) }, sasl: { mechanism: 'scram-sha-512', username: 'analyst-1', password: passwords['analyst-1'] } },
      groupId: `vigil.tap.derived.vitals.${run}`,
    });
    cleanups.push(() => derived.close());
    const up = async (p: { output: () => string; child: { exitCode: number | null } }, what: string): Promise<void> => {
      for (let i = 0; i < 600 && p.child.exitCode === null && !/"msg":"(gateway|worker) started"/.test(p.output()); i++) await new Promise((r) => setTimeout(r, 100));
      if (!/"msg":"(gateway|worker) started"/.test(p.output())) throw new Error(`${what} did not start:\n${p.output().slice(-3000)}`);
    };
    await up(gateway, 'gateway');
    await up(worker, 'worker');

    const logFile = join(dir, 'sent.jsonl');
    const sim = spawnVigil(['simulate', '--dir', fleetDir, '--mqtt-url', `mqtts://127.0.0.1:${mosquitto.port}`, '--tls-dir', pki, '--speed', '10', '--duration', '12', '--bad-clocks', '0', '--log', logFile], unset);
    cleanups.push(() => void (sim.child.exitCode === null && sim.child.kill('SIGKILL')));
    expect(await exited(sim.child)).toBe(0);
    const summary = JSON.parse(sim.output().slice(sim.output().indexOf('{'))) as { framesAcked: number; framesUnacked: number };
    expect(summary.framesUnacked).toBe(0);
    expect(summary.framesAcked).toBeGreaterThan(50);

    const sent = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { deviceId: string; atMs: number; reading: { kind: string; heartRateBpm?: number | null } }).filter((r) => r.reading.kind === 'vitals');
    const lastAt = Math.max(...sent.map((r) => r.atMs));
    const ref = new Map<string, number>();
    for (const r of sent) {
      const start = Math.floor(r.atMs / WINDOW) * WINDOW;
      const key = `${r.deviceId}|${start}|${start + WINDOW}`;
      ref.set(key, (ref.get(key) ?? 0) + 1);
    }
    const closed = [...ref.keys()].filter((k) => Number(k.split('|')[2]) + WINDOW <= lastAt);
    expect(closed.length).toBeGreaterThanOrEqual(6 * 5);
    await derived.start();
    await derived.settle(closed.length, 3000, 90_000);
    const got = derived.latest();
    for (const k of closed) expect({ k, readings: got.get(k)?.values.readings }).toEqual({ k, readings: ref.get(k) });

    gateway.child.kill('SIGTERM');
    worker.child.kill('SIGTERM');
    expect(await Promise.all([exited(gateway.child), exited(worker.child)])).toEqual([0, 0]);
    // Nothing was refused along the way: no authorisation or TLS error in either process's log.
    for (const p of [gateway, worker]) expect(p.output()).not.toMatch(/VIGIL_E_BUS_(DENIED|AUTH|TLS)|VIGIL_E_MQTT_TLS/);
  }, 300_000);
});
