import type { Admin, Kafka } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import { VigilError } from '../../errors';
import type { BusAdmin, PartitionOffsets, TopicDescription, TopicSpec } from '../admin';
import type { ConnectionState } from '../connection-state';
import { validateTopicSpecs } from '../topic-spec';
import { isUnavailable, toVigilError } from './to-vigil-error';

/** `BusAdmin` on a kafkajs admin client (connected on first use). */
export class KafkaAdmin implements BusAdmin {
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;
  private closed = false;

  constructor(
    kafka: Kafka,
    retries: number,
    private readonly connection: ConnectionState,
    private readonly onClosed: (a: KafkaAdmin) => void,
  ) {
    this.admin = kafka.admin({ retry: { retries } });
  }

  ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    return this.call('ensureTopics', async (admin) => {
      validateTopicSpecs(specs);
      if (specs.length === 0) return;
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.topic));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((s) => {
            const configEntries = [{ name: 'cleanup.policy', value: s.compacted === true ? 'compact' : 'delete' }];
            if (s.retentionMs !== undefined) configEntries.push({ name: 'retention.ms', value: String(s.retentionMs) });
            return { topic: s.topic, numPartitions: s.partitions, replicationFactor: -1, configEntries };
          }),
        });
      }
      const present = specs.filter((s) => existing.has(s.topic));
      if (present.length > 0) {
        const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.topic) });
        const grow = present
          .map((s) => ({ topic: s.topic, count: s.partitions, have: meta.topics.find((t) => t.name === s.topic)?.partitions.length ?? 0 }))
          .filter((g) => g.have < g.count);
        if (grow.length > 0) await admin.createPartitions({ validateOnly: false, timeout: 30000, topicPartitions: grow.map(({ topic, count }) => ({ topic, count })) });
      }
    });
  }

  deleteTopics(topics: readonly string[]): Promise<void> {
    return this.call('deleteTopics', async (admin) => {
      const existing = new Set(await admin.listTopics());
      const names = topics.filter((t) => existing.has(t));
      if (names.length > 0) await admin.deleteTopics({ topics: names });
    });
  }

  listTopics(): Promise<string[]> {
    return this.call('listTopics', (admin) => admin.listTopics());
  }

  describeTopic(topic: string): Promise<TopicDescription | null> {
    return this.call('describeTopic', async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) return null;
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
      const config: Record<string, string> = {};
      for (const e of configs.resources[0]?.configEntries ?? []) if (e.configValue !== null) config[e.configName] = e.configValue;
      return { topic, partitions: meta.topics[0]?.partitions.length ?? 0, config };
    });
  }

  offsets(topic: string): Promise<PartitionOffsets[]> {
    return this.call('offsets', async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) {
        throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `topic "${topic}" does not exist`, { details: { topic } });
      }
      const ends = await admin.fetchTopicOffsets(topic);
      return ends
        .map((p) => ({ topic, partition: p.partition, start: p.low, end: p.high }))
        .sort((a, b) => a.partition - b.partition);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.connected !== undefined) await this.admin.disconnect().catch(() => undefined);
    this.onClosed(this);
  }

  private async call<T>(what: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
    if (this.closed) throw new VigilError('VIGIL_E_BUS_CLOSED', `${what}: the admin client is closed`);
    try {
      this.connected ??= this.admin.connect();
      try {
        await this.connected;
      } catch (err) {
        this.connected = undefined;
        throw err;
      }
      const out = await fn(this.admin);
      this.connection.set(true);
      return out;
    } catch (err) {
      const e = toVigilError(err, what);
      if (isUnavailable(e)) this.connection.set(false);
      throw e;
    }
  }
}
