/**
 * What `vigil relay` reports (`Relay.stats()`) and `src/metrics` turns into series at each
 * scrape: the one shape both sides agree on, as the channel payloads in `channels.ts` are.
 */

/** Why the relay withheld a record (never sent it): the closed list its counters carry. */
export const RELAY_WITHHELD_REASONS = ['above-ceiling', 'not-releasable', 'unreadable'] as const;
export type RelayWithheldReason = (typeof RELAY_WITHHELD_REASONS)[number];

/** State of the link to the destination. */
export type RelayLinkState = 'starting' | 'up' | 'reconciling' | 'down';

/** Counters since start and the queue's state now. */
export interface RelayStats {
  readonly link: RelayLinkState;
  /** Records the destination acknowledged. */
  readonly relayed: number;
  /** Records put in the queue for release. */
  readonly queued: number;
  readonly withheld: Readonly<Record<RelayWithheldReason, number>>;
  /** Records left out by the stream's down-sampling. */
  readonly sampled: number;
  /** Derived values dropped by redaction. */
  readonly redactedFields: number;
  /** Queued records not sent because the destination already held them (after a cut or a restart). */
  readonly duplicatesSkipped: number;
  /** Records shed from the full queue, by priority. */
  readonly shed: Readonly<Record<'flash' | 'immediate' | 'routine', number>>;
  readonly backlogRecords: number;
  readonly backlogBytes: number;
  readonly backlogOldestAgeMs: number;
  /**
   * Record bytes (key, value, headers) sent, before compression; and after: what the
   * destination's connections carried during the sends (compressed batches and Kafka framing;
   * a gzip estimate of the records on a bus that cannot count its bytes).
   */
  readonly bytesBeforeCompression: number;
  readonly bytesAfterCompression: number;
  readonly sendFailures: number;
  /** Times the destination's tail was read back (at start and after each failed send). */
  readonly reconciliations: number;
}

/** What the relay's audit trail (`ReleaseAudit.stats()`) reports: its signed summaries. */
export interface RelayAuditStats {
  /** Summaries written to the audit topic since start. */
  readonly written: number;
  /** Attempts to write one that failed (the summary is kept and written again). */
  readonly failed: number;
  /** When the last summary was written, ms since the epoch; 0 before the first. */
  readonly lastWrittenAtMs: number;
}
