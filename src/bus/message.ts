/**
 * Messages as the bus hands them in and out. Values are opaque bytes (sealed records): the
 * bus never looks inside.
 */

/** Message headers as read back: always bytes, whatever was sent. */
export type BusHeaders = Readonly<Record<string, Buffer>>;

/** A topic partition. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/**
 * A position in a topic partition. `offset` is a decimal string (Kafka offsets are 64-bit);
 * in `commit` and `seek` it is the offset of the NEXT message to read, as in Kafka.
 */
export interface TopicPartitionOffset extends TopicPartition {
  readonly offset: string;
}

/** One message read from the bus. */
export interface BusMessage {
  readonly topic: string;
  readonly partition: number;
  /** Offset of this message in its partition, as a decimal string. */
  readonly offset: string;
  readonly key: Buffer | null;
  /** `null` is a tombstone (on a compacted topic: delete the key). */
  readonly value: Buffer | null;
  readonly headers: BusHeaders;
  /** Producer (create) time, ms since the epoch. */
  readonly timestamp: number;
}

/**
 * One message to produce.
 *
 * @example
 * const m: OutgoingMessage = { key: deviceId, value: sealed, headers: { 'vigil-key-id': keyId } };
 */
export interface OutgoingMessage {
  /** Messages with the same key go to the same partition, in send order. Keyless messages are spread. */
  readonly key?: Buffer | string | null;
  /** `null` writes a tombstone. */
  readonly value: Buffer | string | null;
  readonly headers?: Readonly<Record<string, Buffer | string>>;
  /** Explicit partition; overrides the key's partition. */
  readonly partition?: number;
  /** Create time, ms since the epoch. Default: now. */
  readonly timestamp?: number;
}
