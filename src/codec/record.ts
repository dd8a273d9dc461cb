import type { ClassificationLabel } from './label';
import type { Reading, ReadingKind } from './reading';

/** Kafka header that carries the id of the stream key a record is sealed under. */
export const RECORD_KEY_ID_HEADER = 'vigil-key-id';

/** The sealed-record envelope version this build writes by default. */
export const RECORD_VERSION = 1;

/**
 * Envelope version 2: the plaintext is compressed (raw DEFLATE) before sealing, and the
 * ciphertext starts with the version byte so that the version is authenticated
 * (docs/wire-format.md §7). Written only when asked (`seal(…, { compress: true })`, the
 * relay's `relay.recordCompression: deflate`); this build reads both.
 */
export const RECORD_VERSION_DEFLATE = 2;

/** Record type tags: the first element of a record plaintext. */
export const RECORD_TYPE_TAGS = { telemetry: 1, derived: 2 } as const;

/** What the gateway writes to `telemetry.<kind>`: the admitted readings of one kind from one frame. */
export interface TelemetryRecord {
  readonly type: 'telemetry';
  readonly deviceId: string;
  readonly seq: bigint;
  /** Frame event time, ms since the Unix epoch. */
  readonly eventTimeMs: number;
  /** When the gateway admitted the frame, ms since the Unix epoch (gateway clock). */
  readonly ingestTimeMs: number;
  readonly gatewayId: string;
  /** The kind of every reading in `readings` (and the topic suffix). */
  readonly kind: ReadingKind;
  readonly label: ClassificationLabel;
  readonly readings: readonly Reading[];
}

/** An inclusive range of sequence numbers of one device: input frames of a derived result. */
export interface FrameRange {
  readonly deviceId: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
}

/** A value in a derived record: a number, a short string, a boolean, or null (no value). */
export type DerivedValue = number | string | boolean | null;

/** What a pipeline publishes to `derived.<pipeline>`. */
export interface DerivedRecord {
  readonly type: 'derived';
  readonly pipeline: string;
  /** Event-time window [start, end), ms since the Unix epoch; start = end for point events. */
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Result key within the window (e.g. device id, unit, geofence id). */
  readonly key: string;
  readonly values: Readonly<Record<string, DerivedValue>>;
  /** 0 for the first result of a window; +1 for each revision caused by late data. */
  readonly revision: number;
  readonly label: ClassificationLabel;
  /** The input frames, as per-device ranges of sequence numbers. */
  readonly provenance: readonly FrameRange[];
}

export type VigilRecord = TelemetryRecord | DerivedRecord;

/** A sealed record ready for Kafka: `value` is the message value, `keyId` goes in the `vigil-key-id` header. */
export interface SealedRecord {
  readonly keyId: string;
  readonly value: Uint8Array;
}
