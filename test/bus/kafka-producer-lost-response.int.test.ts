import { KafkaBus, type BusMessage, type OutgoingMessage } from '../../src/bus';
import { startKafka, type KafkaService } from '../../scripts/services';
import { KafkaFaultProxy } from '../harness/kafka-fault-proxy';
import { readKafka } from '../edge/gateway/gateway-fixture';

const TOPIC = 'lost-response';
const batch = (tag: string, n: number): OutgoingMessage[] => Array.from({ length: n }, (_, i) => ({ key: 'one-key', value: Buffer.from(`${tag}${i}`) }));
const values = (msgs: readonly BusMessage[]): string[] => msgs.map((m) => (m.value as Buffer).toString());

// An idempotent producer numbers its batches per partition. When the broker writes a batch
// but the client never hears back (the broker died, the link broke), the client does not
// know whether that number was used. Sending the next, different batch under the same number
// is wrong either way: if it has as many records, the broker takes it for a retry of the
// written one, acknowledges it and drops it (silent loss); if not, the broker refuses it as
// out of order, and every batch after it, for good (a dead producer). Ours must do neither.
// This test owns its broker: only through a proxy that can lose Produce responses.
describe('Kafka producer after a lost produce response (broker wrote the batch, the client never heard)', () => {
  let proxy: KafkaFaultProxy;
  let kafka: KafkaService | undefined;
  let bus: KafkaBus | undefined;

  beforeAll(async () => {
    proxy = await KafkaFaultProxy.start();
    kafka = await startKafka({ advertisedPort: proxy.port });
    proxy.setTarget(kafka.port);
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    await kafka?.stop();
    await proxy?.close();
  });

  it('loses no later batch and keeps producing', async () => {
    bus = new KafkaBus({ brokers: [kafka?.brokers as string], clientId: 'lost-response', logLevel: 'nothing', retries: 1, maxRetryTimeMs: 200, sendTimeoutMs: 20_000 });
    const admin = bus.admin();
    await admin.ensureTopics([{ topic: TOPIC, partitions: 1 }]);
    const producer = bus.producer();
    await producer.send(TOPIC, batch('a', 5));

    proxy.loseProduceResponses(true);
    await expect(producer.send(TOPIC, batch('b', 10))).rejects.toThrow();
    expect(proxy.lostResponses).toBeGreaterThan(0);
    proxy.loseProduceResponses(false);

    // As many records as the batch whose answer was lost: must not be taken for its retry.
    await producer.send(TOPIC, batch('c', 10));
    // A different count: must not be refused as out of order.
    await producer.send(TOPIC, batch('d', 3));
    await producer.send(TOPIC, batch('e', 7));

    const want = [...batch('a', 5), ...batch('c', 10), ...batch('d', 3), ...batch('e', 7)].map((m) => (m.value as Buffer).toString());
    const got = await readKafka(kafka?.brokers as string, [TOPIC], (msgs) => want.every((v) => values(msgs).includes(v)), 30_000, (msgs) => `; have ${values(msgs).join(' ')}`);
    const seen = values(got);
    // Every acknowledged record is there once, in send order; b was written by the broker
    // (its answer alone was lost), so it is there too, once.
    expect(seen).toEqual(expect.arrayContaining(want));
    expect(seen.filter((v) => v.startsWith('b'))).toEqual(batch('b', 10).map((m) => (m.value as Buffer).toString()));
    expect(seen.filter((v) => !v.startsWith('b'))).toEqual(want);
    await admin.close();
  }, 120_000);
});
