/**
 * Real derived records for the relay benches: the deployed pipelines (pipelines/) run over a
 * simulated fleet's telemetry on the in-memory bus, and what each publishes is returned as the
 * theatre's Kafka would hold it (sealed under the stream's derived key).
 */
import { ALL_PIPELINES } from '../../pipelines';
import { MemoryBus, type BusMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type Reading, type TelemetryRecord } from '../../src/codec';
import { generateStreamKey, StreamKeyring, type StreamDataKey } from '../../src/crypto';
import { startPipeline } from '../../src/runtime';
import { createFleet } from '../../src/sim';

const T0 = Date.UTC(2026, 2, 1);
const LABEL = makeLabel('SECRET', ['FRA', 'GBR', 'USA']);

/** One pipeline's output: its sealed records and the key that opens them. */
export interface DerivedStream {
  readonly key: StreamDataKey;
  readonly messages: BusMessage[];
}

/** Per pipeline name, what it published over `minutes` of a 62-device fleet (seed 15). */
export async function derivedRecords(minutes: number): Promise<Map<string, DerivedStream>> {
  const fleet = createFleet({ seed: 15, vehicles: 12, soldiers: 40, ugs: 8, uavs: 2 }, { startMs: T0 });
  const telemetryKey = generateStreamKey('telemetry.bench.k1');
  const codec = new RecordCodec();
  const bus = new MemoryBus();
  const kinds = new Set<string>(ALL_PIPELINES.flatMap((p) => [...p.sources]));
  await bus.admin().ensureTopics([...kinds].map((topic) => ({ topic, partitions: 1 })));
  const producer = bus.producer();
  const seqs = new Map<string, bigint>();
  const ends = new Map<string, number>();
  for (const r of fleet.readings(T0 + minutes * 60_000)) {
    const topic = `telemetry.${r.reading.kind}`;
    if (!kinds.has(topic)) continue;
    const seq = (seqs.get(r.deviceId) ?? 0n) + 1n;
    seqs.set(r.deviceId, seq);
    const rec: TelemetryRecord = { type: 'telemetry', deviceId: r.deviceId, seq, eventTimeMs: r.atMs, ingestTimeMs: r.atMs + 300, gatewayId: 'gw-bench', kind: r.reading.kind, label: LABEL, readings: [{ ...r.reading, offsetMs: 0 } as Reading] };
    const sealed = codec.seal(rec, telemetryKey);
    await producer.send(topic, [{ key: r.deviceId, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } }]);
    ends.set(topic, (ends.get(topic) ?? 0) + 1);
  }
  const out = new Map<string, DerivedStream>();
  for (const p of ALL_PIPELINES) {
    const derivedKey = generateStreamKey(`derived.${p.name}.k1`);
    const w = await startPipeline(p, { bus, keyring: new StreamKeyring([telemetryKey]), derivedKey, checkpointIntervalMs: 0 });
    // Until the worker has read its inputs, or has stopped advancing for 5 s (unit-picture on the
    // memory bus stops short of its last batch; what it published by then is measured).
    let last = '';
    let since = Date.now();
    for (;;) {
      const at = JSON.stringify(w.positions());
      if (at !== last) [last, since] = [at, Date.now()];
      if (Date.now() - since > 5000) break;
      const done = [...p.sources].every((t) => w.positions().some((x) => x.topic === t && Number(x.offset) >= (ends.get(t) ?? 0)) || (ends.get(t) ?? 0) === 0);
      if (done) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await w.checkpoint();
    await w.stop({ checkpoint: false });
    out.set(p.name, { key: derivedKey, messages: (bus.broker.topic(`derived.${p.name}`)?.logs ?? []).flatMap((l) => l.read(0, Number.MAX_SAFE_INTEGER)) });
  }
  await bus.close();
  return out;
}
