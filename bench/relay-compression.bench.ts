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
 * Codecs: none, gzip level 6 (kafkajs' codec), lz4 (Vigil's kafkajs codec on lz4-napi, LZ4
 * frames: `relay.compression: lz4`), brotli quality 5 and 11. zstd is not measured (node 20's
 * zlib has none; its npm bindings build from source).
 *
 * Run: `npm run bench relay-compression`. Env: VIGIL_BENCH_RELAY_MINUTES of fleet time [10].
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { RECORD_KEY_ID_HEADER, RecordCodec } from '../src/codec';
import { generateStreamKey, StreamKeyring } from '../src/crypto';
import { lz4FrameSize, type BusMessage } from '../src/bus';
import { derivedRecords as pipelineOutputs } from './lib/derived-records';
import { formatTable, writeReport, type BenchRow } from './lib/report';

const MINUTES = Number(process.env.VIGIL_BENCH_RELAY_MINUTES ?? 10);
/** Records measured per stream at most. */
const SAMPLE = 5000;

type Measured = BusMessage & { plain: Uint8Array; v2: Uint8Array };

async function derivedRecords(): Promise<Map<string, Measured[]>> {
  const codec = new RecordCodec();
  const out = new Map<string, Measured[]>();
  for (const [name, { key, messages }] of await pipelineOutputs(MINUTES)) {
    const ring = new StreamKeyring([key]);
    const relayKey = generateStreamKey(`relay.${name}.k1`);
    // As the relay sends them: re-sealed (same size as any sealing), plus the relay id header.
    out.set(
      name,
      messages.map((m) => {
        const record = codec.open(m.value as Buffer, ring.get(m.headers[RECORD_KEY_ID_HEADER]?.toString() ?? ''));
        return { ...m, plain: codec.encodePlaintext(record), v2: codec.seal(record, relayKey, { compress: true }).value } as Measured;
      }),
    );
  }
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
  ['lz4', (b) => lz4FrameSize(b)],
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
