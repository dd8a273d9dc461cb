/**
 * Pre-loads `telemetry.vitals` for the `worker` bench with sealed telemetry records, the way
 * gateways write them: one record per frame (one vitals reading each), sealed with
 * `RecordCodec` under the telemetry stream key (key id in the `vigil-key-id` header), keyed
 * by device id and placed by kafkajs's default (murmur2) partitioner, as the gateway's
 * `KafkaBus` producer places them.
 *
 * Event time: every device reports once per second; device d's reports sit at phase
 * d/D of each second, so the topic holds all devices interleaved in time order. Each
 * report's event time has ±150 ms of jitter (inside the pipelines' 1 s watermark bound), and
 * one report in 1,000 carries an event time 2–5 s older than its neighbours (a frame that
 * was retried), which arrives after its window closed and revises it within the allowed
 * lateness. Values: heart rate 55–100 bpm with a drift, a dropped heart-rate measurement
 * (null) in one report of 200, SpO2 95–99 %; one device in 500 has a tachycardia episode
 * and one in 700 a desaturation, so the vitals alerts fire now and then. Deterministic.
 *
 * Sends are batched (`BATCH` records per request) with several requests in flight on a
 * non-idempotent producer (a bench loader, not a gateway: nothing is acknowledged upstream).
 */
import { Kafka, logLevel, Partitioners, type Message } from 'kafkajs';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type Posture, type TelemetryRecord, type VitalsReading } from '../../src/codec';
import type { StreamDataKey } from '../../src/crypto';

/** Event time of the first report: a fixed day, so every run seals the same records. */
export const LOAD_T0 = Date.UTC(2026, 0, 1, 6, 0, 0);
const BATCH = 4000;
const IN_FLIGHT = 4;
const POSTURES: readonly Posture[] = ['standing', 'standing', 'sitting', 'kneeling', 'prone'];
const SECRET = makeLabel('SECRET', ['GBR', 'USA']);
const CONFIDENTIAL = makeLabel('CONFIDENTIAL', ['GBR', 'USA']);

export const benchDeviceId = (d: number): string => `sol-${String(d).padStart(6, '0')}`;

/** A small integer hash → [0, 1): deterministic noise per (device, tick, salt). */
function noise(d: number, t: number, salt: number): number {
  let h = Math.imul(d ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(t + salt * 0x27d4eb2f, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

/** The report of device `d` at tick `t` (second t of event time) among `devices`. */
export function vitalsRecord(d: number, t: number, devices: number): TelemetryRecord {
  const nominal = LOAD_T0 + t * 1000 + Math.floor((d * 1000) / devices);
  let eventTimeMs = nominal + Math.round((noise(d, t, 1) - 0.5) * 300);
  if (noise(d, t, 2) < 0.001) eventTimeMs -= 2000 + Math.round(noise(d, t, 3) * 3000);
  const base = 55 + ((d * 37) % 40);
  let hr: number | null = Math.round(base + 8 * Math.sin((t + d) / 30) + noise(d, t, 4) * 6);
  if (d % 500 === 7 && t % 240 >= 60 && t % 240 < 120) hr = 165 + Math.round(noise(d, t, 5) * 10);
  if (noise(d, t, 6) < 0.005) hr = null;
  let spo2 = 95 + Math.floor(noise(d, t, 7) * 5);
  if (d % 700 === 11 && t % 300 >= 100 && t % 300 < 150) spo2 = 84 + Math.floor(noise(d, t, 8) * 4);
  const reading: VitalsReading = {
    kind: 'vitals',
    offsetMs: 0,
    heartRateBpm: hr,
    spo2Pct: spo2,
    skinTempC: Math.round((32 + noise(d, t, 9) * 3) * 10) / 10,
    posture: POSTURES[Math.floor(t / 60 + d) % POSTURES.length] as Posture,
  };
  return {
    type: 'telemetry',
    deviceId: benchDeviceId(d),
    seq: BigInt(t + 1),
    eventTimeMs,
    ingestTimeMs: nominal + 40,
    gatewayId: `gw-${d % 4}`,
    kind: 'vitals',
    label: d % 10 === 0 ? CONFIDENTIAL : SECRET,
    readings: [reading],
  };
}

export interface PreloadResult {
  readonly records: number;
  readonly bytes: number;
  readonly seconds: number;
  /** End offset of each partition after the load (what a worker must reach). */
  readonly ends: number[];
  /** Event-time span of the load, seconds. */
  readonly eventSeconds: number;
}

/**
 * Writes `records` reports of `devices` devices to `topic` (which must exist), time-major:
 * tick 0 of every device, then tick 1, … (the last tick may be partial).
 */
export async function preloadVitals(opts: {
  brokers: string;
  topic: string;
  records: number;
  devices: number;
  key: StreamDataKey;
  onProgress?: (written: number) => void;
}): Promise<PreloadResult> {
  const started = performance.now();
  const kafka = new Kafka({ clientId: 'bench-worker-loader', brokers: opts.brokers.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: false, allowAutoTopicCreation: false });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  const codec = new RecordCodec();
  const keyId = opts.key.keyId;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let written = 0;
  let bytes = 0;
  try {
    let batch: Message[] = [];
    const flush = async (): Promise<void> => {
      const messages = batch;
      batch = [];
      while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
      const p: Promise<void> = producer
        .send({ topic: opts.topic, messages, acks: -1 })
        .then(
          () => {
            written += messages.length;
            opts.onProgress?.(written);
          },
          (err: unknown) => {
            failure ??= err;
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    for (let i = 0; i < opts.records; i++) {
      const t = Math.floor(i / opts.devices);
      const d = i % opts.devices;
      const rec = vitalsRecord(d, t, opts.devices);
      const sealed = codec.seal(rec, opts.key);
      bytes += sealed.value.byteLength;
      batch.push({ key: rec.deviceId, value: Buffer.from(sealed.value.buffer, sealed.value.byteOffset, sealed.value.byteLength), headers: { [RECORD_KEY_ID_HEADER]: keyId } });
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    const offsets = await admin.fetchTopicOffsets(opts.topic);
    const ends: number[] = [];
    for (const o of offsets) ends[o.partition] = Number(o.high);
    const total = ends.reduce((a, b) => a + b, 0);
    if (total !== opts.records) throw new Error(`pre-load: ${opts.topic} holds ${total} records, expected ${opts.records}`);
    return { records: written, bytes, seconds: (performance.now() - started) / 1000, ends, eventSeconds: Math.ceil(opts.records / opts.devices) };
  } finally {
    await Promise.allSettled(inFlight);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
