import { createServer, type AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
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
