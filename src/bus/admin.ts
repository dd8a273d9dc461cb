/** A topic as `ensureTopics` should make it. */
export interface TopicSpec {
  readonly topic: string;
  /** Number of partitions (≥ 1). An existing topic with fewer is grown; partitions are never removed. */
  readonly partitions: number;
  /** Log compaction: the bus keeps at least the last message per key (changelogs, the registry). Default false. */
  readonly compacted?: boolean;
  /** Time-based retention in ms (Kafka `retention.ms`). Default: the broker's. */
  readonly retentionMs?: number;
}

/** What `describeTopic` reports. */
export interface TopicDescription {
  readonly topic: string;
  readonly partitions: number;
  /** Topic-level settings as the broker reports them (e.g. `cleanup.policy`). */
  readonly config: Readonly<Record<string, string>>;
}

/** The readable range of one partition at the moment it was asked. */
export interface PartitionOffsets {
  readonly topic: string;
  readonly partition: number;
  /** Oldest offset still readable (retention may have removed older ones), a decimal string. */
  readonly start: string;
  /** Offset the next message will get (Kafka's high watermark), a decimal string; `start` when empty. */
  readonly end: string;
}

/**
 * Topic management. `ensureTopics` is idempotent and returns only once every partition has a
 * leader, so producers and consumers can start right after it.
 *
 * @example
 * const admin = bus.admin();
 * await admin.ensureTopics([
 *   { topic: 'telemetry.position', partitions: 12 },
 *   { topic: 'vigil.changelog.convoy', partitions: 12, compacted: true },
 * ]);
 * await admin.close();
 */
export interface BusAdmin {
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>;
  /** Deletes topics; names that do not exist are ignored. */
  deleteTopics(topics: readonly string[]): Promise<void>;
  listTopics(): Promise<string[]>;
  /** `null` when the topic does not exist. */
  describeTopic(topic: string): Promise<TopicDescription | null>;
  /**
   * Start and end offsets of every partition of `topic`, now: a reader that stops at `end`
   * reads a snapshot and terminates however fast producers write (an audit, a catch-up check).
   * Rejects with `VIGIL_E_BUS_TOPIC_UNKNOWN` for a topic that does not exist.
   */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Per partition of `topic`, the first offset whose message timestamp is at or after
   * `timestampMs` (Kafka ListOffsets by time), or the end offset where none is: where a reader
   * starts to read "the last hour" without reading what came before.
   * Rejects with `VIGIL_E_BUS_TOPIC_UNKNOWN` for a topic that does not exist.
   */
  offsetsAt(topic: string, timestampMs: number): Promise<Array<{ readonly partition: number; readonly offset: string }>>;
  close(): Promise<void>;
}
