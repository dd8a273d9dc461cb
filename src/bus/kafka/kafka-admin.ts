import type { Admin, Kafka } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import { VigilError } from '../../errors';
import type { BusAdmin, PartitionOffsets, TopicDescription, TopicSpec } from '../admin';
import type { ConnectionState } from '../connection-state';
import { validateTopicSpecs } from '../topic-spec';
import type { ResolvedKafkaBusOptions } from './kafka-options';
import { isUnavailable, toVigilError } from './to-vigil-error';

/** Segment size and age of compacted topics (changelogs): small enough that compaction keeps up. */
const COMPACTED_SEGMENT_BYTES = 64 * 1024 * 1024;
const COMPACTED_SEGMENT_MS = 60 * 60 * 1000;

/** `BusAdmin` on a kafkajs admin client (connected on first use). */
export class KafkaAdmin implements BusAdmin {
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: Pick<ResolvedKafkaBusOptions, 'retries' | 'replicationFactor' | 'requestTimeoutMs'>,
    private readonly connection: ConnectionState,
    private readonly onClosed: (a: KafkaAdmin) => void,
  ) {
    this.admin = kafka.admin({ retry: { retries: options.retries } });
  }

  ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    return this.call(`ensure topics ${specs.map((s) => s.topic).join(', ')}`, async (admin) => {
      validateTopicSpecs(specs);
      if (specs.length === 0) return;
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.topic));
      if (missing.length > 0) {
        // No waitForLeaders: its single metadata look can fail with "This server does not
        // host this topic-partition" on a cluster that is still electing (seen on a fresh
        // 3-node cluster under load); waitUntilServed below waits properly, bounded.
        await admin.createTopics({
          waitForLeaders: false,
          topics: missing.map((s) => {
            const configEntries = [{ name: 'cleanup.policy', value: s.compacted === true ? 'compact' : 'delete' }];
            // Compaction never touches a log's open segment (1 GiB or 7 days by default): a
            // changelog would keep every version of every entry in it, and a restore reads them
            // all. Smaller segments let the cleaner reclaim superseded versions as they pile up.
            if (s.compacted === true) configEntries.push({ name: 'segment.bytes', value: String(COMPACTED_SEGMENT_BYTES) }, { name: 'segment.ms', value: String(COMPACTED_SEGMENT_MS) }, { name: 'min.cleanable.dirty.ratio', value: '0.3' });
            if (s.retentionMs !== undefined) configEntries.push({ name: 'retention.ms', value: String(s.retentionMs) });
            return { topic: s.topic, numPartitions: s.partitions, replicationFactor: this.options.replicationFactor, configEntries };
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
      // A client of its own: kafkajs keeps every topic whose offsets it fetched in each later
      // metadata request, which would fail all of this admin's calls once one is deleted.
      const probe = this.kafka.admin({ retry: { retries: this.options.retries } });
      try {
        await probe.connect();
        await this.waitUntilServed(probe, specs);
      } finally {
        await probe.disconnect().catch(() => undefined);
      }
    });
  }

  /**
   * Returns once every partition of every topic has a leader that serves it. kafkajs's
   * `waitForLeaders` asks one broker's metadata once, and only for topics it created: a
   * broker publishes a new leader in its metadata a moment before its log is open (on a
   * loaded machine, long enough for the first produce or offset lookup to get "This server
   * does not host this topic-partition"), and another broker may not know the topic yet.
   * So: metadata until every partition has a leader, then the offsets of every partition,
   * which its leader answers only once it hosts it. Bounded by the request timeout.
   */
  private async waitUntilServed(probe: Admin, specs: readonly TopicSpec[]): Promise<void> {
    const deadline = Date.now() + this.options.requestTimeoutMs;
    const pending = new Map(specs.map((s) => [s.topic, s.partitions]));
    let why = '';
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        const meta = await probe.fetchTopicMetadata({ topics: [...pending.keys()] });
        for (const [topic, partitions] of pending) {
          const parts = meta.topics.find((t) => t.name === topic)?.partitions ?? [];
          const leaderless = parts.filter((p) => p.leader < 0).map((p) => p.partitionId);
          if (parts.length < partitions || leaderless.length > 0) {
            why = `topic "${topic}" ${parts.length < partitions ? `shows ${parts.length} of ${partitions} partitions` : `has no leader for partition ${leaderless.join(', ')}`}`;
            continue;
          }
          const offsets = await probe.fetchTopicOffsets(topic);
          if (offsets.length < partitions) {
            why = `topic "${topic}": offsets of ${offsets.length} of ${partitions} partitions`;
            continue;
          }
          pending.delete(topic);
        }
      } catch (err) {
        why = `${[...pending.keys()].map((t) => `"${t}"`).join(', ')}: ${(err as Error).message}`;
      }
      if (pending.size === 0) return;
      if (Date.now() >= deadline) {
        throw new VigilError('VIGIL_E_BUS_UNAVAILABLE', `ensureTopics: ${[...pending.keys()].map((t) => `"${t}"`).join(', ')} not served by a leader within ${this.options.requestTimeoutMs} ms (last: ${why})`, {
          details: { topics: [...pending.keys()], timeoutMs: this.options.requestTimeoutMs },
        });
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  deleteTopics(topics: readonly string[]): Promise<void> {
    return this.call(`delete topics ${topics.join(', ')}`, async (admin) => {
      const existing = new Set(await admin.listTopics());
      const names = topics.filter((t) => existing.has(t));
      if (names.length > 0) await admin.deleteTopics({ topics: names });
    });
  }

  listTopics(): Promise<string[]> {
    return this.call('listTopics', (admin) => admin.listTopics());
  }

  describeTopic(topic: string): Promise<TopicDescription | null> {
    return this.call(`describe topic ${topic} (metadata and configs)`, async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) return null;
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
      const config: Record<string, string> = {};
      for (const e of configs.resources[0]?.configEntries ?? []) if (e.configValue !== null) config[e.configName] = e.configValue;
      return { topic, partitions: meta.topics[0]?.partitions.length ?? 0, config };
    });
  }

  offsets(topic: string): Promise<PartitionOffsets[]> {
    return this.call(`read the offsets of topic ${topic}`, async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) {
        throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `topic "${topic}" does not exist`, { details: { topic } });
      }
      const ends = await admin.fetchTopicOffsets(topic);
      return ends
        .map((p) => ({ topic, partition: p.partition, start: p.low, end: p.high }))
        .sort((a, b) => a.partition - b.partition);
    });
  }

  offsetsAt(topic: string, timestampMs: number): Promise<Array<{ readonly partition: number; readonly offset: string }>> {
    return this.call(`read the offsets of topic ${topic} at ${new Date(timestampMs).toISOString()}`, async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) {
        throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `topic "${topic}" does not exist`, { details: { topic } });
      }
      // kafkajs answers the high watermark for a partition with nothing at or after the time.
      const at = await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs);
      return at.map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
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
