import { randomUUID } from 'node:crypto';
import { filter, map } from 'rxjs';
import type { Bus, BusMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type ClassificationLabel, type DerivedRecord, type PowerReading, type TelemetryRecord } from '../../src/codec';
import { generateStreamKey, StreamKeyring, type StreamDataKey } from '../../src/crypto';
import { combinedLabel, definePipeline, frameRanges, type PipelineDefinition, type PipelineWorker } from '../../src/runtime';
import { aggregate, count, keyedWindow, mean, tumbling } from '../../src/stream';

export const T0 = Date.UTC(2026, 0, 1);
export const WINDOW_MS = 10_000;
export const SECRET_FVEY = makeLabel('SECRET', ['GBR', 'USA']);
export const CONFIDENTIAL_WIDE = makeLabel('CONFIDENTIAL', ['FRA', 'GBR', 'USA']);
export const SECRET_GBR = makeLabel('SECRET', ['GBR']);

export interface Keys {
  readonly telemetry: StreamDataKey;
  readonly derived: StreamDataKey;
  /** What a worker holds: the telemetry key (the state key is added by the worker). */
  readonly workerKeyring: () => StreamKeyring;
  /** What an analyst of the derived stream holds. */
  readonly analystKeyring: StreamKeyring;
}

export function makeKeys(): Keys {
  const telemetry = generateStreamKey('telemetry.power.k1');
  const derived = generateStreamKey('derived.power-10s.k1');
  return { telemetry, derived, workerKeyring: () => new StreamKeyring([telemetry]), analystKeyring: new StreamKeyring([derived]) };
}

/** Per-device 10 s tumbling count and mean battery over telemetry.power, labels and provenance carried. */
export function powerPipeline(options: { name?: string; ceiling?: ClassificationLabel } = {}): PipelineDefinition<'power'> {
  return definePipeline({
    name: options.name ?? 'power-10s',
    sources: ['telemetry.power'],
    ...(options.ceiling === undefined ? {} : { ceiling: options.ceiling }),
    watermarks: { maxOutOfOrderness: 5_000 },
    build: (events$, ctx) =>
      events$.pipe(
        ctx.state('stats', 
          keyedWindow({
            key: (r) => r.deviceId,
            window: tumbling(WINDOW_MS),
            allowedLateness: 60_000,
            aggregate: aggregate({ n: count(), battery: mean((r) => r.reading.batteryPct ?? 0), label: combinedLabel(), frames: frameRanges() }),
          }),
        ),
        filter((w) => w.type !== 'early'),
        map((w) => ({
          key: w.key,
          windowStartMs: w.window.start,
          windowEndMs: w.window.end,
          revision: w.revision,
          values: { n: w.value.n, batteryPct: w.value.battery },
          label: w.value.label,
          provenance: w.value.frames,
        })),
      ),
  });
}

export const deviceId = (i: number): string => `ugv-${String(i).padStart(2, '0')}`;

/**
 * Deterministic telemetry: `devices` devices, `frames` frames each (seq 1..frames), one
 * frame per second of event time with up to 3 s of jitter (inside the 5 s out-of-orderness,
 * so nothing is late), two power readings per frame. Odd devices are CONFIDENTIAL, even
 * ones SECRET; every fifth frame of device 1 is SECRET//GBR, so its windows combine labels.
 */
export function makeTelemetry(devices: number, frames: number): TelemetryRecord[] {
  const out: TelemetryRecord[] = [];
  for (let f = 1; f <= frames; f++) {
    for (let d = 0; d < devices; d++) {
      const jitter = ((f * 7 + d * 3) % 4) * 1000 - 1500;
      const label = d === 1 && f % 5 === 0 ? SECRET_GBR : d % 2 === 1 ? CONFIDENTIAL_WIDE : SECRET_FVEY;
      const readings: PowerReading[] = [
        { kind: 'power', offsetMs: 0, batteryPct: (f * 13 + d * 7) % 100, voltageV: 24 },
        { kind: 'power', offsetMs: 500, batteryPct: (f * 17 + d * 5) % 100, voltageV: null },
      ];
      out.push({ type: 'telemetry', deviceId: deviceId(d), seq: BigInt(f), eventTimeMs: T0 + f * 1000 + jitter, ingestTimeMs: T0 + f * 1000 + 2000, gatewayId: 'gw-1', kind: 'power', label, readings });
    }
  }
  return out;
}

/**
 * Sends sealed records to `topic`, each to partition `device index % partitions` (keyed by
 * device as the gateway does, but with the partition explicit so every bus places them alike).
 */
export async function produceTelemetry(bus: Bus, topic: string, records: readonly TelemetryRecord[], key: StreamDataKey, partitions: number): Promise<void> {
  const codec = new RecordCodec();
  const producer = bus.producer();
  try {
    const messages = records.map((r) => {
      const sealed = codec.seal(r, key);
      return { key: r.deviceId, partition: Number(r.deviceId.slice(4)) % partitions, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } };
    });
    for (let i = 0; i < messages.length; i += 200) await producer.send(topic, messages.slice(i, i + 200));
  } finally {
    await producer.close();
  }
}

/** Messages per partition `records` put on a topic of `partitions` partitions (by `produceTelemetry`). */
export function endOffsetsOf(records: readonly TelemetryRecord[], partitions: number, before: readonly number[] = []): number[] {
  const ends = Array.from({ length: partitions }, (_, p) => before[p] ?? 0);
  for (const r of records) ends[Number(r.deviceId.slice(4)) % partitions]++;
  return ends;
}

/** Resolves once the workers together have read every partition of `topic` up to `ends`. */
export async function waitForPositions(workers: readonly PipelineWorker[], topic: string, ends: readonly number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = new Map<number, number>();
    for (const w of workers) for (const p of w.positions()) if (p.topic === topic) at.set(p.partition, Math.max(at.get(p.partition) ?? 0, Number(p.offset)));
    if (ends.every((end, p) => end === 0 || at.get(p) === end)) return;
    if (Date.now() > deadline) throw new Error(`workers did not reach ${JSON.stringify(ends)} on ${topic}; at ${JSON.stringify([...at])}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads every message of `topic` up to `ends` (per partition) through a private consumer group. */
export async function readAll(bus: Bus, topic: string, ends: readonly number[], timeoutMs = 20_000): Promise<BusMessage[]> {
  const out: BusMessage[] = [];
  const next = ends.map(() => 0);
  const consumer = bus.consumer({ groupId: `test.reader.${randomUUID()}`, fromBeginning: true, maxWaitMs: 100 });
  let done!: () => void;
  const complete = new Promise<void>((r) => (done = r));
  const check = (): void => {
    if (ends.every((e, p) => (next[p] as number) >= e)) done();
  };
  try {
    await consumer.subscribe([topic]);
    await consumer.run({
      eachBatch: (b) => {
        out.push(...b.messages);
        next[b.partition] = Number(b.nextOffset);
        check();
      },
    });
    check();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([complete, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`readAll ${topic}: timed out`)), timeoutMs)))]);
    clearTimeout(timer);
  } finally {
    await consumer.close();
  }
  return out;
}

export interface DerivedView {
  /** Latest record per Kafka key, as a compacted reader would end up with. */
  readonly latest: Map<string, DerivedRecord>;
  /** (key, revision) pairs that were published with different values or labels: must stay empty. */
  readonly conflicts: string[];
  /** Messages read (re-productions included). */
  readonly messages: number;
  /** Distinct (key, revision) pairs: fewer than `messages` when results were re-produced. */
  readonly distinct: number;
}

/** Opens every derived message with the analyst's keyring; checks revisions never change values. */
export function derivedView(messages: readonly BusMessage[], keyring: StreamKeyring): DerivedView {
  const codec = new RecordCodec();
  const latest = new Map<string, DerivedRecord>();
  const seen = new Map<string, string>();
  const conflicts: string[] = [];
  const ordered = [...messages].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  for (const m of ordered) {
    const key = (m.key as Buffer).toString('utf8');
    const record = codec.open(m.value as Buffer, keyring.get((m.headers[RECORD_KEY_ID_HEADER] as Buffer).toString('utf8'))) as DerivedRecord;
    const body = JSON.stringify({ values: record.values, label: record.label, provenance: record.provenance.map((p) => [p.deviceId, String(p.firstSeq), String(p.lastSeq)]) });
    const id = `${key}#${record.revision}`;
    const before = seen.get(id);
    if (before !== undefined && before !== body) conflicts.push(id);
    seen.set(id, body);
    const prev = latest.get(key);
    if (prev === undefined || record.revision >= prev.revision) latest.set(key, record);
  }
  return { latest, conflicts, messages: messages.length, distinct: seen.size };
}

/** A comparable form of final results: key → values, revision, label. */
export function finalResults(view: DerivedView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of [...view.latest.keys()].sort()) {
    const r = view.latest.get(k) as DerivedRecord;
    out[k] = { values: r.values, revision: r.revision, label: r.label, provenance: r.provenance.map((p) => `${p.deviceId}:${p.firstSeq}-${p.lastSeq}`) };
  }
  return out;
}
