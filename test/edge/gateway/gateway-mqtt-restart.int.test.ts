import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto, type MosquittoService } from '../../../scripts/services';
import type { DeviceKeys } from '../../../src/crypto';
import { DeviceClient } from '../../../src/device';
import { startGateway, type RunningGateway } from '../../../src/cli/gateway-runner';
import { openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';

const kafkaBrokers = process.env.VIGIL_KAFKA_BROKERS as string;
const IDS = ['m-1', 'm-2', 'm-3'];
const PER_DEVICE = 200;

// The MQTT broker acknowledges a device's frame when it has queued it for the gateway, so
// the broker's queue is part of the delivery path: frames queued while no gateway is
// connected must survive a broker restart (persistence on, as in deploy/mosquitto) and
// reach Kafka when the gateway resumes its session. This test owns its Mosquitto.
describe('gateway session across an MQTT broker restart (dedicated Mosquitto, persistence on)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-mosq-data-'));
  let mosq: MosquittoService | undefined;
  let fx: GatewayFixture | undefined;
  let gw: RunningGateway | undefined;
  const devices: DeviceClient[] = [];

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close(2000)));
    await gw?.stop();
    await mosq?.stop();
    fx?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers every frame the broker queued for the offline gateway, after the broker restarted', async () => {
    mosq = await startMosquitto({ persistenceDir: dataDir });
    const port = mosq.port;
    fx = await provisionGateway({ kafkaBrokers, mqttUrl: mosq.url, devices: IDS.map((id) => ({ id })) });
    const f = fx;
    // First start: the gateway's persistent session and shared subscription now exist at the broker.
    gw = await startGateway(f.config, { logStream: { write: () => true } as unknown as NodeJS.WritableStream });
    await until(async () => (await fetch(`${(gw as RunningGateway).http.url}/readyz`)).status === 200, 30_000, 'gateway ready');
    await gw.stop();
    gw = undefined;

    // Devices publish while no gateway is connected: the broker acknowledges and queues.
    for (const id of IDS) devices.push(await DeviceClient.connect({ keys: f.devices.get(id) as DeviceKeys, ingestPublicKey: f.ingest.box.publicKey, theatre: f.theatre, unit: 'u1', mqttUrl: mosq.url, maxReadingsPerFrame: 1, lingerMs: 0, receipts: false }));
    for (let i = 0; i < PER_DEVICE; i++) for (const d of devices) d.send({ kind: 'power', batteryPct: i % 101, voltageV: 24 });
    await Promise.all(devices.map((d) => d.flush()));
    await Promise.all(devices.splice(0).map((d) => d.close(2000)));

    // The broker restarts (a graceful stop saves its store) on the same port and folder.
    await mosq.stop();
    mosq = await startMosquitto({ port, persistenceDir: dataDir });

    // The gateway resumes its session and receives the queued frames.
    gw = await startGateway(f.config, { logStream: { write: () => true } as unknown as NodeJS.WritableStream });
    const want = new Set(IDS);
    const msgs = await readKafka(kafkaBrokers, ['telemetry.power'], (m) => openTelemetry(m, f.streamKey, want).length >= IDS.length * PER_DEVICE, 60_000, (m) => `(${openTelemetry(m, f.streamKey, want).length} of ${IDS.length * PER_DEVICE} frames)`);
    const recs = openTelemetry(msgs, f.streamKey, want);
    for (const id of IDS) {
      // Every frame, once, in order (the SDK numbers frames on from a persisted counter).
      const firstOf = new Map<bigint, (typeof recs)[number]>();
      for (const r of recs) if (r.deviceId === id && !firstOf.has(r.seq)) firstOf.set(r.seq, r);
      const seqs = [...firstOf.keys()];
      const first = seqs[0] ?? 0n;
      expect([id, seqs]).toEqual([id, Array.from({ length: PER_DEVICE }, (_, i) => first + BigInt(i))]);
      const battery = [...firstOf.values()].map((r) => (r.readings[0]?.kind === 'power' ? r.readings[0].batteryPct : -1));
      expect(battery).toEqual(Array.from({ length: PER_DEVICE }, (_, i) => i % 101));
    }
  }, 180_000);
});
