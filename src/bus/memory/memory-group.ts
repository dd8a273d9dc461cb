import type { TopicPartition } from '../message';

/** What a group needs from a member (implemented by `MemoryConsumer`). */
export interface GroupMember {
  readonly topics: readonly string[];
  /** Gives up every owned partition not in `keep`: waits for its batch in progress, then `onRevoke`. */
  revokeExcept(keep: readonly TopicPartition[]): Promise<void>;
  /** Takes the partitions of `target` it does not own yet: `onAssign`, then starts them. */
  assign(target: readonly TopicPartition[]): Promise<void>;
}

/** `topic/partition` as a map key. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * A consumer group: members, the partition assignment, committed offsets. Rebalances run
 * one at a time, in two phases as Kafka's eager protocol does: every member first gives up
 * what it loses (so no partition is ever read by two members), then members take what they
 * gain. Partitions are dealt round-robin over members in join order, per topic.
 */
export class MemoryGroup {
  private readonly members: GroupMember[] = [];
  private readonly committedOffsets = new Map<string, number>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly groupId: string,
    /** Partitions of a topic now, `undefined` if it does not exist (a function, not the broker: no import cycle). */
    private readonly partitionCount: (topic: string) => number | undefined,
  ) {}

  committed(topic: string, partition: number): number | undefined {
    return this.committedOffsets.get(tpKey(topic, partition));
  }

  commit(topic: string, partition: number, offset: number): void {
    this.committedOffsets.set(tpKey(topic, partition), offset);
  }

  join(member: GroupMember): Promise<void> {
    this.members.push(member);
    return this.rebalance();
  }

  leave(member: GroupMember): Promise<void> {
    const i = this.members.indexOf(member);
    if (i < 0) return this.chain;
    this.members.splice(i, 1);
    return this.rebalance();
  }

  topicReshaped(topic: string): void {
    if (this.members.some((m) => m.topics.includes(topic))) void this.rebalance();
  }

  /** Queues a rebalance after any in progress; resolves when it is done. */
  private rebalance(): Promise<void> {
    this.chain = this.chain.then(() => this.rebalanceNow());
    return this.chain;
  }

  private async rebalanceNow(): Promise<void> {
    const members = [...this.members];
    const target = new Map<GroupMember, TopicPartition[]>(members.map((m) => [m, []]));
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    let next = 0;
    for (const topic of topics) {
      const n = this.partitionCount(topic);
      const readers = members.filter((m) => m.topics.includes(topic));
      if (n === undefined || readers.length === 0) continue;
      for (let partition = 0; partition < n; partition++) {
        (target.get(readers[next++ % readers.length] as GroupMember) as TopicPartition[]).push({ topic, partition });
      }
    }
    // Member callbacks report their own failures (onError); a rebalance always completes.
    await Promise.all(members.map((m) => m.revokeExcept(target.get(m) as TopicPartition[]).catch(() => undefined)));
    await Promise.all(members.map((m) => m.assign(target.get(m) as TopicPartition[]).catch(() => undefined)));
  }
}
