import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type Producer } from 'kafkajs';
import { KafkaBus } from '../../src/bus';

// Proves the harness runs a real Kafka: keyed produce, a consumer group of two splitting
// three partitions, every message exactly once between them, per-key order kept.
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');

describe('Kafka (real KRaft broker from the harness)', () => {
  const kafka = new Kafka({ clientId: `vigil-test-${randomUUID()}`, brokers, logLevel: logLevel.NOTHING });
  const topic = `vigil-test.smoke.${randomUUID()}`;
  let admin: Admin;
  let producer: Producer | undefined;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.disconnect()));
    await producer?.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('splits 10,000 keyed messages across a two-member group exactly once, in order per key', async () => {
    // Made through the bus, which returns once every partition's leader serves it (kafkajs's
    // own waitForLeaders returned before that under CPU load).
    const bus = new KafkaBus({ brokers, logLevel: 'nothing' });
    await bus.admin().ensureTopics([{ topic, partitions: 3 }]);
    await bus.close();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]?.partitions).toHaveLength(3);
    for (const p of meta.topics[0]?.partitions ?? []) expect(p.leader).toBeGreaterThanOrEqual(0);

    // Both members join and hold every partition between them before anything is produced,
    // so no rebalance can hand a partition over mid-stream.
    const groupId = `vigil-test-group-${randomUUID()}`;
    const seen = new Map<string, number[]>();
    const byMember = [0, 0];
    const assigned: Array<Array<number>> = [[], []];
    let total = 0;
    const N = 10000;
    let done!: () => void;
    const allIn = new Promise<void>((r) => (done = r));

    for (let m = 0; m < 2; m++) {
      const c = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
      consumers.push(c);
      c.on(c.events.GROUP_JOIN, (e) => {
        assigned[m] = (e.payload.memberAssignment[topic] ?? []) as number[];
      });
      await c.connect();
      await c.subscribe({ topics: [topic], fromBeginning: true });
      await c.run({
        eachMessage: async ({ message }) => {
          const key = (message.key as Buffer).toString();
          const seq = Number((message.value as Buffer).toString());
          let list = seen.get(key);
          if (!list) seen.set(key, (list = []));
          list.push(seq);
          byMember[m] = (byMember[m] as number) + 1;
          if (++total === N) done();
        },
      });
    }
    const deadline = Date.now() + 60000;
    while (assigned[0]!.length + assigned[1]!.length !== 3 || assigned[0]!.length === 0 || assigned[1]!.length === 0) {
      if (Date.now() > deadline) throw new Error(`group never settled: ${JSON.stringify(assigned)}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const KEYS = 50;
    const messages = Array.from({ length: N }, (_, i) => ({ key: `device-${i % KEYS}`, value: String(Math.floor(i / KEYS)) }));
    for (let i = 0; i < N; i += 1000) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) });
    }
    await allIn;
    // Give any duplicate a moment to show up before we count.
    await new Promise((r) => setTimeout(r, 500));

    expect(total).toBe(N);
    expect(seen.size).toBe(KEYS);
    for (const [key, seqs] of seen) {
      expect({ key, seqs }).toEqual({ key, seqs: Array.from({ length: N / KEYS }, (_, i) => i) });
    }
    expect(byMember[0]).toBeGreaterThan(0);
    expect(byMember[1]).toBeGreaterThan(0);
    expect((byMember[0] as number) + (byMember[1] as number)).toBe(N);
  });
});
