import { createServer, type AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { KafkaBus } from '../../src/bus';
import { busContract } from './bus.contract';

// The contract against the real KRaft broker the integration harness starts.
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');

/** A loopback port where nothing listens (bound, read, released). */
let freePort = 0;
beforeAll(async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  freePort = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
});

busContract('kafka', {
  create: () => new KafkaBus({ brokers, clientId: 'vigil-test-bus', logLevel: 'nothing', retries: 3, sendTimeoutMs: 10_000 }),
  unreachable: () =>
    new KafkaBus({ brokers: [`127.0.0.1:${freePort}`], clientId: 'vigil-test-bus-down', logLevel: 'nothing', connectionTimeoutMs: 500, retries: 2, maxRetryTimeMs: 500, sendTimeoutMs: 5_000 }),
  consumerDefaults: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 5_000, maxWaitMs: 200 },
  patienceMs: 20_000,
});

describe('KafkaBus.bytesSent', () => {
  it('counts the bytes its connections wrote: a gzipped batch of repetitive records costs less than the records, an uncompressed one more', async () => {
    const topic = `vigil-test.bytes.${randomUUID()}`;
    const plain = new KafkaBus({ brokers, clientId: 'vigil-test-bytes-plain', logLevel: 'nothing' });
    const gzip = new KafkaBus({ brokers, clientId: 'vigil-test-bytes-gzip', logLevel: 'nothing', compression: 'gzip' });
    try {
      const admin = plain.admin();
      await admin.ensureTopics([{ topic, partitions: 1 }]);
      await admin.close();
      // 200 records of 1,000 bytes each, the same text: 200,000 bytes of values.
      const messages = Array.from({ length: 200 }, (_, i) => ({ key: `k-${i}`, value: Buffer.alloc(1000, 'vigil ') }));
      const records = 200 * 1000;
      const sent = async (bus: KafkaBus): Promise<number> => {
        const p = bus.producer();
        await p.send(topic, messages.slice(0, 1)); // connect and learn the metadata first
        const before = bus.bytesSent();
        await p.send(topic, messages);
        const n = bus.bytesSent() - before;
        await p.close();
        return n;
      };
      const plainBytes = await sent(plain);
      const gzipBytes = await sent(gzip);
      expect(plainBytes).toBeGreaterThan(records);
      expect(plainBytes).toBeLessThan(records * 1.2);
      expect(gzipBytes).toBeGreaterThan(0);
      expect(gzipBytes).toBeLessThan(records / 10);
      // Closed connections stay counted.
      const total = plain.bytesSent();
      await plain.close();
      expect(plain.bytesSent()).toBe(total);
    } finally {
      const admin = gzip.admin();
      await admin.deleteTopics([topic]).catch(() => undefined);
      await admin.close();
      await plain.close();
      await gzip.close();
    }
  }, 60_000);
});

describe('LZ4 record batches (Vigil\'s codec on lz4-napi)', () => {
  it('the broker takes them (it decompresses each batch to validate it) and a reader that writes none reads them back, values intact, at a fraction of the bytes', async () => {
    const topic = `vigil-test.lz4.${randomUUID()}`;
    const lz4 = new KafkaBus({ brokers, clientId: 'vigil-test-lz4', logLevel: 'nothing', compression: 'lz4' });
    const reader = new KafkaBus({ brokers, clientId: 'vigil-test-lz4-reader', logLevel: 'nothing' });
    try {
      const admin = lz4.admin();
      await admin.ensureTopics([{ topic, partitions: 2 }]);
      await admin.close();
      // Repetitive values (they compress) and random ones (they do not), several batches.
      const messages = Array.from({ length: 600 }, (_, i) => ({ key: `k-${i}`, value: i % 2 === 0 ? Buffer.alloc(1000, `vigil ${i} `) : randomBytes(300), headers: { n: String(i) } }));
      const p = lz4.producer();
      await p.send(topic, messages.slice(0, 1));
      const before = lz4.bytesSent();
      for (let i = 1; i < messages.length; i += 200) await p.send(topic, messages.slice(i, i + 200));
      const wire = lz4.bytesSent() - before;
      await p.close();
      const raw = messages.slice(1).reduce((n, m) => n + m.value.length, 0);
      expect(wire).toBeLessThan(raw / 2);
      const got = new Map<string, Buffer>();
      const c = reader.consumer({ groupId: `vigil-test-lz4-${randomUUID()}`, fromBeginning: true, maxWaitMs: 200 });
      await c.subscribe([topic]);
      await c.run({
        eachBatch: async (batch) => {
          for (const m of batch.messages) got.set(m.key?.toString() ?? '', m.value as Buffer);
        },
      });
      const t0 = Date.now();
      while (got.size < messages.length && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
      await c.close();
      expect(got.size).toBe(messages.length);
      for (const m of messages) expect(got.get(m.key)?.equals(m.value)).toBe(true);
    } finally {
      const admin = reader.admin();
      await admin.deleteTopics([topic]).catch(() => undefined);
      await admin.close();
      await lz4.close();
      await reader.close();
    }
  }, 90_000);
});
