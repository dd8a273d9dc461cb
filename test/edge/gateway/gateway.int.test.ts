import { randomBytes, randomUUID } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import mqtt, { type MqttClient } from 'mqtt';
import type { BusMessage } from '../../../src/bus';
import { decodeRejectionRecord, encodeReadings, FrameSealer, openRejectionRecord, type Reading, type RejectionRecord } from '../../../src/codec';
import { boxSharedKey, generateDeviceKeys, getCryptoBackend, StreamKeyring, type DeviceKeys } from '../../../src/crypto';
import { DeviceClient } from '../../../src/device';
import { startGateway, type RunningGateway } from '../../../src/cli/gateway-runner';
import { revokeDevice, writeRegistryFile } from '../../../src/registry';
import { buildFrameBySpec } from '../../codec/spec-builder';
import { metricSum, openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';
import { sensorHealthPipeline } from '../../../pipelines';
import { runPipeline } from '../../pipelines/harness';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
const mqttUrl = process.env.VIGIL_MQTT_URL as string;
const backend = getCryptoBackend('auto');
const power = (i: number): Reading => ({ kind: 'power', offsetMs: 0, batteryPct: i % 101, voltageV: 24 });

function publisher(): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(mqttUrl, { protocolVersion: 5, clientId: `pub-${randomUUID()}`, reconnectPeriod: 0 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

describe('gateway against real Mosquitto and Kafka', () => {
  let fx: GatewayFixture;
  let gw: RunningGateway;
  const cleanups: Array<() => Promise<unknown> | void> = [];

  beforeAll(async () => {
    fx = await provisionGateway({
      kafkaBrokers: brokers, mqttUrl,
      devices: [
        { id: 'veh-1', priority: 'immediate' }, { id: 'veh-2' }, { id: 'sol-1', requireSignature: true },
        { id: 'rev-1' }, { id: 'rot-1', epoch: 2 }, { id: 'pwr-only', kinds: ['power'] }, { id: 'slow-1', rate: { perSecond: 1, burst: 1 } }, { id: 'live-1' },
      ],
    });
    writeRegistryFile(fx.registryFile, revokeDevice(fx.doc, 'rev-1'));
    gw = await startGateway(fx.config);
    cleanups.push(() => gw.stop(), () => fx.cleanup());
    await until(async () => (await fetch(`${gw.http.url}/readyz`)).status === 200, 20_000, 'gateway ready');
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('delivers frames from SDK devices to Kafka as sealed records that open to the sent readings, in order per device', async () => {
    const ids = ['veh-1', 'veh-2', 'sol-1'];
    const clients = await Promise.all(
      ids.map((id) =>
        DeviceClient.connect({ keys: fx.devices.get(id) as DeviceKeys, ingestPublicKey: fx.ingest.box.publicKey, theatre: fx.theatre, unit: 'u1', mqttUrl, maxReadingsPerFrame: 4, lingerMs: 5, sign: id === 'sol-1' }),
      ),
    );
    try {
      for (let i = 0; i < 200; i++) for (const c of clients) c.send({ kind: 'power', batteryPct: i % 101, voltageV: 24 });
      await Promise.all(clients.map((c) => c.flush()));
      const want = new Set(ids);
      const msgs = await readKafka(brokers, ['telemetry.power'], (m) => openTelemetry(m, fx.streamKey, want).reduce((n, r) => n + r.readings.length, 0) >= 600);
      const recs = openTelemetry(msgs, fx.streamKey, want);
      for (const id of ids) {
        const mine = recs.filter((r) => r.deviceId === id);
        const seqs = mine.map((r) => r.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
        expect(mine.flatMap((r) => r.readings.map((x) => (x.kind === 'power' ? x.batteryPct : -1)))).toEqual(Array.from({ length: 200 }, (_, i) => i % 101));
        expect(mine.every((r) => r.gatewayId === fx.config.gateway.id && r.kind === 'power' && r.label.level === 'UNCLASSIFIED')).toBe(true);
      }
      expect(await metricSum(gw.http.url, /^vigil_gateway_frames_total\{result="accepted"/)).toBeGreaterThanOrEqual(150);
      expect(await metricSum(gw.http.url, /^vigil_gateway_readings_total/)).toBeGreaterThanOrEqual(600);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('counts every rejection reason in /metrics and records it in telemetry.rejected, without plaintext', async () => {
    const pub = await publisher();
    cleanups.push(() => pub.endAsync());
    const sealer = new FrameSealer({ backend });
    const now = Date.now();
    // Above anything the SDK devices of the other test used (they number from ms x 1024).
    let seq = BigInt(now) * 4096n;
    const frame = (keys: DeviceKeys, o: { seq?: bigint; eventTimeMs?: number; readings?: Reading[]; epoch?: number; sign?: DeviceKeys } = {}): Buffer =>
      Buffer.from(sealer.seal(
        { deviceId: keys.deviceId, epoch: o.epoch ?? keys.epoch, seq: o.seq ?? seq++, eventTimeMs: o.eventTimeMs ?? now, readings: o.readings ?? [power(1)] },
        boxSharedKey(fx.ingest.box.publicKey, keys.box.secretKey, backend),
        o.sign ? { signer: backend.createSigner(o.sign.sign.seed) } : {},
      ));
    const d = (id: string): DeviceKeys => fx.devices.get(id) as DeviceKeys;
    const send = (topic: string, payload: Buffer): Promise<unknown> => pub.publishAsync(topic, payload, { qos: 1 });
    const ghost = generateDeviceKeys('ghost-1', 1);
    const stale = { ...d('rot-1'), epoch: 1 };
    const tampered = frame(d('veh-2'));
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    const replayed = frame(d('veh-2'), { seq: seq + 1_000_000n });
    const badVersion = frame(d('veh-2'));
    badVersion[1] = 7;
    const wire = encodeReadings([power(1)]) as unknown as unknown[][];
    (wire[0] as unknown[])[(wire[0] as unknown[]).indexOf(1)] = 250; // battery 250 %
    const badReading = Buffer.from(buildFrameBySpec({ deviceId: 'veh-2', epoch: 1, seq: seq++, eventTimeMs: now, nonce: randomBytes(24), boxKeys: { ingestPublicKey: fx.ingest.box.publicKey, deviceSecretKey: d('veh-2').box.secretKey }, body: encode(wire) }));

    const expected: Array<[string, string, Buffer]> = [
      ['VIGIL_E_DEVICE_UNKNOWN', fx.topicOf('ghost-1'), frame(ghost)],
      ['VIGIL_E_DEVICE_REVOKED', fx.topicOf('rev-1'), frame(d('rev-1'))],
      ['VIGIL_E_KEY_EPOCH_STALE', fx.topicOf('rot-1'), frame(stale)],
      ['VIGIL_E_FRAME_AUTH', fx.topicOf('veh-2'), tampered],
      ['VIGIL_E_FRAME_MALFORMED', fx.topicOf('veh-2'), Buffer.from([0x97, 0x01, 0xc1, 0x00])],
      ['VIGIL_E_FRAME_TOO_LARGE', fx.topicOf('veh-2'), randomBytes(40_000)],
      ['VIGIL_E_FRAME_VERSION', fx.topicOf('veh-2'), badVersion],
      ['VIGIL_E_READING_INVALID', fx.topicOf('veh-2'), badReading],
      ['VIGIL_E_FRAME_SIGNATURE', fx.topicOf('sol-1'), frame(d('sol-1'))],
      ['VIGIL_E_CLOCK_SKEW', fx.topicOf('veh-2'), frame(d('veh-2'), { eventTimeMs: now - 25 * 3_600_000 })],
      ['VIGIL_E_TOPIC_MISMATCH', fx.topicOf('veh-1'), frame(d('veh-2'))],
      ['VIGIL_E_KIND_NOT_ALLOWED', fx.topicOf('pwr-only'), frame(d('pwr-only'), { readings: [{ kind: 'metric', offsetMs: 0, name: 'temp', value: 1, unit: 'C' } as Reading] })],
    ];
    for (const [, topic, payload] of expected) await send(topic, payload);
    // Order-dependent ones: a replay after its original, an old sequence after a new one, a burst past the rate.
    await send(fx.topicOf('veh-2'), replayed);
    await until(async () => (await metricSum(gw.http.url, /^vigil_gateway_frames_total\{result="accepted"/)) > 0, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    await send(fx.topicOf('veh-2'), replayed);
    await send(fx.topicOf('veh-2'), frame(d('veh-2'), { seq: 2n }));
    await send(fx.topicOf('slow-1'), frame(d('slow-1')));
    await send(fx.topicOf('slow-1'), frame(d('slow-1')));
    expected.push(['VIGIL_E_REPLAY', '', Buffer.alloc(0)], ['VIGIL_E_SEQ_TOO_OLD', '', Buffer.alloc(0)], ['VIGIL_E_RATE_LIMITED', '', Buffer.alloc(0)]);

    const reasons = [...new Set(expected.map((e) => e[0]))].sort();
    const rejected = await readKafka(brokers, ['telemetry.rejected'], (msgs) => {
      const mine = msgs.map((m) => JSON.parse((m.value as Buffer).toString())).filter((b) => b.gatewayId === fx.config.gateway.id);
      return reasons.every((r) => mine.some((b) => b.reason === r));
    }, 30_000, (msgs) => JSON.stringify(msgs.map((m) => JSON.parse((m.value as Buffer).toString())).filter((b) => b.gatewayId === fx.config.gateway.id).map((b) => b.reason).sort()));
    const bodies = rejected.map((m) => JSON.parse((m.value as Buffer).toString())).filter((b) => b.gatewayId === fx.config.gateway.id);
    expect([...new Set(bodies.map((b) => b.reason))].sort()).toEqual(reasons);
    for (const b of bodies) {
      expect(b.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(Object.keys(b).sort()).toEqual(['atMs', 'bytes', 'gatewayId', 'header', 'message', 'reason', 'sha256']);
    }
    for (const r of reasons) {
      expect(await metricSum(gw.http.url, new RegExp(`^vigil_gateway_frames_total\\{result="rejected",reason="${r}"`))).toBeGreaterThanOrEqual(1);
    }

    // What the gateway wrote is what a pipeline reads: every record is authenticated under
    // the telemetry key and decodes as the codec's RejectionRecord, and sensor-health raises
    // its alarm for veh-2, whose frames were replayed and tampered with more than 5 times
    // within a minute.
    const keyring = new StreamKeyring([fx.streamKey]);
    const records = rejected.filter((m) => decodeRejectionRecord(m.value as Buffer).gatewayId === fx.config.gateway.id).map((m) => openRejectionRecord(m.value as Buffer, m.headers, keyring));
    expect(records).toEqual(bodies);
    const health = await runPipeline(sensorHealthPipeline(), records);
    const alarm = health.find((r) => r.key === 'veh-2/rejected-frames/raised');
    expect(alarm?.values).toMatchObject({ alarm: true, count: 5 });
    expect(health.filter((r) => r.key.endsWith('/rejected-frames/raised')).map((r) => r.key)).toEqual(['veh-2/rejected-frames/raised']);
  });

  it('rejects a device revoked during a run within one second of the registry change', async () => {
    // Receipts off: a revoked device's frames are refused before authentication, so no
    // receipt ever covers them and a receipt-waiting flush() would wait for good.
    const client = await DeviceClient.connect({ keys: fx.devices.get('live-1') as DeviceKeys, ingestPublicKey: fx.ingest.box.publicKey, theatre: fx.theatre, unit: 'u1', mqttUrl, maxReadingsPerFrame: 1, lingerMs: 0, receipts: false });
    let revokedAt: number | undefined;
    let sent = 0;
    try {
      const sendFor = async (ms: number): Promise<void> => {
        const end = Date.now() + ms;
        for (let i = 0; Date.now() < end; i++, sent++) {
          client.send({ kind: 'power', batteryPct: i % 101, voltageV: 24 });
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await sendFor(1500);
      await client.flush();
      writeRegistryFile(fx.registryFile, revokeDevice(revokeDevice(fx.doc, 'rev-1'), 'live-1'));
      revokedAt = Date.now();
      await sendFor(2500);
      await client.flush();
    } finally {
      await client.close();
    }
    const live = new Set(['live-1']);
    const rejectionsIn = (msgs: readonly BusMessage[]): RejectionRecord[] =>
      msgs.filter((m) => m.topic === 'telemetry.rejected' && m.key?.toString() === 'live-1').map((m) => decodeRejectionRecord(m.value as Buffer));
    // Every frame sent ends up admitted or refused: read until all are accounted for.
    const msgs = await readKafka(brokers, ['telemetry.power', 'telemetry.rejected'], (m) => openTelemetry(m.filter((x) => x.topic === 'telemetry.power'), fx.streamKey, live).length + rejectionsIn(m).length >= sent);
    const accepted = openTelemetry(msgs.filter((x) => x.topic === 'telemetry.power'), fx.streamKey, live);
    const rejections = rejectionsIn(msgs);
    expect(accepted.length + rejections.length).toBe(sent);
    // Frames kept flowing at 50/s, so the first refusal shows when the change took effect.
    expect(rejections.length).toBeGreaterThan(0);
    expect(rejections.every((r) => r.reason === 'VIGIL_E_DEVICE_REVOKED')).toBe(true);
    const firstRefusal = Math.min(...rejections.map((r) => r.atMs));
    expect(firstRefusal - (revokedAt ?? 0)).toBeLessThanOrEqual(1000);
    // Nothing of it admitted once the change had taken effect.
    expect(accepted.length).toBeGreaterThan(0);
    expect(Math.max(...accepted.map((r) => r.ingestTimeMs))).toBeLessThan(firstRefusal);
  });
});
