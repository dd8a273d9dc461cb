import type { Admin, Batch, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { VigilError } from '../../errors';
import type { ConnectionState } from '../connection-state';
import type { BusBatch, BusConsumer, BusConsumerHandlers, BusConsumerOptions } from '../consumer';
import type { BusMessage, TopicPartition, TopicPartitionOffset } from '../message';
import { parseOffset } from '../offset';
import { toBuffer, toHeaders } from '../to-buffer';
import { isUnavailable, toVigilError } from './to-vigil-error';

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

type State = 'new' | 'subscribed' | 'running' | 'closing' | 'closed';

/** Retries of a subscribe that found a topic unknown. */
const SUBSCRIBE_RETRIES = 3;

/**
 * `BusConsumer` on a kafkajs consumer (eager rebalancing, manual commits).
 *
 * kafkajs has no rebalance listener, so assignment changes are read from its GROUP_JOIN
 * event: lost partitions go to `onRevoke`, new ones to `onAssign`, and every batch waits for
 * those callbacks, so a seek made in `onAssign` wins over the fetch already under way (the
 * stale batch is dropped unread). kafkajs restarts kept partitions from the committed offset
 * after a rebalance; we seek them to where delivery stopped, so a member sees a message
 * twice only when a partition changed owner or the consumer crashed.
 */
export class KafkaConsumer implements BusConsumer {
  private readonly consumer: Consumer;
  private state: State = 'new';
  private topics: string[] = [];
  private handlers: BusConsumerHandlers | undefined;
  private owned = new Map<string, TopicPartition>();
  /** Next offset to deliver, per owned partition we have delivered from. */
  private readonly positions = new Map<string, string>();
  /** Assignment callbacks, chained: batches wait for this. */
  private settling: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private crashed = false;
  /** For pinning "latest" at assignment; made only by consumers that start at the end. */
  private admin: Admin | undefined;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: BusConsumerOptions,
    retries: number,
    private readonly connection: ConnectionState,
    private readonly onClosed: (c: KafkaConsumer) => void,
  ) {
    if (typeof options?.groupId !== 'string' || options.groupId.length === 0) {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', 'consumer groupId must be a non-empty string', { details: { groupId: String(options?.groupId) } });
    }
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1000,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? 10000,
      maxWaitTimeInMs: options.maxWaitMs ?? 1000,
      ...(options.maxFetchBytes === undefined ? {} : { maxBytes: options.maxFetchBytes, maxBytesPerPartition: Math.min(1024 * 1024, options.maxFetchBytes) }),
      allowAutoTopicCreation: false,
      // A crash is reported to onError and ends this consumer; the process decides what next.
      retry: { retries, restartOnFailure: async () => false },
    });
    const { GROUP_JOIN, CRASH, CONNECT, DISCONNECT } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (e) => this.joined(e.payload.memberAssignment));
    this.consumer.on(CONNECT, () => this.connection.set(true));
    this.consumer.on(DISCONNECT, () => {
      if (this.state === 'running') this.connection.set(false);
    });
    this.consumer.on(CRASH, (e) => {
      const err = toVigilError(e.payload.error, `consumer of group "${options.groupId}"`, { groupId: options.groupId });
      if (isUnavailable(err)) this.connection.set(false);
      this.crash(err);
    });
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    if (this.state !== 'new' && this.state !== 'subscribed') {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', `consumer of group "${this.options.groupId}": subscribe must come before run`, { details: { groupId: this.options.groupId } });
    }
    try {
      // Once: a subscribe that failed (say, the topic is not there yet) may be tried again.
      this.connecting ??= this.consumer.connect().catch((err: unknown) => {
        this.connecting = undefined;
        throw err;
      });
      await this.connecting;
      for (let attempt = 1; ; attempt++) {
        try {
          await this.consumer.subscribe({ topics: [...topics], fromBeginning: this.options.fromBeginning === true });
          break;
        } catch (err) {
          // A topic made a moment ago may not have reached the broker that answered yet
          // (metadata spreads from the controller; a loaded broker applies it late): ask
          // again, briefly (0.2 + 0.4 + 0.8 s), before calling it unknown.
          if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' || attempt > SUBSCRIBE_RETRIES) throw err;
          await new Promise((r) => setTimeout(r, 100 << attempt));
        }
      }
      this.topics.push(...topics);
      this.state = 'subscribed';
    } catch (err) {
      throw toVigilError(err, `subscribe to ${topics.join(', ')}`, { topics: [...topics] });
    }
  }

  async run(handlers: BusConsumerHandlers): Promise<void> {
    if (this.state !== 'subscribed') {
      throw new VigilError(this.state === 'closing' || this.state === 'closed' ? 'VIGIL_E_BUS_CLOSED' : 'VIGIL_E_BUS_OPTIONS', `consumer of group "${this.options.groupId}": run needs subscribe first and runs once`, {
        details: { groupId: this.options.groupId, state: this.state },
      });
    }
    this.handlers = handlers;
    this.state = 'running';
    try {
      await this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (err) {
      throw toVigilError(err, `consumer of group "${this.options.groupId}": run`);
    }
    await this.settled();
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.state !== 'running') {
      throw new VigilError('VIGIL_E_BUS_CLOSED', `consumer of group "${this.options.groupId}" is not running; cannot commit`, { details: { groupId: this.options.groupId } });
    }
    for (const o of offsets) {
      parseOffset(o.offset);
      this.requireOwned(o, 'commit');
    }
    try {
      await this.consumer.commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
    } catch (err) {
      throw toVigilError(err, `commit for group "${this.options.groupId}"`, { groupId: this.options.groupId });
    }
  }

  seek(position: TopicPartitionOffset): void {
    parseOffset(position.offset);
    this.requireOwned(position, 'seek');
    this.positions.set(key(position.topic, position.partition), position.offset);
    this.consumer.seek({ topic: position.topic, partition: position.partition, offset: position.offset });
  }

  assignment(): TopicPartition[] {
    return [...this.owned.values()];
  }

  pause(partitions: readonly TopicPartition[]): void {
    this.consumer.pause(byTopic(partitions));
  }

  resume(partitions: readonly TopicPartition[]): void {
    this.consumer.resume(byTopic(partitions));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closing';
      // Stops fetching, waits for the batch in progress, leaves the group.
      await this.consumer.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
      const lost = [...this.owned.values()];
      this.owned = new Map();
      if (lost.length > 0) await this.callback(() => this.handlers?.onRevoke?.(lost));
      this.state = 'closed';
      this.onClosed(this);
    })();
    return this.closing;
  }

  /** Runs (chained) when kafkajs reports the outcome of a join; synchronous up to the seeks. */
  private joined(memberAssignment: Record<string, number[]>): void {
    const next = new Map<string, TopicPartition>();
    for (const [topic, partitions] of Object.entries(memberAssignment)) for (const partition of partitions) next.set(key(topic, partition), { topic, partition });
    const lost = [...this.owned].filter(([k]) => !next.has(k)).map(([, tp]) => tp);
    const gained = [...next].filter(([k]) => !this.owned.has(k)).map(([, tp]) => tp);
    for (const [k, tp] of next) {
      const pos = this.positions.get(k);
      // The new generation restarts kept partitions at the committed offset; resume them where we were.
      if (this.owned.has(k) && pos !== undefined) this.consumer.seek({ topic: tp.topic, partition: tp.partition, offset: pos });
    }
    for (const tp of lost) this.positions.delete(key(tp.topic, tp.partition));
    for (const tp of gained) this.positions.delete(key(tp.topic, tp.partition));
    this.owned = next;
    this.connection.set(true);
    if (lost.length === 0 && gained.length === 0) return;
    this.settling = this.settling.then(async () => {
      if (lost.length > 0) await this.callback(() => this.handlers?.onRevoke?.(lost));
      if (gained.length > 0) {
        if (this.options.fromBeginning !== true) await this.callback(() => this.pinLatest(gained));
        await this.callback(() => this.handlers?.onAssign?.(gained));
      }
    });
  }

  /**
   * kafkajs resolves "latest" at the first fetch, after `run` has resolved, so a message
   * sent right after `run` could be skipped. Fix the start of partitions the group never
   * committed at their end offset now, as the memory bus does.
   */
  private async pinLatest(gained: readonly TopicPartition[]): Promise<void> {
    try {
      this.admin ??= this.kafka.admin();
      await this.admin.connect();
      const topics = [...new Set(gained.map((tp) => tp.topic))];
      const committed = await this.admin.fetchOffsets({ groupId: this.options.groupId, topics });
      for (const topic of topics) {
        const ends = await this.admin.fetchTopicOffsets(topic);
        for (const tp of gained) {
          if (tp.topic !== topic) continue;
          const c = committed.find((x) => x.topic === topic)?.partitions.find((x) => x.partition === tp.partition)?.offset;
          const end = ends.find((x) => x.partition === tp.partition)?.high;
          if ((c === undefined || c === '-1') && end !== undefined && this.owned.has(key(topic, tp.partition))) {
            this.consumer.seek({ topic, partition: tp.partition, offset: end });
          }
        }
      }
    } catch (err) {
      throw toVigilError(err, `consumer of group "${this.options.groupId}": find end offsets`);
    }
  }

  /** Waits until no assignment callback is pending (they may chain while we wait). */
  private async settled(): Promise<void> {
    let s: Promise<void>;
    do {
      s = this.settling;
      await s;
    } while (s !== this.settling);
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    // kafkajs heartbeats only between fetches; keep the membership alive while an onAssign
    // (checkpoint restore) or a long batch runs. Its own throttle keeps this to one per interval.
    const ticker = setInterval(() => void payload.heartbeat().catch(() => undefined), this.options.heartbeatIntervalMs ?? 1000);
    try {
      await this.deliver(payload);
    } finally {
      clearInterval(ticker);
    }
  }

  private async deliver(payload: EachBatchPayload): Promise<void> {
    const { batch, isStale, isRunning, resolveOffset } = payload;
    await this.settled();
    const k = key(batch.topic, batch.partition);
    // Dropped unresolved: kafkajs fetches again from the seek (or the committed offset).
    if (this.crashed || this.state !== 'running' || !isRunning() || isStale() || !this.owned.has(k)) return;
    if (batch.messages.length === 0) return;
    const out: BusBatch = { topic: batch.topic, partition: batch.partition, messages: toBusMessages(batch), nextOffset: String(Number(batch.lastOffset()) + 1), highWatermark: batch.highWatermark };
    try {
      await (this.handlers as BusConsumerHandlers).eachBatch(out);
    } catch (err) {
      this.crash(err);
      return;
    }
    // A seek made while the batch ran wins over the batch's end.
    if (isStale()) return;
    resolveOffset(batch.lastOffset());
    if (this.owned.has(k)) this.positions.set(k, out.nextOffset);
  }

  private async callback(fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.crash(err);
    }
  }

  /** A handler threw or kafkajs gave up: report it once and close (leaving the group). */
  private crash(err: unknown): void {
    if (this.crashed || this.state === 'closed') return;
    this.crashed = true;
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.handlers?.onError?.(error);
    } finally {
      // Not awaited: disconnecting waits for the batch that is calling us.
      setImmediate(() => void this.close());
    }
  }

  private requireOwned(tp: TopicPartition, op: string): void {
    if (!this.owned.has(key(tp.topic, tp.partition))) {
      throw new VigilError('VIGIL_E_BUS_NOT_ASSIGNED', `cannot ${op} ${tp.topic}[${tp.partition}]: not assigned to this member of group "${this.options.groupId}"`, {
        details: { topic: tp.topic, partition: tp.partition, groupId: this.options.groupId },
      });
    }
  }
}

function byTopic(partitions: readonly TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    const l = m.get(topic);
    if (l === undefined) m.set(topic, [partition]);
    else l.push(partition);
  }
  return [...m].map(([topic, ps]) => ({ topic, partitions: ps }));
}

function toBusMessages(batch: Batch): BusMessage[] {
  const out = new Array<BusMessage>(batch.messages.length);
  for (let i = 0; i < out.length; i++) {
    const m = batch.messages[i] as Batch['messages'][number];
    out[i] = {
      topic: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      key: toBuffer(m.key),
      value: toBuffer(m.value),
      headers: toHeaders(m.headers),
      timestamp: Number(m.timestamp),
    };
  }
  return out;
}
