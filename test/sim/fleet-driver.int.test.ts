import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { main } from '../../src/cli/main';
import { out } from '../../src/cli/output';
import { FrameOpener } from '../../src/codec';
import { boxSharedKey, getCryptoBackend, readIngestKeyFile } from '../../src/crypto';
import { createFleet, ephemeralFleetKeys, FleetDriver, loadProvisionedFleet, provisionFleet } from '../../src/sim';
import { until } from '../harness/until';

const url = process.env.VIGIL_MQTT_URL as string;

function subscriber(topic: string): Promise<{ client: MqttClient; frames: Array<{ topic: string; payload: Buffer }> }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 5, clientId: `sub-${randomUUID()}`, reconnectPeriod: 0 });
    const frames: Array<{ topic: string; payload: Buffer }> = [];
    client.on('message', (t, payload) => frames.push({ topic: t, payload }));
    client.once('error', reject);
    client.once('connect', () => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve({ client, frames }))));
  });
}

describe('simulated fleet against real Mosquitto', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('runs a small fleet for ~2 s; a subscriber receives authentic frames from every device', async () => {
    // A unit name of our own keeps other tests' traffic on the shared broker out of the subscription.
    const unit = `sim-${randomUUID().slice(0, 8)}`;
    const fleet = createFleet({ seed: 21, vehicles: 2, soldiers: 3, ugs: 2, uavs: 1, unit, rateHz: 4 }, { startMs: Date.now() });
    const { keys, ingest } = ephemeralFleetKeys(fleet);
    const sub = await subscriber(`vigil/v1/north/${unit}/+/telemetry`);
    cleanups.push(() => sub.client.endAsync());
    const driver = await FleetDriver.connect({ fleet, keys, ingestPublicKey: ingest.box.publicKey, mqttUrl: url, concurrency: 3, tickMs: 50, receipts: false });
    cleanups.push(() => driver.stop());
    expect(driver.stats()).toMatchObject({ devices: 8, connected: 8, framesAcked: 0 });
    driver.start();
    await new Promise((r) => setTimeout(r, 2_000));
    const final = await driver.stop();
    expect(final.readingsGenerated).toBeGreaterThan(8 * 4);
    expect(final).toMatchObject({ framesDropped: 0, framesQueued: 0, framesInflight: 0, connected: 0, errors: 0, readingsAcked: final.readingsGenerated });
    expect(final.simTimeMs - fleet.startMs).toBeGreaterThan(1_500);

    await until(() => sub.frames.length >= final.framesAcked, 5_000);
    const opener = new FrameOpener();
    const backend = getCryptoBackend();
    const fromDevice = new Map<string, number>();
    let readings = 0;
    for (const f of sub.frames) {
      const deviceId = f.topic.split('/')[4] as string;
      const k = keys.get(deviceId);
      if (k === undefined) throw new Error(`frame from unknown device ${deviceId}`);
      const o = opener.decodeAndOpen(f.payload, boxSharedKey(k.box.publicKey, ingest.box.secretKey), { verifier: backend.createVerifier(k.sign.publicKey) });
      expect(o.deviceId).toBe(deviceId);
      fromDevice.set(deviceId, (fromDevice.get(deviceId) ?? 0) + 1);
      readings += o.readings.length;
    }
    expect([...fromDevice.keys()].sort()).toEqual(fleet.devices.map((d) => d.deviceId).sort());
    expect(readings).toBe(final.readingsAcked);
  });

  it('`vigil sim run` drives a provisioned fleet and prints progress and a JSON summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-sim-run-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const unit = `sim-${randomUUID().slice(0, 8)}`;
    await provisionFleet({ dir, fleet: { seed: 2, vehicles: 1, soldiers: 2, ugs: 1, uavs: 1, unit } });
    const { keys } = await loadProvisionedFleet(dir);
    const ingest = await readIngestKeyFile(join(dir, 'ingest.key.json'));
    const sub = await subscriber(`vigil/v1/north/${unit}/+/telemetry`);
    cleanups.push(() => sub.client.endAsync());

    let stdout = '';
    let stderr = '';
    const write = out.write;
    out.write = (t: string) => {
      stdout += t;
    };
    cleanups.push(() => {
      out.write = write;
    });
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((t: string | Uint8Array) => {
      stderr += String(t);
      return true;
    });
    cleanups.push(() => spy.mockRestore());
    await main(['node', 'vigil', 'sim', 'run', '--dir', dir, '--mqtt-url', url, '--rate-hz', '5', '--duration', '2.2', '--no-receipts']);
    expect(process.exitCode ?? 0).toBe(0);
    expect(stderr).toMatch(/sim \ds: 5\/5 connected, \d+ readings\/s, acked \d+ frames/);
    const summary = JSON.parse(stdout) as Record<string, number>;
    expect(summary).toMatchObject({ devices: 5, framesDropped: 0, framesUnacked: 0, errors: 0 });
    expect(summary.readingsAcked).toBe(summary.readingsGenerated);
    expect(summary.framesAcked).toBeGreaterThan(5);
    await until(() => sub.frames.length >= (summary.framesAcked as number), 5_000);
    const opener = new FrameOpener();
    const devices = new Set<string>();
    for (const f of sub.frames) {
      const k = keys.get(f.topic.split('/')[4] as string);
      if (k === undefined) throw new Error(`unknown device on ${f.topic}`);
      const o = opener.decodeAndOpen(f.payload, boxSharedKey(k.box.publicKey, ingest.box.secretKey), { verifier: getCryptoBackend().createVerifier(k.sign.publicKey) });
      devices.add(o.deviceId);
    }
    expect([...devices].sort()).toEqual(['sol-001', 'sol-002', 'uav-001', 'ugs-001', 'veh-001']);
  });

  it('reports an unreachable broker as VIGIL_E_SERVICE_START', async () => {
    const fleet = createFleet({ vehicles: 1, soldiers: 1, ugs: 0, uavs: 0 }, { startMs: Date.now() });
    const { keys, ingest } = ephemeralFleetKeys(fleet);
    await expect(FleetDriver.connect({ fleet, keys, ingestPublicKey: ingest.box.publicKey, mqttUrl: 'mqtt://127.0.0.1:1', mqtt: { connectTimeout: 2_000 } })).rejects.toMatchObject({
      code: 'VIGIL_E_SERVICE_START',
    });
  });
});
