import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { FrameOpener, sealReceipt, type Reading } from '../../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend } from '../../src/crypto';
import { DeviceClient, type ReadingInput } from '../../src/device';
import { TcpProxy } from '../harness/tcp-proxy';
import { until } from '../harness/until';

const url = process.env.VIGIL_MQTT_URL as string;
const brokerPort = Number(new URL(url).port);

function subscriber(topic: string): Promise<{ client: MqttClient; frames: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 5, clientId: `sub-${randomUUID()}`, reconnectPeriod: 0 });
    const frames: Buffer[] = [];
    client.on('message', (t, payload) => {
      if (t === topic) frames.push(payload);
    });
    client.once('error', reject);
    client.once('connect', () => {
      client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve({ client, frames })));
    });
  });
}

const power = (i: number): ReadingInput => ({ kind: 'power', batteryPct: i % 101, voltageV: 24 + (i % 10) / 10 });

describe('DeviceClient against real Mosquitto', () => {
  const ingest = generateIngestKeys('ingest-test');
  const opener = new FrameOpener();
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function openAll(frames: Buffer[], keys: ReturnType<typeof generateDeviceKeys>): Array<{ seq: bigint; readings: Reading[] }> {
    const shared = boxSharedKey(keys.box.publicKey, ingest.box.secretKey);
    const verifier = getCryptoBackend().createVerifier(keys.sign.publicKey);
    return frames.map((f) => {
      const o = opener.decodeAndOpen(f, shared, { verifier });
      return { seq: o.seq, readings: o.readings };
    });
  }

  it('batches readings into sealed, signed frames that the ingest key opens, in sequence order', async () => {
    const keys = generateDeviceKeys(`uav-${randomUUID().slice(0, 8)}`, 1);
    const topic = `vigil/v1/north/recon-3/${keys.deviceId}/telemetry`;
    const sub = await subscriber(topic);
    cleanups.push(() => sub.client.endAsync());
    const t0 = Date.UTC(2026, 10, 28, 12, 0, 0);
    let now = t0;
    const device = await DeviceClient.connect({
      keys, ingestPublicKey: Buffer.from(ingest.box.publicKey).toString('base64'), theatre: 'north', unit: 'recon-3', mqttUrl: url,
      maxReadingsPerFrame: 16, lingerMs: 50, sign: true, clock: () => now, receipts: false,
    });
    cleanups.push(() => device.close());
    expect(device.topic).toBe(topic);
    for (let i = 0; i < 100; i++) {
      device.send(power(i), t0 + i * 10);
    }
    now = t0 + 1000;
    await device.flush();
    await until(() => sub.frames.length === 7, 5000);
    const opened = openAll(sub.frames, keys);
    expect(opened.map((o) => o.readings.length)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    const seqs = opened.map((o) => o.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1] as bigint) + 1n);
    const readings = opened.flatMap((o) => o.readings);
    expect(readings.map((r) => (r.kind === 'power' ? r.batteryPct : -1))).toEqual(Array.from({ length: 100 }, (_, i) => i % 101));
    expect(opened[1]?.readings[0]?.offsetMs).toBe(0);
    expect(opened[0]?.readings[15]?.offsetMs).toBe(150);
    expect(device.stats()).toMatchObject({ framesSealed: 7, framesAcked: 7, readingsAcked: 100, framesDropped: 0, framesQueued: 0, framesInflight: 0, connected: true });
  });

  it('keeps frames through a cut link and delivers every one, in order, when it returns', async () => {
    const proxy = await TcpProxy.start(brokerPort);
    cleanups.push(() => proxy.close());
    const keys = generateDeviceKeys(`ugs-${randomUUID().slice(0, 8)}`, 3);
    const topic = `vigil/v1/south/obs-1/${keys.deviceId}/telemetry`;
    const sub = await subscriber(topic);
    cleanups.push(() => sub.client.endAsync());
    const device = await DeviceClient.connect({
      keys, ingestPublicKey: ingest.box.publicKey, theatre: 'south', unit: 'obs-1', mqttUrl: `mqtt://127.0.0.1:${proxy.port}`,
      maxReadingsPerFrame: 5, lingerMs: 0, mqtt: { reconnectPeriod: 100 }, receipts: false,
    });
    cleanups.push(() => device.close(2000));
    for (let i = 0; i < 20; i++) device.send(power(i));
    await device.flush();

    proxy.cut();
    await until(() => !device.stats().connected, 5000);
    for (let i = 20; i < 120; i++) device.send(power(i)); // 100 frames while the link is down
    expect(device.stats().framesQueued).toBeGreaterThan(0);
    proxy.restore();
    await device.flush();

    await until(() => sub.frames.length >= 120, 10000);
    const opened = openAll(sub.frames, keys);
    const seen = new Map<bigint, number>();
    for (const o of opened) seen.set(o.seq, (o.readings[0] as { batteryPct: number }).batteryPct);
    // QoS1 may deliver a frame twice across a reconnect; none may be missing, and in order.
    const distinct = [...new Set(opened.map((o) => o.seq))];
    expect(distinct).toHaveLength(120);
    expect(distinct).toEqual([...distinct].sort((a, b) => (a < b ? -1 : 1)));
    expect([...seen.values()]).toEqual(Array.from({ length: 120 }, (_, i) => i % 101));
    expect(device.stats().reconnects).toBeGreaterThanOrEqual(1);
    expect(device.stats().framesAcked).toBe(120);
  });

  it('drops the oldest frames beyond its queue bound while offline, and counts them', async () => {
    const proxy = await TcpProxy.start(brokerPort);
    cleanups.push(() => proxy.close());
    const keys = generateDeviceKeys(`veh-${randomUUID().slice(0, 8)}`, 1);
    const device = await DeviceClient.connect({
      keys, ingestPublicKey: ingest.box.publicKey, theatre: 'west', unit: 'log-2', mqttUrl: `mqtt://127.0.0.1:${proxy.port}`,
      lingerMs: 0, maxQueuedFrames: 10, mqtt: { reconnectPeriod: 100 }, receipts: false,
    });
    cleanups.push(() => device.close(2000));
    const drops: bigint[] = [];
    device.on('drop', (d) => drops.push(d.seq));
    proxy.cut();
    await until(() => !device.stats().connected, 5000);
    for (let i = 0; i < 25; i++) device.send(power(i));
    expect(device.stats()).toMatchObject({ framesSealed: 25, framesDropped: 15, framesQueued: 10 });
    expect(drops).toHaveLength(15);
    proxy.restore();
    await device.flush();
    expect(device.stats().framesAcked).toBe(10);
  });

  it('with receipts: keeps frames until a receipt covers them, resends the rest, ignores forged receipts, holds back at the send window', async () => {
    const keys = generateDeviceKeys(`ugs-${randomUUID().slice(0, 8)}`, 2);
    const topic = `vigil/v1/east/ugs-1/${keys.deviceId}/telemetry`;
    const receiptTopic = `vigil/v1/east/ugs-1/${keys.deviceId}/receipt`;
    const gwKey = boxSharedKey(keys.box.publicKey, ingest.box.secretKey);
    // A scripted gateway: sees the frames, and confirms only what the test says.
    const sub = await subscriber(topic);
    cleanups.push(() => sub.client.endAsync());
    const durable: Array<{ seq: bigint; resent: boolean }> = [];
    const device = await DeviceClient.connect({
      keys, ingestPublicKey: ingest.box.publicKey, theatre: 'east', unit: 'ugs-1', mqttUrl: url,
      maxReadingsPerFrame: 1, lingerMs: 0, sendWindow: 8, receiptTimeoutMs: 300, onDurable: (seq, _n, resent) => void durable.push({ seq, resent }),
    });
    cleanups.push(() => device.close(500));
    for (let i = 0; i < 12; i++) device.send(power(i));
    await until(() => sub.frames.length >= 8, 5000);
    await new Promise((r) => setTimeout(r, 150));
    expect(new Set(openAll(sub.frames, keys).map((f) => f.seq)).size).toBe(8); // the window holds the rest back
    const seqs = [...new Set(openAll(sub.frames, keys).map((f) => f.seq))].sort((a, b) => (a < b ? -1 : 1));
    const first = seqs[0] as bigint;

    // A receipt sealed under another key (a forger on the broker) is ignored.
    const forged = boxSharedKey(generateIngestKeys('forger').box.publicKey, keys.box.secretKey);
    sub.client.publish(receiptTopic, Buffer.from(sealReceipt({ deviceId: keys.deviceId, epoch: 2, gatewayId: 'evil', ranges: [[first, first + 100n]], refused: [] }, forged)));
    await until(() => device.stats().receiptsInvalid === 1, 5000);
    expect(durable).toHaveLength(0);

    // The gateway confirms frames 0-3 and 5; frame 4 was "dropped by the broker".
    const publish = (ranges: Array<readonly [bigint, bigint]>): void => void sub.client.publish(receiptTopic, Buffer.from(sealReceipt({ deviceId: keys.deviceId, epoch: 2, gatewayId: 'gw-t', ranges, refused: [] }, gwKey)));
    publish([[first, first + 3n], [first + 5n, first + 5n]]);
    await until(() => durable.length === 5, 5000);
    // Frame 4 and frames 6, 7 come again after the timeout; the window let frames 8.. go meanwhile.
    await until(() => openAll(sub.frames, keys).filter((f) => f.seq === first + 4n).length >= 2, 5000);
    publish([[first, first + 11n]]);
    await device.flush();
    expect(durable.map((d) => d.seq).sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 12 }, (_, i) => first + BigInt(i)));
    expect(durable.find((d) => d.seq === first + 4n)?.resent).toBe(true);
    expect(durable.find((d) => d.seq === first)?.resent).toBe(false);
    expect(device.stats()).toMatchObject({ framesAcked: 12, framesUnconfirmed: 0, receipts: 2, receiptsInvalid: 1 });
    expect(device.stats().framesResent).toBeGreaterThanOrEqual(1);
  });
});
