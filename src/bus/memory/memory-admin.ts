import { VigilError } from '../../errors';
import type { BusAdmin, PartitionOffsets, TopicDescription, TopicSpec } from '../admin';
import { validateTopicSpecs } from '../topic-spec';
import type { MemoryBroker } from './memory-broker';

/** Admin client of the memory bus: topics are created at once and always have a leader. */
export class MemoryAdmin implements BusAdmin {
  private closed = false;

  constructor(private readonly broker: MemoryBroker) {}

  ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    return this.guard(() => {
      validateTopicSpecs(specs);
      for (const s of specs) this.broker.ensureTopic(s);
    });
  }

  deleteTopics(topics: readonly string[]): Promise<void> {
    return this.guard(() => {
      for (const t of topics) this.broker.deleteTopic(t);
    });
  }

  listTopics(): Promise<string[]> {
    return this.guard(() => this.broker.topicNames());
  }

  describeTopic(topic: string): Promise<TopicDescription | null> {
    return this.guard(() => {
      const t = this.broker.topic(topic);
      return t === undefined ? null : { topic, partitions: t.logs.length, config: t.config() };
    });
  }

  offsets(topic: string): Promise<PartitionOffsets[]> {
    return this.guard(() =>
      this.broker.requireTopic(topic).logs.map((l, partition) => ({ topic, partition, start: String(l.startOffset), end: String(l.endOffset) })),
    );
  }

  offsetsAt(topic: string, timestampMs: number): Promise<Array<{ readonly partition: number; readonly offset: string }>> {
    return this.guard(() => this.broker.requireTopic(topic).logs.map((l, partition) => ({ partition, offset: String(l.offsetAt(timestampMs)) })));
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private guard<T>(fn: () => T): Promise<T> {
    try {
      if (this.closed) throw new VigilError('VIGIL_E_BUS_CLOSED', 'the admin client is closed');
      if (!this.broker.available) throw new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'the bus is unavailable');
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
