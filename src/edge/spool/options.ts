import { VigilError } from '../../errors';
import type { SpoolDropEvent } from './spool';

/** Options every spool takes. */
export interface SpoolOptions {
  /** Most budget bytes the spool holds (see `spoolEntrySize`). Default 256 MiB. */
  readonly budgetBytes?: number;
  /** The spool's clock, ms since the epoch: expiry and ages. Default `Date.now`. */
  readonly now?: () => number;
  /** Called for every entry dropped without delivery (shed, expired, corrupt). Must not throw. */
  readonly onDrop?: (event: SpoolDropEvent) => void;
  /**
   * Make room for an append by shedding waiting routine (then immediate) entries. Default
   * true. false: an append that does not fit is refused (`VIGIL_E_SPOOL_FULL`) and nothing
   * held is ever dropped for room — what a gateway whose devices were told these frames are
   * durable (durable receipts) needs.
   */
  readonly shed?: boolean;
}

/**
 * When `FileSpool.append` resolves:
 * - `'always'`: after the records are written and fdatasync'ed. Concurrent appends share one
 *   sync (group commit). Survives a process crash and a power loss.
 * - `'interval'`: after the records are written (to the OS page cache); a timer syncs every
 *   `fsyncIntervalMs`. Survives a process crash; a power loss or kernel crash may lose the
 *   appends of the last interval — weaker than the delivery contract asks, so only for
 *   deployments that accept it.
 * - `'never'`: written, never synced (the OS writes back when it likes). Tests and benchmarks.
 */
export type FsyncPolicy = 'always' | 'interval' | 'never';

/** Options of `FileSpool.open`. */
export interface FileSpoolOptions extends SpoolOptions {
  /** Directory of the segment files; created when missing. One open spool per directory. */
  readonly dir: string;
  /** Durability of `append`. Default `'always'`. */
  readonly fsync?: FsyncPolicy;
  /** Sync period of the `'interval'` policy, ms. Default 50. */
  readonly fsyncIntervalMs?: number;
  /**
   * A new segment file is started before a write that would take the current one past this
   * size, so a segment may exceed it by one group-commit write. Default 16 MiB.
   */
  readonly segmentBytes?: number;
  /**
   * Budget bytes of written entries also kept in memory, newest first, so that a queue
   * drained soon after it was written (a relay keeping up, a short outage) is handed out
   * without reading the disk back; older entries are read from their segment. 0 keeps
   * none. Default 4 MiB.
   */
  readonly residentBytes?: number;
}

export const SPOOL_DEFAULTS = Object.freeze({
  budgetBytes: 256 * 1024 * 1024,
  fsync: 'always' as FsyncPolicy,
  fsyncIntervalMs: 50,
  segmentBytes: 16 * 1024 * 1024,
  residentBytes: 4 * 1024 * 1024,
});

/** Options after validation, with defaults filled in; frozen. */
export interface ResolvedSpoolOptions {
  readonly budgetBytes: number;
  readonly shed: boolean;
  readonly now: () => number;
  readonly onDrop: ((event: SpoolDropEvent) => void) | undefined;
}

export interface ResolvedFileSpoolOptions extends ResolvedSpoolOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly segmentBytes: number;
  readonly residentBytes: number;
}

function fail(option: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  throw new VigilError('VIGIL_E_SPOOL_OPTIONS', `spool option "${option}" is ${shown}; ${allowed}`, { details: { option } });
}

function positiveInteger(option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) fail(option, value, `expected an integer >= ${min}`);
  return value;
}

function optionalFunction<F>(option: string, value: unknown): F | undefined {
  if (value !== undefined && typeof value !== 'function') fail(option, value, 'expected a function');
  return value as F | undefined;
}

/** Validates the common options once; throws `VIGIL_E_SPOOL_OPTIONS` naming the option. */
export function resolveSpoolOptions(options: SpoolOptions = {}): ResolvedSpoolOptions {
  if (typeof options !== 'object' || options === null) fail('options', options, 'expected an options object');
  return Object.freeze({
    budgetBytes: positiveInteger('budgetBytes', options.budgetBytes, SPOOL_DEFAULTS.budgetBytes, 1),
    shed: options.shed === undefined ? true : typeof options.shed === 'boolean' ? options.shed : fail('shed', options.shed, 'expected true or false'),
    now: optionalFunction<() => number>('now', options.now) ?? Date.now,
    onDrop: optionalFunction<(event: SpoolDropEvent) => void>('onDrop', options.onDrop),
  });
}

/** Validates the file spool's options once; throws `VIGIL_E_SPOOL_OPTIONS` naming the option. */
export function resolveFileSpoolOptions(options: FileSpoolOptions): ResolvedFileSpoolOptions {
  const common = resolveSpoolOptions(options);
  if (typeof options.dir !== 'string' || options.dir.length === 0) fail('dir', options.dir, 'expected a directory path');
  const fsync = options.fsync ?? SPOOL_DEFAULTS.fsync;
  if (fsync !== 'always' && fsync !== 'interval' && fsync !== 'never') fail('fsync', fsync, 'expected one of "always", "interval", "never"');
  return Object.freeze({
    ...common,
    dir: options.dir,
    fsync,
    fsyncIntervalMs: positiveInteger('fsyncIntervalMs', options.fsyncIntervalMs, SPOOL_DEFAULTS.fsyncIntervalMs, 1),
    segmentBytes: positiveInteger('segmentBytes', options.segmentBytes, SPOOL_DEFAULTS.segmentBytes, 4096),
    residentBytes: positiveInteger('residentBytes', options.residentBytes, SPOOL_DEFAULTS.residentBytes, 0),
  });
}
