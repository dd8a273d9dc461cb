/**
 * What compression saves on the relay's link (issue 15): real derived records, made by the
 * deployed pipelines (pipelines/) from a simulated fleet's telemetry on the in-memory bus,
 * measured in batches as the relay sends them, with node:zlib:
 *
 * - `sealed`: what the relay sends today: sealed record values (ciphertext) + Kafka keys +
 *   headers (key id, relay id), concatenated per batch — what kafkajs' gzip compresses;
 * - `plaintext`: the same records' msgpack plaintext, i.e. what compressing BEFORE sealing
 *   would see;
 * - `sealed-v2`: what the relay sends with `relay.recordCompression: deflate`: each record
 *   compressed (raw DEFLATE) then sealed, record version 2 (docs/wire-format.md §7).
 *
 * Codecs: none, gzip level 6 (kafkajs' codec), brotli quality 5 and 11. zstd and lz4 are not
 * available (node 20's zlib has neither; their npm codecs are not installed).
 *
 * Run: `npm run bench relay-compression`. Env: VIGIL_BENCH_RELAY_MINUTES of fleet time [10].
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { ALL_PIPELINES } from '../pipelines';
import { MemoryBus, type BusMessage } from '../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type Reading, type TelemetryRecord } from '../src/codec';
import { generateStreamKey, StreamKeyring } from '../src/crypto';
import { startPipeline } from '../src/runtime';
import { createFleet } from '../src/sim';
import { formatTable, writeReport, type BenchRow } from './lib/report';

const T0 = Date.UTC(2026, 2, 1);
const MINUTES = Number(process.env.VIGIL_BENCH_RELAY_MINUTES ?? 10);
/** Records measured per stream at most. */
const SAMPLE = 5000;
const LABEL = makeLabel('SECRET', ['FRA', 'GBR', 'USA']);

type Measured = BusMessage & { plain: Uint8Array; v2: Uint8Array };

async function derivedRecords(): Promise<Map<string, Measured[]>> {
  const fleet = createFleet({ seed: 15, vehicles: 12, soldiers: 40, ugs: 8, uavs: 2 }, { startMs: T0 });
  const telemetryKey = generateStreamKey('telemetry.bench.k1');
  const codec = new RecordCodec();
  const bus = new MemoryBus();
  const kinds = new Set<string>(ALL_PIPELINES.flatMap((p) => [...p.sources]));
  await bus.admin().ensureTopics([...kinds].map((topic) => ({ topic, partitions: 1 })));
  const producer = bus.producer();
  const seqs = new Map<string, bigint>();
  const ends = new Map<string, number>();
  for (const r of fleet.readings(T0 + MINUTES * 60_000)) {
    const topic = `telemetry.${r.reading.kind}`;
    if (!kinds.has(topic)) continue;
    const seq = (seqs.get(r.deviceId) ?? 0n) + 1n;
    seqs.set(r.deviceId, seq);
    const rec: TelemetryRecord = { type: 'telemetry', deviceId: r.deviceId, seq, eventTimeMs: r.atMs, ingestTimeMs: r.atMs + 300, gatewayId: 'gw-bench', kind: r.reading.kind, label: LABEL, readings: [{ ...r.reading, offsetMs: 0 } as Reading] };
    const sealed = codec.seal(rec, telemetryKey);
    await producer.send(topic, [{ key: r.deviceId, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } }]);
    ends.set(topic, (ends.get(topic) ?? 0) + 1);
  }
  const out = new Map<string, Measured[]>();
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
    const msgs = (bus.broker.topic(`derived.${p.name}`)?.logs ?? []).flatMap((l) => l.read(0, Number.MAX_SAFE_INTEGER));
    const ring = new StreamKeyring([derivedKey]);
    const relayKey = generateStreamKey(`relay.${p.name}.k1`);
    // As the relay sends them: re-sealed (same size as any sealing), plus the relay id header.
    out.set(
      p.name,
      msgs.map((m) => {
        const record = codec.open(m.value as Buffer, ring.get(m.headers[RECORD_KEY_ID_HEADER]?.toString() ?? ''));
        return { ...m, plain: codec.encodePlaintext(record), v2: codec.seal(record, relayKey, { compress: true }).value } as Measured;
      }),
    );
  }
  await bus.close();
  return out;
}

function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const CODECS: ReadonlyArray<[string, (b: Buffer) => number]> = [
  ['none', (b) => b.length],
  ['gzip-6', (b) => gzipSync(b, { level: 6 }).length],
  ['brotli-5', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }).length],
  ['brotli-11', (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length],
];

async function main(): Promise<void> {
  const streams = await derivedRecords();
  const rows: BenchRow[] = [];
  for (const [name, all] of streams) {
    if (all.length === 0) continue;
    const msgs = all.slice(0, SAMPLE);
    for (const size of [1, 100, 500]) {
      for (const form of ['sealed', 'sealed-v2', 'plaintext'] as const) {
        const chunks = batches(msgs, size).map((b) =>
          Buffer.concat(
            b.flatMap((m) => {
              const relayId = Buffer.from(`${m.key?.toString() ?? ''}#0`);
              if (form === 'plaintext') return [m.key ?? Buffer.alloc(0), Buffer.from(m.plain), relayId];
              return [m.key ?? Buffer.alloc(0), form === 'sealed' ? (m.value as Buffer) : Buffer.from(m.v2), Buffer.from('derived.x.k1'), relayId];
            }),
          ),
        );
        const raw = chunks.reduce((n, c) => n + c.length, 0);
        const row: Record<string, string | number> = { stream: `derived.${name}`, records: msgs.length, batch: size, form, 'bytes/record': Number((raw / msgs.length).toFixed(1)) };
        for (const [codec, f] of CODECS.slice(1)) {
          if (codec === 'brotli-11' && size === 1) {
            // Per record, quality 11 costs milliseconds each: not a setting for a relay.
            row[`${codec} ratio`] = 'n/a';
            row[`${codec} µs/record`] = 'n/a';
            continue;
          }
          const t0 = process.hrtime.bigint();
          const packed = chunks.reduce((n, c) => n + f(c), 0);
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          row[`${codec} ratio`] = Number((raw / packed).toFixed(2));
          row[`${codec} µs/record`] = Number(((ms * 1000) / msgs.length).toFixed(1));
        }
        rows.push(row);
      }
    }
  }
  console.log(formatTable(rows));
  console.log(`\nwritten: ${writeReport('relay-compression', rows, { minutes: MINUTES })}`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
