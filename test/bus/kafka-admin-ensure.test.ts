import type { Kafka } from 'kafkajs';
import { ConnectionState } from '../../src/bus/connection-state';
import { KafkaAdmin } from '../../src/bus/kafka/kafka-admin';
import { VigilError } from '../../src/errors';

/**
 * A stand-in kafkajs admin for one topic whose partitions get a leader after `leaderAfter`
 * metadata calls and whose leader serves offsets after `servedAfter` offset calls, as a
 * broker that has just made a topic does.
 */
function stubKafka(o: { leaderAfter: number; servedAfter: number; partitions: number }) {
  const calls = { metadata: 0, offsets: 0, created: [] as Array<{ topic: string; replicationFactor?: number }> };
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve([]),
    createTopics: ({ topics }: { topics: Array<{ topic: string; replicationFactor?: number }> }) => {
      calls.created.push(...topics);
      return Promise.resolve(true);
    },
    fetchTopicMetadata: ({ topics }: { topics: string[] }) => {
      const leader = ++calls.metadata > o.leaderAfter ? 1 : -1;
      return Promise.resolve({ topics: topics.map((name) => ({ name, partitions: Array.from({ length: o.partitions }, (_, partitionId) => ({ partitionId, leader })) })) });
    },
    fetchTopicOffsets: () => {
      if (++calls.offsets <= o.servedAfter) return Promise.reject(Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' }));
      return Promise.resolve(Array.from({ length: o.partitions }, (_, partition) => ({ partition, offset: '0', high: '0', low: '0' })));
    },
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, calls };
}

describe('KafkaAdmin.ensureTopics', () => {
  it('returns only once every partition has a leader that serves it, and creates with the configured replication factor', async () => {
    const { kafka, calls } = stubKafka({ leaderAfter: 2, servedAfter: 2, partitions: 3 });
    const admin = new KafkaAdmin(kafka, { retries: 0, replicationFactor: 3, requestTimeoutMs: 10_000 }, new ConnectionState(false), () => undefined);
    await admin.ensureTopics([{ topic: 'telemetry.power', partitions: 3 }]);
    expect(calls.created).toMatchObject([{ topic: 'telemetry.power', replicationFactor: 3 }]);
    // Two metadata answers without a leader; then one before each of three offset lookups, two refused.
    expect(calls.metadata).toBe(5);
    expect(calls.offsets).toBe(3);
  });

  it('fails retriably, naming the topic and what it lacks, when no leader comes within the request timeout', async () => {
    const { kafka } = stubKafka({ leaderAfter: Infinity, servedAfter: 0, partitions: 2 });
    const admin = new KafkaAdmin(kafka, { retries: 0, replicationFactor: -1, requestTimeoutMs: 300 }, new ConnectionState(false), () => undefined);
    const err = await admin.ensureTopics([{ topic: 'derived.vitals', partitions: 2 }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VigilError);
    expect(err).toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE', retriable: true, details: { topics: ['derived.vitals'] } });
    expect((err as Error).message).toMatch(/ensureTopics: "derived.vitals" not served by a leader within 300 ms \(last: topic "derived.vitals" has no leader for partition 0, 1\)/);
  });
});
