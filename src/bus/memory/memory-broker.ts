import { VigilError } from '../../errors';
import { ConnectionState } from '../connection-state';
import type { TopicSpec } from '../admin';
import { MemoryGroup } from './memory-group';
import { MemoryTopic } from './memory-topic';

/** Something to wake when a topic gets messages or changes shape. */
export interface TopicWatcher {
  topicChanged(topic: string): void;
}

/**
 * The state a Kafka cluster would hold: topics, consumer groups and their committed offsets.
 * Several `MemoryBus` instances may share one broker (as processes share a cluster).
 *
 * @example
 * const broker = new MemoryBroker();
 * const gateway = new MemoryBus({ broker });
 * const worker = new MemoryBus({ broker });
 * broker.setAvailable(false); // every send now fails with VIGIL_E_BUS_UNAVAILABLE
 */
export class MemoryBroker {
  private readonly topics = new Map<string, MemoryTopic>();
  private readonly groups = new Map<string, MemoryGroup>();
  private readonly watchers = new Map<string, Set<TopicWatcher>>();
  /** Reachability, as producers and probes see it; flip it to simulate an outage. */
  readonly availability = new ConnectionState(true);

  constructor(
    /** Most messages kept per partition of a non-compacted topic (oldest dropped). Default Infinity. */
    private readonly retainMessages = Infinity,
  ) {}

  get available(): boolean {
    return this.availability.connected;
  }

  /** Simulates an outage (`false`) and its end (`true`). */
  setAvailable(available: boolean): void {
    this.availability.set(available);
  }

  topic(name: string): MemoryTopic | undefined {
    return this.topics.get(name);
  }

  /** The topic, or `VIGIL_E_BUS_TOPIC_UNKNOWN`. */
  requireTopic(name: string): MemoryTopic {
    const t = this.topics.get(name);
    if (t === undefined) throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `topic "${name}" does not exist`, { details: { topic: name } });
    return t;
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  ensureTopic(spec: TopicSpec): void {
    const t = this.topics.get(spec.topic);
    if (t === undefined) {
      this.topics.set(spec.topic, new MemoryTopic(spec.topic, spec.partitions, spec.compacted === true, spec.retentionMs, this.retainMessages));
      this.reshaped(spec.topic);
    } else if (t.logs.length < spec.partitions) {
      t.grow(spec.partitions);
      this.reshaped(spec.topic);
    }
  }

  deleteTopic(name: string): void {
    if (this.topics.delete(name)) this.reshaped(name);
  }

  group(groupId: string): MemoryGroup {
    let g = this.groups.get(groupId);
    if (g === undefined) this.groups.set(groupId, (g = new MemoryGroup(groupId, (t) => this.topics.get(t)?.logs.length)));
    return g;
  }

  watch(topic: string, w: TopicWatcher): void {
    let s = this.watchers.get(topic);
    if (s === undefined) this.watchers.set(topic, (s = new Set()));
    s.add(w);
  }

  unwatch(topic: string, w: TopicWatcher): void {
    this.watchers.get(topic)?.delete(w);
  }

  /** Partitions appeared or vanished: groups reading `topic` rebalance. */
  private reshaped(topic: string): void {
    for (const g of this.groups.values()) g.topicReshaped(topic);
  }

  /** Tells the consumers reading `topic` that it has new messages. */
  changed(topic: string): void {
    const s = this.watchers.get(topic);
    if (s !== undefined) for (const w of s) w.topicChanged(topic);
  }
}
