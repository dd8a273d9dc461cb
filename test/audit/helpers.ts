import type { MemoryBus} from '../../src/bus';
import { type OutgoingMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type Reading, type ReadingKind } from '../../src/codec';
import type { StreamDataKey } from '../../src/crypto';

const codec = new RecordCodec();

function reading(kind: ReadingKind, n: number): Reading {
  switch (kind) {
    case 'vitals':
      return { kind, offsetMs: 0, heartRateBpm: 60 + (n % 40), spo2Pct: 97, skinTempC: 33, posture: 'standing' };
    default:
      return { kind: 'power', offsetMs: 0, batteryPct: n % 101, voltageV: 24 };
  }
}

/** A gateway's record of frame `seq` of `deviceId`: the Kafka message as it would write it. */
export function telemetryMessage(deviceId: string, seq: bigint, key: StreamDataKey, kind: ReadingKind = 'power'): OutgoingMessage {
  const at = Date.UTC(2026, 10, 28, 10, 0, 0) + Number(seq % 100_000n);
  const sealed = codec.seal({ type: 'telemetry', deviceId, seq, eventTimeMs: at, ingestTimeMs: at, gatewayId: 'gw-test', kind, label: makeLabel('RESTRICTED', ['GBR']), readings: [reading(kind, Number(seq % 1000n))] }, key);
  return { key: deviceId, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } };
}

/** Writes the frames `seqs` of `deviceId`, in that order, to `topic`. */
export async function store(bus: MemoryBus, topic: string, deviceId: string, seqs: readonly number[], key: StreamDataKey, kind: ReadingKind = 'power'): Promise<void> {
  const producer = bus.producer();
  await producer.send(topic, seqs.map((s) => telemetryMessage(deviceId, BigInt(s), key, kind)));
  await producer.close();
}

/** Acked-log lines for `seqs` of `deviceId`. */
export function ackedLines(deviceId: string, seqs: readonly number[]): string[] {
  return seqs.map((s) => JSON.stringify({ deviceId, seq: String(s) }));
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
