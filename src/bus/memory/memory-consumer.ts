import { VigilError } from '../../errors';
import type { BusBatch, BusConsumer, BusConsumerHandlers, BusConsumerOptions } from '../consumer';
import type { TopicPartition, TopicPartitionOffset } from '../message';
import { parseOffset } from '../offset';
import type { MemoryBroker, TopicWatcher } from './memory-broker';
import { tpKey, type GroupMember, type MemoryGroup } from './memory-group';
import type { MemoryPartitionLog } from './memory-partition-log';

interface OwnedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly log: MemoryPartitionLog;
  /** Next offset to deliver; -1 until `onAssign` has run and the start is resolved. */
  position: number;
  /** A seek that waits for `onAssign` or the batch in progress. */
  seekTo: number | undefined;
  paused: boolean;
  inFlight: Promise<void> | null;
}

type State = 'new' | 'subscribed' | 'running' | 'closing' | 'closed';

/**
 * A consumer group member of the memory bus. Deliveries are scheduled with one
 * `setImmediate` per wake-up, whatever the number of messages that arrived (no per-message
 * timers), and carry up to `maxBatchMessages` of one partition.
 */
export class MemoryConsumer implements BusConsumer, GroupMember, TopicWatcher {
  topics: string[] = [];
  private state: State = 'new';
  private readonly owned = new Map<string, OwnedPartition>();
  private handlers: BusConsumerHandlers | undefined;
  private group: MemoryGroup | undefined;
  private scheduled = false;
  private active = 0;
  private cursor = 0;
  private closing: Promise<void> | undefined;
  private readonly fromBeginning: boolean;
  private readonly concurrency: number;
  private readonly maxBatch: number;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly options: BusConsumerOptions,
    private readonly onClosed: (c: MemoryConsumer) => void,
  ) {
    if (typeof options?.groupId !== 'string' || options.groupId.length === 0) {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', 'consumer groupId must be a non-empty string', { details: { groupId: String(options?.groupId) } });
    }
    this.fromBeginning = options.fromBeginning === true;
    this.concurrency = positiveInt(options.partitionsConsumedConcurrently, 1, 'partitionsConsumedConcurrently');
    this.maxBatch = positiveInt(options.maxBatchMessages, 500, 'maxBatchMessages');
  }

  subscribe(topics: readonly string[]): Promise<void> {
    try {
      if (this.state !== 'new' && this.state !== 'subscribed') {
        throw new VigilError('VIGIL_E_BUS_OPTIONS', `consumer of group "${this.options.groupId}": subscribe must come before run`, { details: { groupId: this.options.groupId } });
      }
      for (const t of topics) this.broker.requireTopic(t);
      this.topics = [...new Set([...this.topics, ...topics])];
      this.state = 'subscribed';
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async run(handlers: BusConsumerHandlers): Promise<void> {
    if (this.state !== 'subscribed') {
      throw new VigilError(this.state === 'closed' || this.state === 'closing' ? 'VIGIL_E_BUS_CLOSED' : 'VIGIL_E_BUS_OPTIONS', `consumer of group "${this.options.groupId}": run needs subscribe first and runs once`, {
        details: { groupId: this.options.groupId, state: this.state },
      });
    }
    this.handlers = handlers;
    this.state = 'running';
    for (const t of this.topics) this.broker.watch(t, this);
    this.group = this.broker.group(this.options.groupId);
    await this.group.join(this);
  }

  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    try {
      const group = this.group;
      if (this.state !== 'running' || group === undefined) {
        throw new VigilError('VIGIL_E_BUS_CLOSED', `consumer of group "${this.options.groupId}" is not running; cannot commit`, { details: { groupId: this.options.groupId } });
      }
      const parsed = offsets.map((o) => ({ o, n: parseOffset(o.offset) }));
      for (const { o } of parsed) this.requireOwned(o, 'commit');
      for (const { o, n } of parsed) group.commit(o.topic, o.partition, n);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  seek(position: TopicPartitionOffset): void {
    const n = parseOffset(position.offset);
    const p = this.requireOwned(position, 'seek');
    if (p.position < 0 || p.inFlight !== null) p.seekTo = n;
    else {
      p.position = n;
      this.schedule();
    }
  }

  assignment(): TopicPartition[] {
    return [...this.owned.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  pause(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) {
      const p = this.owned.get(tpKey(tp.topic, tp.partition));
      if (p !== undefined) p.paused = true;
    }
  }

  resume(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) {
      const p = this.owned.get(tpKey(tp.topic, tp.partition));
      if (p !== undefined) p.paused = false;
    }
    this.schedule();
  }

  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.state = 'closing';
    for (const t of this.topics) this.broker.unwatch(t, this);
    if (this.group !== undefined) {
      // Give everything up (after the batches in progress) before leaving, so no partition
      // is ever delivered by two members at once.
      await this.revokeExcept([]);
      await this.group.leave(this);
    }
    this.state = 'closed';
    this.onClosed(this);
  }

  // --- GroupMember -------------------------------------------------------------------

  async revokeExcept(keep: readonly TopicPartition[]): Promise<void> {
    const kept = new Set(keep.map((tp) => tpKey(tp.topic, tp.partition)));
    const lost: OwnedPartition[] = [];
    for (const [k, p] of this.owned) {
      if (!kept.has(k)) {
        lost.push(p);
        this.owned.delete(k);
      }
    }
    if (lost.length === 0) return;
    await Promise.all(lost.map((p) => p.inFlight));
    await this.callback(() => this.handlers?.onRevoke?.(lost.map(({ topic, partition }) => ({ topic, partition }))));
  }

  async assign(target: readonly TopicPartition[]): Promise<void> {
    if (this.state !== 'running') return;
    const gained: OwnedPartition[] = [];
    for (const { topic, partition } of target) {
      const k = tpKey(topic, partition);
      const log = this.broker.topic(topic)?.logs[partition];
      if (this.owned.has(k) || log === undefined) continue;
      const p: OwnedPartition = { topic, partition, log, position: -1, seekTo: undefined, paused: false, inFlight: null };
      this.owned.set(k, p);
      gained.push(p);
    }
    if (gained.length === 0) return;
    await this.callback(() => this.handlers?.onAssign?.(gained.map(({ topic, partition }) => ({ topic, partition }))));
    for (const p of gained) {
      const committed = this.group?.committed(p.topic, p.partition);
      p.position = p.seekTo ?? committed ?? (this.fromBeginning ? p.log.startOffset : p.log.endOffset);
      p.seekTo = undefined;
    }
    this.schedule();
  }

  // --- TopicWatcher ------------------------------------------------------------------

  topicChanged(): void {
    this.schedule();
  }

  // --- delivery ----------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled || this.state !== 'running') return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.state !== 'running') return;
    const parts = [...this.owned.values()];
    const n = parts.length;
    // Start where the last pump stopped so one busy partition cannot starve the others.
    for (let i = 0; i < n && this.active < this.concurrency; i++) {
      const p = parts[(this.cursor + i) % n] as OwnedPartition;
      if (p.inFlight !== null || p.paused || p.position < 0) continue;
      if (p.position >= p.log.endOffset) continue;
      const messages = p.log.read(p.position, this.maxBatch);
      if (messages.length === 0) {
        p.position = p.log.endOffset;
        continue;
      }
      this.cursor = (this.cursor + i + 1) % n;
      this.deliver(p, { topic: p.topic, partition: p.partition, messages, nextOffset: String(Number((messages[messages.length - 1] as { offset: string }).offset) + 1), highWatermark: String(p.log.endOffset) });
    }
  }

  private deliver(p: OwnedPartition, batch: BusBatch): void {
    this.active++;
    p.inFlight = (async () => {
      try {
        await (this.handlers as BusConsumerHandlers).eachBatch(batch);
        if (p.seekTo !== undefined) {
          p.position = p.seekTo;
          p.seekTo = undefined;
        } else {
          p.position = Number(batch.nextOffset);
        }
      } catch (err) {
        this.crash(err);
      } finally {
        p.inFlight = null;
        this.active--;
        this.schedule();
      }
    })();
  }

  private async callback(fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.crash(err);
    }
  }

  /** A handler threw: report it and leave the group, as a crashed Kafka consumer would. */
  private crash(err: unknown): void {
    if (this.state !== 'running') return;
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.handlers?.onError?.(error);
    } finally {
      // Not awaited here: closing waits for the batch that is calling us.
      setImmediate(() => void this.close());
      this.state = 'closing';
    }
  }

  private requireOwned(tp: TopicPartition, op: string): OwnedPartition {
    const p = this.owned.get(tpKey(tp.topic, tp.partition));
    if (p === undefined) {
      throw new VigilError('VIGIL_E_BUS_NOT_ASSIGNED', `cannot ${op} ${tp.topic}[${tp.partition}]: not assigned to this member of group "${this.options.groupId}"`, {
        details: { topic: tp.topic, partition: tp.partition, groupId: this.options.groupId },
      });
    }
    return p;
  }
}

function positiveInt(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1) throw new VigilError('VIGIL_E_BUS_OPTIONS', `consumer option ${name} must be an integer ≥ 1, got ${String(v)}`, { details: { option: name, value: v } });
  return v;
}
