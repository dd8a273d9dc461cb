/**
 * Bus throughput: produce (one message per send, N concurrent callers, so group commit does
 * the batching) and end-to-end consume through a two-member group, on the memory bus and,
 * when VIGIL_KAFKA_BROKERS is set (e.g. from `npm run services`), on Kafka.
 * `npx tsx bench/bus.bench.ts`.
 */
import { randomUUID } from 'node:crypto';
import { KafkaBus, MemoryBus, type Bus } from '../src/bus';
import { writeReport, type BenchRow } from './lib/report';

const VALUE = Buffer.alloc(300, 7);
const DEVICES = 500;
const PARTITIONS = 6;

async function produce(bus: Bus, topic: string, concurrency: number, ms: number): Promise<{ count: number; rate: number; meanLatencyMs: number }> {
  const producer = bus.producer();
  let count = 0;
  let latency = 0;
  const deadline = Date.now() + ms;
  const t0 = process.hrtime.bigint();
  const loop = async (k: number): Promise<void> => {
    for (let i = k; Date.now() < deadline; i += concurrency) {
      const s = process.hrtime.bigint();
      await producer.send(topic, [{ key: `dev-${i % DEVICES}`, value: VALUE, headers: { 'vigil-key-id': 'k1' } }]);
      latency += Number(process.hrtime.bigint() - s);
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => loop(k)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await producer.close();
  return { count, rate: count / seconds, meanLatencyMs: latency / count / 1e6 };
}

async function consumeAll(bus: Bus, topic: string, expected: number): Promise<number> {
  let n = 0;
  const groupId = `bench-${randomUUID()}`;
  const members = [bus.consumer({ groupId, fromBeginning: true, maxWaitMs: 100 }), bus.consumer({ groupId, fromBeginning: true, maxWaitMs: 100 })];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    members.map(async (c) => {
      await c.subscribe([topic]);
      await c.run({
        eachBatch: async (b) => {
          n += b.messages.length;
          await c.commit([{ topic: b.topic, partition: b.partition, offset: b.nextOffset }]);
        },
      });
    }),
  );
  while (n < expected) await new Promise((r) => setTimeout(r, 5));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(members.map((c) => c.close()));
  return expected / seconds;
}

async function scenario(name: string, bus: Bus, rows: BenchRow[], ms: number): Promise<void> {
  const admin = bus.admin();
  const topics: string[] = [];
  try {
    for (const concurrency of [1, 64, 1024]) {
      const topic = `bench.bus.${randomUUID()}`;
      topics.push(topic);
      await admin.ensureTopics([{ topic, partitions: PARTITIONS }]);
      const p = await produce(bus, topic, concurrency, ms);
      const consumeRate = concurrency === 1024 ? await consumeAll(bus, topic, p.count) : undefined;
      rows.push({ bus: name, concurrency, 'produced msgs/s': Math.round(p.rate), 'mean send latency ms': p.meanLatencyMs, 'consumed msgs/s (2 members, commit per batch)': consumeRate === undefined ? '-' : Math.round(consumeRate) });
    }
  } finally {
    await admin.deleteTopics(topics);
    await admin.close();
    await bus.close();
  }
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  await scenario('memory', new MemoryBus(), rows, 1000);
  const brokers = process.env.VIGIL_KAFKA_BROKERS;
  if (brokers !== undefined && brokers !== '') await scenario('kafka', new KafkaBus({ brokers: brokers.split(','), logLevel: 'nothing' }), rows, 3000);
  writeReport('bus', rows, { valueBytes: VALUE.length, devices: DEVICES, partitions: PARTITIONS, notes: 'one message per send() call; N concurrent callers; Kafka rows only when VIGIL_KAFKA_BROKERS is set' });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
