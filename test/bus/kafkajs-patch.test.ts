import { readFileSync } from 'node:fs';
import { Partitioners } from 'kafkajs';

/**
 * patches/kafkajs+2.2.4.patch (applied by `npm ci`'s postinstall, patch-package) makes
 * kafkajs group a send's messages per partition in linear time. Unpatched, a send of n
 * messages to one partition costs O(n²) copies: a state commit of 1,700 changelog records
 * per request spent ~7% of the worker's CPU there, plus the garbage.
 */
describe('kafkajs, as patched', () => {
  const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const group = require(path) as (o: { topic: string; partitionMetadata: unknown[]; messages: Array<{ i: number; p: number }>; partitioner: (o: { message: { p: number } }) => number }) => Record<string, Array<{ i: number }>>;

  it('has the linear groupMessagesPerPartition (the postinstall ran)', () => {
    expect(readFileSync(path, 'utf8')).toContain('Patched by Vigil');
  });

  it('groups messages per partition, each in send order, as the original did', () => {
    const messages = Array.from({ length: 20_000 }, (_, i) => ({ i, p: (i * 7) % 5 }));
    const out = group({ topic: 't', partitionMetadata: [{}, {}, {}, {}, {}], messages, partitioner: ({ message }) => message.p });
    expect(Object.keys(out).sort()).toEqual(['0', '1', '2', '3', '4']);
    for (const [p, list] of Object.entries(out)) {
      expect(list).toEqual(messages.filter((m) => m.p === Number(p)));
    }
    expect(group({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 })).toEqual({});
  });
});

/**
 * The same patch encodes the records of an uncompressed produce request straight into one
 * buffer (kafkajs/src/protocol/recordBatch/record/v0/encodeRecords.js), instead of an Encoder
 * per record and a Buffer per varint: the batch must be byte for byte what kafkajs's own
 * Record + RecordBatch make, for every message shape the gateway, workers and relay send and
 * the odd ones kafkajs accepts.
 */
describe('kafkajs record encoding, as patched', () => {
  type Msg = { key?: Buffer | string | null; value: Buffer | string | null; headers?: Record<string, Buffer | string | Array<Buffer | string>>; timestamp?: string | number };
  interface Encoded {
    buffer: Buffer;
  }
  /* eslint-disable @typescript-eslint/no-require-imports */
  const encodeRecords = require('kafkajs/src/protocol/recordBatch/record/v0/encodeRecords') as (m: Msg[], now: number, first: number | string) => Buffer | null;
  const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (m: Msg & { offsetDelta: number; timestampDelta: number }) => Encoded;
  const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: Record<string, unknown>) => Promise<Encoded> };
  /* eslint-enable @typescript-eslint/no-require-imports */

  // A small seeded generator: the cases replay.
  let seed = 42;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const text = (n: number): string => Array.from({ length: n }, () => pick(['a', 'Z', '0', 'é', '€', '𝄞', '/', ' '])).join('');
  const field = (): Buffer | string | null => pick([() => null, () => bytes(Math.floor(rnd() * 300)), () => text(Math.floor(rnd() * 40)), () => Buffer.alloc(0), () => (rnd() < 0.1 ? bytes(3000) : text(3))])();
  const message = (now: number): Msg => {
    const m: Msg = { value: field() };
    if (rnd() < 0.8) m.key = field();
    if (rnd() < 0.7) {
      const h: NonNullable<Msg['headers']> = {};
      for (let i = Math.floor(rnd() * 4); i > 0; i--) h[text(1 + Math.floor(rnd() * 8))] = rnd() < 0.2 ? [bytes(3), text(5)] : pick([bytes(8), text(6), 'vigil-key-id']);
      m.headers = h;
    }
    if (rnd() < 0.3) m.timestamp = pick([now - Math.floor(rnd() * 1e9), String(now + 5), now + 1e7]);
    return m;
  };

  /** What unpatched kafkajs does in the produce request's partition encoder. */
  async function original(messages: Msg[], now: number, compression = 0): Promise<Buffer> {
    const stamps = messages.map((m) => m.timestamp).filter((t) => t !== undefined).sort();
    const ts = stamps.length === 0 ? [now] : stamps;
    const first = ts[0] as number;
    const records = messages.map((m, i) => Record({ ...m, offsetDelta: i, timestampDelta: Number(m.timestamp || now) - first }));
    return (await RecordBatch({ compression, records, firstTimestamp: first, maxTimestamp: ts[ts.length - 1], lastOffsetDelta: records.length - 1, firstSequence: 7 })).buffer;
  }

  async function patched(messages: Msg[], now: number, compression = 0): Promise<Buffer> {
    const stamps = messages.map((m) => m.timestamp).filter((t) => t !== undefined).sort();
    const ts = stamps.length === 0 ? [now] : stamps;
    const first = ts[0] as number;
    const encodedRecords = encodeRecords(messages, now, first);
    expect(encodedRecords).not.toBeNull();
    return (await RecordBatch({ compression, records: [], encodedRecords, firstTimestamp: first, maxTimestamp: ts[ts.length - 1], lastOffsetDelta: messages.length - 1, firstSequence: 7 })).buffer;
  }

  it('makes the same bytes as Record + RecordBatch for 500 random batches', async () => {
    const now = 1_764_950_000_000;
    for (let b = 0; b < 500; b++) {
      const messages = Array.from({ length: 1 + Math.floor(rnd() * (b % 10 === 0 ? 100 : 12)) }, () => message(now));
      const [want, got] = [await original(messages, now), await patched(messages, now)];
      if (!got.equals(want)) throw new Error(`batch ${b} differs: ${JSON.stringify(messages).slice(0, 300)}`);
    }
  });

  it('makes the same batch header in one buffer: idempotent and transactional fields, 64-bit producer ids, timestamps as strings', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): unknown; fromString(v: string): unknown };
    const now = 1_764_950_000_000;
    for (const [i, producerId] of [Long.fromValue(-1), Long.fromString('123456789012345'), Long.fromValue(0)].entries()) {
      const messages = Array.from({ length: 3 + i }, () => message(now));
      const common = { firstTimestamp: String(now - 5), maxTimestamp: now + 9, lastOffsetDelta: messages.length - 1, producerId, producerEpoch: 3 + i, firstSequence: 2_147_483_000 + i, transactional: i === 1 };
      const records = messages.map((m, k) => Record({ ...m, offsetDelta: k, timestampDelta: Number(m.timestamp || now) - (now - 5) }));
      const want = (await RecordBatch({ ...common, records })).buffer;
      const got = (await RecordBatch({ ...common, records: [], encodedRecords: encodeRecords(messages, now, now - 5) })).buffer;
      expect(got.equals(want)).toBe(true);
    }
  });

  it('makes the same gzip-compressed batches (the records encoded at once, compressed as one) for 100 random batches', async () => {
    const now = 1_764_950_000_000;
    const GZIP = 1;
    for (let b = 0; b < 100; b++) {
      const messages = Array.from({ length: 1 + Math.floor(rnd() * (b % 10 === 0 ? 100 : 12)) }, () => message(now));
      const [want, got] = [await original(messages, now, GZIP), await patched(messages, now, GZIP)];
      if (!got.equals(want)) throw new Error(`gzip batch ${b} differs: ${JSON.stringify(messages).slice(0, 300)}`);
      // The batch's attributes say gzip (byte 22 of the batch: offset 8, length 4, epoch 4, magic 1, crc 4, attributes 2).
      expect(got.readInt16BE(21) & 7).toBe(GZIP);
    }
  });

  it('makes the same bytes at varint edges (lengths 63/64, 8191/8192, offsets past 63)', async () => {
    const now = 1_764_950_000_000;
    for (const n of [0, 1, 63, 64, 65, 127, 128, 8191, 8192, 8193]) {
      const messages = Array.from({ length: 66 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(n, i), headers: { [`h${'x'.repeat(i)}`]: Buffer.alloc(i) } }));
      expect((await patched(messages, now)).equals(await original(messages, now))).toBe(true);
    }
  });

  it('declines shapes it does not take, so kafkajs behaves as before', () => {
    const now = Date.now();
    expect(encodeRecords([{ value: 5 as unknown as string }], now, now)).toBeNull();
    expect(encodeRecords([{ value: 'v', headers: { h: null as unknown as string } }], now, now)).toBeNull();
    expect(encodeRecords([{ value: 'v', timestamp: 'not a time' }], now, now)).toBeNull();
    expect(encodeRecords([{ value: 'v', key: 'k' }], now, now)).toBeInstanceOf(Buffer);
  });
});

/**
 * The same patch computes the default partitioner's murmur2 in 32-bit integer arithmetic
 * (it built a Long object per step: ~4 µs a key here) and lists the available partitions only
 * for messages without a key. Every key must keep its partition: the hash must equal the
 * original for every key, or data already in Kafka would be split from its device.
 */
describe('kafkajs partitioning, as patched', () => {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer | string) => number;
  type LongT = { multiply(o: LongT | number): LongT; xor(o: LongT | number): LongT; toInt(): number };
  const Long = require('kafkajs/src/utils/long') as { fromValue(v: LongT | number): LongT };
  /* eslint-enable @typescript-eslint/no-require-imports */

  /** kafkajs 2.2.4's murmur2, as it was (Long arithmetic), the reference. */
  function original(key: Buffer | string): number {
    const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key));
    const length = data.length;
    const M = Long.fromValue(0x5bd1e995);
    let h = Long.fromValue(Long.fromValue(0x9747b28c).xor(length));
    for (let i = 0; i < Math.floor(length / 4); i++) {
      const i4 = i * 4;
      let k = Long.fromValue((data[i4] as number) + ((data[i4 + 1] as number) << 8) + ((data[i4 + 2] as number) << 16) + ((data[i4 + 3] as number) << 24));
      k = k.multiply(M);
      k = k.xor(k.toInt() >>> 24);
      k = Long.fromValue(k).multiply(M);
      h = h.multiply(M);
      h = h.xor(k);
    }
    const tail = length & ~3;
    const rest = length % 4;
    if (rest >= 3) h = h.xor((data[tail + 2] as number) << 16);
    if (rest >= 2) h = h.xor((data[tail + 1] as number) << 8);
    if (rest >= 1) h = h.xor(data[tail] as number).multiply(M);
    h = h.xor(h.toInt() >>> 13);
    h = h.multiply(M);
    h = h.xor(h.toInt() >>> 15);
    return h.toInt();
  }

  it('hashes 50,000 keys (device ids, UTF-8, random bytes, 0-64 bytes) exactly as the original', () => {
    let seed = 3;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 50_000; i++) {
      const n = i % 65;
      const key = i % 3 === 0 ? Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256))) : i % 3 === 1 ? `uav-${i}${'é'.repeat(i % 5)}` : `soldier-${Math.floor(rnd() * 1e9)}`;
      if (murmur2(key) !== original(key)) throw new Error(`key ${JSON.stringify(key)}: ${murmur2(key)} != ${original(key)}`);
    }
  });

  it('keeps the partitioner: a key decides the partition, a message without one goes round-robin over partitions with a leader', () => {
    const partition = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2, 3, 4, 5].map((partitionId) => ({ partitionId, leader: partitionId === 2 ? -1 : 1, partitionErrorCode: 0, replicas: [], isr: [] }));
    for (const key of ['uav-0042', 'soldier-17', '']) {
      expect(partition({ topic: 't', partitionMetadata, message: { key, value: 'v' } })).toBe((original(key) & 0x7fffffff) % 6);
    }
    expect(partition({ topic: 't', partitionMetadata, message: { key: 'k', value: 'v', partition: 4 } })).toBe(4);
    const keyless = new Set(Array.from({ length: 50 }, () => partition({ topic: 't', partitionMetadata, message: { value: 'v' } })));
    expect([...keyless].sort()).toEqual([0, 1, 3, 4, 5]);
  });
});

/**
 * The record batch CRC-32C (kafkajs/src/protocol/recordBatch/crc32C/index.js) is computed by
 * @node-rs/crc32 in native code instead of a byte-at-a-time JavaScript table: it was 8.5% of
 * the gateway's CPU at 6,000 frames/s (profile, issue 16). The value must be the table's.
 */
describe('kafkajs record batch CRC-32C, as patched', () => {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const crc = require('kafkajs/src/protocol/recordBatch/crc32C') as ((b: Buffer) => number) & { native: boolean };
  const table = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C') as (b: Buffer) => number;
  /* eslint-enable @typescript-eslint/no-require-imports */

  it('runs native here', () => {
    expect(crc.native).toBe(true);
  });

  it('gives the table implementation’s value, unsigned, on any bytes (empty, odd lengths, views into a larger buffer)', () => {
    expect(crc(Buffer.alloc(0))).toBe(0);
    // The CRC-32C check value of the ASCII digits 1-9.
    expect(crc(Buffer.from('123456789'))).toBe(0xe3069283);
    let seed = 11;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const big = Buffer.from(Array.from({ length: 70_000 }, () => Math.floor(rnd() * 256)));
    for (let i = 0; i < 400; i++) {
      const start = Math.floor(rnd() * 1000);
      const len = i < 100 ? i : Math.floor(rnd() * 69_000);
      const view = big.subarray(start, start + len);
      const want = table(view);
      const got = crc(view);
      if (got !== want) throw new Error(`length ${len} at ${start}: ${got} != ${want}`);
      expect(got).toBeGreaterThanOrEqual(0);
    }
  });
});
