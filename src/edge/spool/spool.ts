/**
 * The store-and-forward spool of the edge gateway (docs/architecture.md §4): where admitted frames wait,
 * durably, while Kafka is unreachable, and from where they drain, in order per device, when
 * the link returns. Two implementations share these semantics: `MemorySpool` (no
 * durability; tests and the single-process demo) and `FileSpool` (segment files on disk).
 */

/** Priority classes, most urgent first. */
export type SpoolPriority = 'flash' | 'immediate' | 'routine';

/** One spooled frame: what the gateway would have sent to Kafka. The spool never looks inside. */
export interface SpoolEntry {
  /** The device the frame came from; ordering is kept per device id. */
  readonly deviceId: string;
  readonly priority: SpoolPriority;
  /** Kafka topic the record goes to (`telemetry.<kind>`). */
  readonly topic: string;
  /** Kafka message key (normally the device id, as bytes). */
  readonly key?: Buffer;
  /** The sealed record bytes. */
  readonly value: Buffer;
  /** Kafka headers (such as the stream key id). */
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  /** When the gateway spooled it, ms since the epoch (from the gateway's injected clock). */
  readonly enqueuedAt: number;
  /** Optional deadline, ms since the epoch: an entry still spooled at this time is dropped at drain time, counted as expired. */
  readonly expiresAt?: number;
}

/** Why an entry left the spool other than by being delivered. */
export type SpoolDropReason =
  /** shed to make room within the byte budget */
  | 'shed'
  /** its `expiresAt` passed before it could be delivered */
  | 'expired'
  /** its record failed its checksum when read back from disk */
  | 'corrupt';

/** Reported (via `onDrop` and `diagnostics_channel`) for every entry dropped without delivery. */
export interface SpoolDropEvent {
  readonly reason: SpoolDropReason;
  readonly deviceId: string;
  readonly priority: SpoolPriority;
  /** Size the entry took in the byte budget. */
  readonly bytes: number;
  readonly enqueuedAt: number;
  /** Spool clock time of the drop. */
  readonly at: number;
}

/** Limits of one drain batch. At least one entry is returned when any is available, whatever its size. */
export interface SpoolPeekLimits {
  /** Most entries in the batch. Default 500. */
  readonly maxEntries?: number;
  /** Most budget bytes in the batch (see `spoolEntrySize`). Default 1 MiB. */
  readonly maxBytes?: number;
}

/**
 * Entries handed out for delivery. They stay in the spool (and count in its budget) until
 * `ack` removes them for good or `nack` makes them available again. Every device's entries
 * in `entries` are in the order they were appended.
 */
export interface SpoolBatch {
  /** Unique per spool instance. */
  readonly id: number;
  readonly entries: readonly SpoolEntry[];
  /** Sum of the entries' budget sizes. */
  readonly bytes: number;
}

/** Entries and budget bytes of one priority class. */
export interface SpoolClassStats {
  readonly entries: number;
  readonly bytes: number;
}

/** Counters since the spool was opened (not persisted). */
export interface SpoolCounters {
  readonly appended: number;
  readonly acked: number;
  readonly nacked: number;
  readonly shed: Readonly<Record<SpoolPriority, number>>;
  readonly expired: Readonly<Record<SpoolPriority, number>>;
  readonly corrupt: number;
}

/** A snapshot of the spool's state. */
export interface SpoolStats {
  /** Entries held (waiting or in flight). */
  readonly entries: number;
  /** Budget bytes held (waiting or in flight). */
  readonly bytes: number;
  readonly budgetBytes: number;
  /** Entries handed out in batches that are neither acked nor nacked yet. */
  readonly inFlightEntries: number;
  readonly byPriority: Readonly<Record<SpoolPriority, SpoolClassStats>>;
  /** Age (spool clock) of the oldest entry held, 0 when empty. */
  readonly oldestAgeMs: number;
  readonly counters: SpoolCounters;
  /** Disk implementation only: bytes of segment files, live and dead records together. */
  readonly diskBytes?: number;
  /** Disk implementation only: segment files on disk. */
  readonly segments?: number;
  /** Disk implementation only: fsync (fdatasync) calls made since open. */
  readonly syncs?: number;
}

/**
 * A store-and-forward spool.
 *
 * Ordering: entries of one device are handed out in the order they were appended, across
 * batches, across priority classes, while appends continue, after `nack`, and after a
 * restart (disk). A device has at most one batch in flight: its later entries wait until
 * that batch is acked or nacked, so a redelivery can never be overtaken.
 *
 * Priority: flash entries drain first, then immediate, then routine. When a device's
 * urgent entry has older, less urgent entries of the same device before it, those older
 * entries are promoted and drain with it (just before it) rather than being overtaken.
 *
 * Budget: when an append does not fit, the oldest waiting routine entries are shed, then the
 * oldest waiting immediate ones. An entry only displaces entries of its own class or a lower
 * one (a routine frame never sheds an immediate one), flash is never shed, and entries in
 * flight are never shed. When not enough can be shed the whole append is refused with a
 * retriable `VIGIL_E_SPOOL_FULL`: the gateway must then stop acknowledging (backpressure).
 *
 * @example
 * await spool.append([entry]);               // durable (per the fsync policy) once resolved
 * const batch = await spool.peek({ maxEntries: 500 });
 * if (batch) {
 *   try { await producer.send(batch.entries); spool.ack(batch); } catch { spool.nack(batch); }
 * }
 */
export interface Spool {
  /**
   * Adds entries, atomically: all are added or, on error, none. Resolves once they are durable
   * under the spool's durability policy (`FileSpool`: fsync policy; `MemorySpool`: at once, not
   * durable). Rejects with `VIGIL_E_SPOOL_FULL` (retriable) when the budget cannot take them,
   * `VIGIL_E_SPOOL_ENTRY_INVALID` for a malformed entry, `VIGIL_E_SPOOL_CLOSED`, or
   * `VIGIL_E_SPOOL_IO` when the disk failed (the spool then refuses all further work).
   */
  append(entries: readonly SpoolEntry[]): Promise<void>;
  /** The next batch to deliver, or `null` when nothing is waiting (or every waiting device has a batch in flight). */
  peek(limits?: SpoolPeekLimits): Promise<SpoolBatch | null>;
  /** The batch was delivered (Kafka acked it): its entries leave the spool for good. */
  ack(batch: SpoolBatch): void;
  /** The batch was not delivered: its entries wait again, in their places, and are handed out again. */
  nack(batch: SpoolBatch): void;
  /** Resolves once everything done so far (appends, acks, drops) is written and synced. */
  flush(): Promise<void>;
  stats(): SpoolStats;
  /** Flushes and releases resources. Batches still in flight stay in a disk spool. Idempotent. */
  close(): Promise<void>;
}
