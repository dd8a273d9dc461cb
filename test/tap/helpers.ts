import type { Bus, OutgoingMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type DerivedRecord, type TelemetryRecord } from '../../src/codec';
import type { StreamDataKey } from '../../src/crypto';
import { until as waitUntil } from '../harness/until';

export const T0 = Date.UTC(2026, 0, 1, 12);
const codec = new RecordCodec();

/** A derived vitals result of one soldier for the 10 s window starting at T0 + i × 10 s. */
export function vitals(i: number, options: { key?: string; revision?: number } = {}): DerivedRecord {
  return {
    type: 'derived',
    pipeline: 'vitals',
    windowStartMs: T0 + i * 10_000,
    windowEndMs: T0 + (i + 1) * 10_000,
    key: options.key ?? 'sol-001',
    values: { heartRateBpm: 80 + i, n: 10, posture: 'standing' },
    revision: options.revision ?? 0,
    label: makeLabel('SECRET', ['GBR', 'USA']),
    provenance: [{ deviceId: options.key ?? 'sol-001', firstSeq: BigInt(i * 10), lastSeq: BigInt(i * 10 + 9) }],
  };
}

/** A telemetry position record with two readings. */
export function position(deviceId: string, i: number, lat = 51.5, lon = -0.14): TelemetryRecord {
  const base = { kind: 'position' as const, altM: null, speedMps: 4.5, headingDeg: 90, accuracyM: 3 };
  return {
    type: 'telemetry',
    deviceId,
    seq: BigInt(1000 + i),
    eventTimeMs: T0 + i * 1000,
    ingestTimeMs: T0 + i * 1000 + 50,
    gatewayId: 'gw-1',
    kind: 'position',
    label: makeLabel('RESTRICTED', ['GBR']),
    readings: [
      { ...base, offsetMs: 0, lat: lat + i * 0.001, lon },
      { ...base, offsetMs: 500, lat: lat + i * 0.001 + 0.0005, lon: lon + 0.0005 },
    ],
  };
}

/** A sealed message as the gateway or a pipeline would produce it. */
export function sealed(record: DerivedRecord | TelemetryRecord, key: StreamDataKey): OutgoingMessage {
  const s = codec.seal(record, key);
  return { key: record.type === 'derived' ? record.key : record.deviceId, value: Buffer.from(s.value), headers: { [RECORD_KEY_ID_HEADER]: s.keyId } };
}

export async function produce(bus: Bus, topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
  const producer = bus.producer();
  try {
    await producer.send(topic, messages);
  } finally {
    await producer.close();
  }
}

/** Resolves when `predicate` holds, polling every 10 ms; fails the test after `timeoutMs` (5 s). */
export const until = (predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> => waitUntil(predicate, timeoutMs, what, 10);
