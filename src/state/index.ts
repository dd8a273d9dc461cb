/**
 * Keyed state stores of the pipeline runtime: a bounded memory cache over a local disk
 * store (LMDB) per source partition, and the incremental changelog records that make them
 * durable in Kafka (docs/runtime.md "State stores").
 */
export { openLmdbStateDir, memoryStateDir, type LocalKv, type LocalStateDir } from './local-kv';
export { StateMemory, PartitionState, CachedKeyedState, type PreparedCommit, type LocalCommit, type TailRecord } from './partition-state';
export { parseRecordKey, openState, sealState, MAX_RECORD_BYTES, CHUNK_BYTES, STATE_RECORD_VERSION, type ParsedKey, type OpenedState } from './changelog-codec';
export { readRanges, type PartitionRange, type ReadRangesOptions } from './changelog-reader';
