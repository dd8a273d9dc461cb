/** Limits of the wire format (docs/wire-format.md §6). Gateways may configure tighter ones. */

/** Largest frame, in bytes, a gateway accepts and a sealer produces. */
export const MAX_FRAME_BYTES = 32 * 1024;
/** Most readings in one frame (and in one telemetry record). */
export const MAX_READINGS_PER_FRAME = 256;
/** Largest reading offset from the frame's event time: a frame batches at most 10 minutes. */
export const MAX_READING_OFFSET_MS = 10 * 60 * 1000;
/** Default bound on |event time − gateway time| the gateway admits (the check is the gateway's). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Event times (ms since the Unix epoch) outside [2000-01-01, 2100-01-01) are malformed. */
export const MIN_EVENT_TIME_MS = Date.UTC(2000, 0, 1);
export const MAX_EVENT_TIME_MS = Date.UTC(2100, 0, 1);
/** Largest sealed record (Kafka message value). */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Most provenance entries (frame ranges) in a derived record. */
export const MAX_PROVENANCE_ENTRIES = 4096;
/** Most entries in a derived record's values map. */
export const MAX_DERIVED_VALUES = 256;
/** Largest sequence number: u64. */
export const MAX_SEQ = 0xffff_ffff_ffff_ffffn;
