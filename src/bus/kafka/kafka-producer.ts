import { CompressionTypes, Partitioners, type Admin, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';
import { VigilError } from '../../errors';
import type { ConnectionState } from '../connection-state';
import { GroupCommit } from '../group-commit';
import type { OutgoingMessage } from '../message';
import type { BusProducer, BusProducerOptions } from '../producer';
import type { ResolvedKafkaBusOptions } from './kafka-options';
import { isUnavailable, toVigilError } from './to-vigil-error';

interface SendCall {
  readonly topic: string;
  readonly messages: Message[];
}

function sizeOf(call: SendCall): readonly [number, number] {
  let bytes = 0;
  for (const m of call.messages) {
    bytes += (m.value as Buffer | null)?.length ?? 0;
    bytes += (m.key as Buffer | null | undefined)?.length ?? 0;
    if (m.headers !== undefined) for (const h in m.headers) bytes += h.length + ((m.headers[h] as Buffer | string).length ?? 0);
  }
  return [call.messages.length, bytes];
}

function toKafkaMessage(topic: string, m: OutgoingMessage, index: number): Message {
  if (m === null || typeof m !== 'object') {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', `message ${index} to "${topic}" is not an object`, { details: { topic, index } });
  }
  if (m.partition !== undefined && (!Number.isInteger(m.partition) || m.partition < 0)) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', `message ${index} to "${topic}": partition must be an integer ≥ 0, got ${String(m.partition)}`, { details: { topic, partition: m.partition } });
  }
  const out: Message = { key: m.key ?? null, value: m.value };
  if (m.headers !== undefined) out.headers = m.headers as Record<string, Buffer | string>;
  if (m.partition !== undefined) out.partition = m.partition;
  if (m.timestamp !== undefined) out.timestamp = String(m.timestamp);
  return out;
}

/**
 * `acks=all`: the partition leader answers only once every in-sync replica has the batch, and
 * refuses it (NOT_ENOUGH_REPLICAS, retriable) while fewer than `min.insync.replicas` are in
 * sync. With replication factor 3 and min ISR 2 a write we acknowledge survives the loss of
 * any one broker (docs/architecture.md §4). Never lower it: the gateway acknowledges MQTT frames on it.
 */
export const ACKS_ALL = -1;

/**
 * `BusProducer` on an idempotent kafkajs producer (acks=all, one request in flight, which
 * idempotence needs). Concurrent sends are group-committed into one `sendBatch`; each
 * request and its connect are bounded by `sendTimeoutMs`.
 *
 * After a failed request the kafkajs producer is replaced by a fresh one (a new producer
 * id). The broker may have written a batch whose answer was lost; kafkajs then reuses its
 * sequence numbers for the next, different batch, which the broker either takes for a
 * retry — acknowledged and dropped — or refuses as out of order, for good (kafkajs#598).
 * Under a new producer id the next batch cannot collide with the old one.
 */
export class KafkaProducer implements BusProducer {
  private producer: Producer;
  /** A request failed: its batch may or may not be written, so the producer id is spent. */
  private spent = false;
  private readonly queue: GroupCommit<SendCall>;
  private connected: Promise<void> | undefined;
  private closed = false;
  /** Partition counts for sends that name a partition (kafkajs silently drops a message to a partition that does not exist). */
  private readonly partitionCounts = new Map<string, number>();
  private admin: Admin | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: ResolvedKafkaBusOptions,
    producerOptions: BusProducerOptions,
    private readonly connection: ConnectionState,
    private readonly onClosed: (p: KafkaProducer) => void,
  ) {
    const maxCount = producerOptions.maxBatchMessages ?? 10000;
    const maxBytes = producerOptions.maxBatchBytes ?? 900 * 1024;
    if (!Number.isInteger(maxCount) || maxCount < 1) throw new VigilError('VIGIL_E_BUS_OPTIONS', `producer option maxBatchMessages must be an integer ≥ 1, got ${String(maxCount)}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new VigilError('VIGIL_E_BUS_OPTIONS', `producer option maxBatchBytes must be an integer ≥ 1, got ${String(maxBytes)}`);
    this.producer = this.newProducer();
    this.queue = new GroupCommit<SendCall>((calls) => this.write(calls), sizeOf, {
      maxCount,
      maxBytes,
      timeoutMs: options.sendTimeoutMs,
      onTimeout: () =>
        new VigilError('VIGIL_E_BUS_UNAVAILABLE', `send: no acknowledgement from Kafka within ${options.sendTimeoutMs} ms`, { details: { timeoutMs: options.sendTimeoutMs, brokers: options.brokers.join(',') } }),
    });
  }

  private newProducer(): Producer {
    return this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      // No duplicates from kafkajs's own retries, and order kept across them (with one request in flight).
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: this.options.retries, maxRetryTime: this.options.maxRetryTimeMs, initialRetryTime: 100 },
    });
  }

  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new VigilError('VIGIL_E_BUS_CLOSED', `cannot send to "${topic}": the producer is closed`, { details: { topic } }));
    let call: SendCall;
    try {
      if (typeof topic !== 'string' || topic.length === 0) throw new VigilError('VIGIL_E_BUS_OPTIONS', 'send needs a topic name');
      call = { topic, messages: messages.map((m, i) => toKafkaMessage(topic, m, i)) };
    } catch (err) {
      return Promise.reject(err);
    }
    if (call.messages.length === 0) return Promise.resolve();
    return this.queue.submit(call);
  }

  flush(): Promise<void> {
    return this.queue.idle();
  }

  async connect(): Promise<void> {
    if (this.closed) throw new VigilError('VIGIL_E_BUS_CLOSED', 'cannot connect: the producer is closed');
    try {
      await this.ensureConnected();
      this.connection.set(true);
    } catch (err) {
      const e = toVigilError(err, 'connect the producer');
      if (isUnavailable(e)) this.connection.set(false);
      throw e;
    }
  }

  /** A producer whose id is not spent, connected (brokers, metadata, producer id). */
  private async ensureConnected(): Promise<void> {
    if (this.spent) {
      // Writes are serial (GroupCommit) and a spent producer is replaced before the next one
      // starts, so the old producer has nothing in flight.
      this.spent = false;
      void this.producer.disconnect().catch(() => undefined);
      this.producer = this.newProducer();
      this.connected = undefined;
    }
    this.connected ??= this.producer.connect();
    try {
      await this.connected;
    } catch (err) {
      // Let the next batch try again rather than caching the failure.
      this.connected = undefined;
      throw err;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      // Bounded like a send: a dead broker must not hold a shutdown hostage.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.queue.idle(), new Promise<void>((r) => (timer = setTimeout(r, this.options.sendTimeoutMs)))]);
      clearTimeout(timer);
      await this.producer.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
      this.onClosed(this);
    })();
    return this.closing;
  }

  /**
   * One request for all calls. If it fails for a reason other than unavailability (an
   * unknown topic, a bad partition, a record too large), each call is sent again on its own
   * so one caller's bad message does not fail the others merged with it.
   */
  private async write(calls: SendCall[]): Promise<ReadonlyArray<unknown> | void> {
    try {
      await this.request(calls);
      return undefined;
    } catch (err) {
      if (calls.length === 1 || isUnavailable(err)) throw err;
      const outcome: unknown[] = [];
      for (const c of calls) {
        try {
          await this.request([c]);
          outcome.push(undefined);
        } catch (e) {
          outcome.push(e);
        }
      }
      return outcome;
    }
  }

  /** Refuses explicit partitions that do not exist (from cached metadata, refreshed on a miss). */
  private async checkPartitions(byTopic: ReadonlyMap<string, Message[]>): Promise<void> {
    for (const [topic, messages] of byTopic) {
      let highest = -1;
      for (const m of messages) if (m.partition !== undefined && m.partition > highest) highest = m.partition;
      if (highest < 0) continue;
      let count = this.partitionCounts.get(topic);
      if (count === undefined || highest >= count) {
        this.admin ??= this.kafka.admin();
        await this.admin.connect();
        const meta = await this.admin.fetchTopicMetadata({ topics: [topic] });
        count = meta.topics[0]?.partitions.length ?? 0;
        this.partitionCounts.set(topic, count);
      }
      if (highest >= count) {
        throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `send to "${topic}": it has no partition ${highest} (it has ${count})`, { details: { topic, partition: highest, partitions: count } });
      }
    }
  }

  private async request(calls: SendCall[]): Promise<void> {
    // Merge calls per topic, keeping call order inside each topic (order per key).
    const byTopic = new Map<string, Message[]>();
    for (const c of calls) {
      const list = byTopic.get(c.topic);
      if (list === undefined) byTopic.set(c.topic, [...c.messages]);
      else for (const m of c.messages) list.push(m);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    try {
      await this.ensureConnected();
      await this.checkPartitions(byTopic);
      try {
        await this.producer.sendBatch({
          topicMessages,
          acks: ACKS_ALL,
          timeout: this.options.requestTimeoutMs,
          compression: this.options.compression === 'gzip' ? CompressionTypes.GZIP : this.options.compression === 'lz4' ? CompressionTypes.LZ4 : CompressionTypes.None,
        });
      } catch (err) {
        this.spent = true;
        throw err;
      }
      this.connection.set(true);
    } catch (err) {
      const e = toVigilError(err, `send to ${[...byTopic.keys()].join(', ')}`, { topics: [...byTopic.keys()] });
      if (isUnavailable(e)) this.connection.set(false);
      throw e;
    }
  }
}
