import type { BusMessage, TopicPartition, TopicPartitionOffset } from './message';

/** Options of `Bus.consumer()`. Defaults beside each option; implementations ignore what does not apply to them. */
export interface BusConsumerOptions {
  /** Consumer group: members of one group split the partitions of the topics they subscribe. */
  readonly groupId: string;
  /** Where to start a partition the group has never committed: `true` the oldest message, `false` (default) only new messages. */
  readonly fromBeginning?: boolean;
  /** How many partitions' batches may be processed at once (each partition stays in order). Default 1. */
  readonly partitionsConsumedConcurrently?: number;
  /** Most messages in one batch (memory bus; Kafka batches by fetch size). Default 500. */
  readonly maxBatchMessages?: number;
  /** Kafka: a member silent this long is dropped from the group. Default 10,000 ms. */
  readonly sessionTimeoutMs?: number;
  /** Kafka: heartbeat interval. Default 1,000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Kafka: how long the group waits for members to rejoin in a rebalance. Default 10,000 ms. */
  readonly rebalanceTimeoutMs?: number;
  /** Kafka: longest a fetch waits for new data (bounds how fast a rebalance is noticed). Default 1,000 ms. */
  readonly maxWaitMs?: number;
  /**
   * Kafka: most bytes one fetch returns (all partitions; each partition at most 1 MiB or
   * this, the smaller). The response is held until its messages are processed. Default
   * 10 MiB (kafkajs').
   */
  readonly maxFetchBytes?: number;
}

/** Messages of one partition, in offset order. */
export interface BusBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly BusMessage[];
  /** Offset after the last message: what to `commit` once the batch is processed. */
  readonly nextOffset: string;
  /** The partition's end offset (high watermark) when the batch was fetched, when the bus knows it: lag = highWatermark − nextOffset. */
  readonly highWatermark?: string;
}

/**
 * What a consumer calls. Callbacks run one at a time per consumer for assignment changes,
 * and never concurrently with a batch of a partition they name.
 */
export interface BusConsumerHandlers {
  /**
   * Processes one batch. Batches of one partition arrive in order, the next only after this
   * one's promise resolves. Throwing stops the consumer (see `onError`): it leaves the group,
   * its partitions move to the other members, which resume from the committed offsets.
   */
  eachBatch(batch: BusBatch): Promise<void> | void;
  /**
   * Partitions newly assigned to this member. Runs before any batch of them is delivered;
   * `seek` here (e.g. to a checkpoint) decides where they start. Partitions kept across a
   * rebalance get neither callback.
   */
  onAssign?(partitions: readonly TopicPartition[]): Promise<void> | void;
  /**
   * Partitions this member no longer owns (rebalance, or `close`). Informational: they may
   * already be owned by another member, so `commit` for them is refused; commit as you go.
   */
  onRevoke?(partitions: readonly TopicPartition[]): Promise<void> | void;
  /** The consumer stopped on this error (from a handler or the broker). Default: ignored. */
  onError?(err: Error): void;
}

/**
 * Reads topics as a member of a consumer group, with manual commits (at-least-once:
 * after a crash or a rebalance, messages after the last commit are delivered again).
 *
 * @example
 * const consumer = bus.consumer({ groupId: 'pipeline.convoy', fromBeginning: true });
 * await consumer.subscribe(['telemetry.position']);
 * await consumer.run({
 *   onAssign: async (parts) => { for (const p of parts) consumer.seek({ ...p, offset: await checkpointOf(p) }); },
 *   eachBatch: async (batch) => {
 *     process(batch.messages);
 *     await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }]);
 *   },
 * });
 */
export interface BusConsumer {
  /** Topics to read; call before `run`. Rejects with `VIGIL_E_BUS_TOPIC_UNKNOWN` for a topic that does not exist. */
  subscribe(topics: readonly string[]): Promise<void>;
  /** Joins the group and starts delivering; resolves once the first assignment's `onAssign` has run. */
  run(handlers: BusConsumerHandlers): Promise<void>;
  /** Commits positions (next offset to read) of partitions this member owns; `VIGIL_E_BUS_NOT_ASSIGNED` otherwise. */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Moves an owned partition's read position; the next batch of it starts there. Throws `VIGIL_E_BUS_NOT_ASSIGNED` for others. */
  seek(position: TopicPartitionOffset): void;
  /** Partitions this member owns now. */
  assignment(): TopicPartition[];
  /** Stops fetching these (owned) partitions until `resume`; the batch in progress completes. */
  pause(partitions: readonly TopicPartition[]): void;
  resume(partitions: readonly TopicPartition[]): void;
  /** Waits for the batch in progress, leaves the group (its partitions move to other members), calls `onRevoke`. Idempotent. */
  close(): Promise<void>;
}
