/**
 * edge/spool: the gateway's store-and-forward spool (docs/architecture.md §4). `FileSpool` on disk,
 * `MemorySpool` in memory, both behind the `Spool` interface.
 */
export type {
  Spool,
  SpoolEntry,
  SpoolPriority,
  SpoolBatch,
  SpoolPeekLimits,
  SpoolStats,
  SpoolClassStats,
  SpoolCounters,
  SpoolDropEvent,
  SpoolDropReason,
} from './spool';
export { MemorySpool } from './memory-spool';
export { FileSpool, type SpoolRecoveryReport } from './file-spool';
export { SPOOL_DEFAULTS, type SpoolOptions, type FileSpoolOptions, type FsyncPolicy } from './options';
export { SPOOL_PRIORITIES } from './priority';
export { SPOOL_CHANNELS } from './drop-events';
export { spoolEntrySize } from './record-codec';
export { DEFAULT_PEEK_BYTES, DEFAULT_PEEK_ENTRIES } from './peek-limits';
