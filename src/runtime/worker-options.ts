import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { Bus, BusConsumerOptions, BusMessage } from '../bus';
import type { StreamDataKey, StreamKeyring } from '../crypto';
import { VigilError } from '../errors';
import type { DerivedOutput } from './types';

/** Options of `startPipeline`. Defaults beside each option. */
/**
 * Default commit interval, 30 s as Kafka Streams' `commit.interval.ms`: an entry that
 * changes many times between commits is written once. At 100,000 devices each reporting
 * every second, a 5 s interval wrote nearly every change (two changelog records per input
 * record) and spent most of the worker's CPU committing. The price: a crashed worker
 * re-reads up to one interval of input (results are the same, under the same keys).
 */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 30_000;
/**
 * Default heap budget of a pipeline's state caches. Holds the working set of 100,000
 * devices (an open 10 s window, dedupe and detector state each, about 110 MB) plus the
 * entries changed between two commits without evicting what is about to be used.
 */
export const DEFAULT_STATE_CACHE_BYTES = 192 * 1024 * 1024;

export interface PipelineWorkerOptions {
  readonly bus: Bus;
  /** Stream keys to open the source records (by the key id in their headers) and the checkpoints. */
  readonly keyring: StreamKeyring;
  /** Seals what the pipeline publishes to `derived.<name>`: analysts need this key to read it. */
  readonly derivedKey: StreamDataKey;
  /** Seals checkpoints in the changelog. Default `derivedKey`. Must be in `keyring` for restores (added when absent). */
  readonly stateKey?: StreamDataKey;
  /** Consumer group of the workers of this pipeline. Default `vigil.pipeline.<name>`. */
  readonly groupId?: string;
  /** Put in front of every topic name (sources, derived, changelog), e.g. per test or tenant. Default ''. */
  readonly topicPrefix?: string;
  /**
   * How often (ms of wall-clock time) to commit the state of every partition read since its
   * last commit: the store entries changed since then, then a commit record with the
   * offset. Checked after each batch, inside the consumer's loop (an idle worker commits at
   * its next batch or at `stop()`). Default 30,000 (`DEFAULT_CHECKPOINT_INTERVAL_MS`). 0: only on `checkpoint()`, a full state
   * cache and `stop()`. Shorter means less to re-read after a crash, more changelog writes.
   */
  readonly checkpointIntervalMs?: number;
  /** Partitions of `derived.<name>` when the worker creates it. Default: the most of any source topic. */
  readonly derivedPartitions?: number;
  /**
   * Local directory of the worker's state stores (LMDB, one database per source partition
   * it owns). State beyond `stateCacheBytes` spills there, and a clean restart on the same
   * directory restores from it plus the changelog's tail instead of the whole changelog.
   * One directory per worker process. Default: none (state spills to encoded bytes in
   * memory, and every restore reads the changelog).
   */
  readonly stateDir?: string;
  /** Heap budget of the state caches in bytes (an estimate of the heap their entries take); beyond it, clean state is evicted to the local store. Default 192 MiB (`DEFAULT_STATE_CACHE_BYTES`). */
  readonly stateCacheBytes?: number;
  /**
   * Consumer settings (timeouts, batch sizes) for the source consumer and the changelog
   * reader. `fromBeginning` (default true here) decides where a partition with neither
   * checkpoint nor committed offset starts: a new pipeline reads the retained history.
   */
  readonly consumer?: Partial<Omit<BusConsumerOptions, 'groupId'>>;
  /** Longest an assignment waits to read the changelog of the partitions it restores. Default 30,000 ms (a larger state needs more). */
  readonly syncTimeoutMs?: number;
  /** Processing-time scheduler handed to `build` through `ctx.scheduler`. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** A source message that cannot be opened or is not a telemetry record of its topic's kind. Also counted. */
  readonly onInvalidInput?: (message: BusMessage, error: VigilError) => void;
  /** A result refused: above the ceiling (`VIGIL_E_PIPELINE_CEILING`) or not publishable (`VIGIL_E_PIPELINE_OUTPUT`). Also counted. */
  readonly onRefused?: (output: DerivedOutput, error: VigilError) => void;
  /** The worker stopped on this error (`VIGIL_E_PIPELINE_FAILED`, cause inside). */
  readonly onError?: (error: VigilError) => void;
}

/** `PipelineWorkerOptions` with defaults applied, checked once. */
export interface ResolvedWorkerOptions extends PipelineWorkerOptions {
  readonly stateKey: StreamDataKey;
  readonly groupId: string;
  readonly topicPrefix: string;
  readonly checkpointIntervalMs: number;
  readonly stateCacheBytes: number;
  readonly syncTimeoutMs: number;
  readonly scheduler: SchedulerLike;
}

function fail(pipeline: string, option: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'function' ? 'a function' : typeof value === 'object' && value !== null ? 'an object' : String(value);
  throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "${pipeline}" worker: option "${option}" is ${shown}; ${allowed}`, { details: { pipeline, option } });
}

function count(pipeline: string, option: string, v: unknown, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(pipeline, option, v, `expected an integer >= ${min}`);
  return v;
}

/** Applies defaults and checks the options (`VIGIL_E_PIPELINE_OPTIONS`); the result is frozen. */
export function resolveWorkerOptions(pipeline: string, o: PipelineWorkerOptions): ResolvedWorkerOptions {
  if (typeof o !== 'object' || o === null) fail(pipeline, 'options', o, 'expected an options object');
  if (typeof o.bus?.consumer !== 'function' || typeof o.bus.producer !== 'function') fail(pipeline, 'bus', o.bus, 'expected a Bus (KafkaBus or MemoryBus)');
  if (typeof o.keyring?.get !== 'function') fail(pipeline, 'keyring', o.keyring, 'expected a StreamKeyring');
  const keyOk = (k: StreamDataKey | undefined): boolean => typeof k?.keyId === 'string' && k.key instanceof Uint8Array && k.key.length === 32;
  if (!keyOk(o.derivedKey)) fail(pipeline, 'derivedKey', o.derivedKey, 'expected a StreamDataKey (generateStreamKey / readStreamKeyFile)');
  if (o.stateKey !== undefined && !keyOk(o.stateKey)) fail(pipeline, 'stateKey', o.stateKey, 'expected a StreamDataKey');
  const prefix = o.topicPrefix ?? '';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9._-]{0,100}$/.test(prefix)) fail(pipeline, 'topicPrefix', prefix, 'expected up to 100 of [A-Za-z0-9._-]');
  const groupId = o.groupId ?? `vigil.pipeline.${pipeline}`;
  if (typeof groupId !== 'string' || groupId.length === 0) fail(pipeline, 'groupId', groupId, 'expected a non-empty string');
  for (const cb of ['onInvalidInput', 'onRefused', 'onError'] as const) if (o[cb] !== undefined && typeof o[cb] !== 'function') fail(pipeline, cb, o[cb], 'expected a function');
  const scheduler = o.scheduler ?? asyncScheduler;
  if (typeof scheduler?.now !== 'function' || typeof scheduler.schedule !== 'function') fail(pipeline, 'scheduler', scheduler, 'expected an rxjs SchedulerLike');
  const stateKey = o.stateKey ?? o.derivedKey;
  if (o.stateDir !== undefined && (typeof o.stateDir !== 'string' || o.stateDir.length === 0)) fail(pipeline, 'stateDir', o.stateDir, 'expected a directory path');
  return Object.freeze({
    ...o,
    stateKey,
    groupId,
    topicPrefix: prefix,
    checkpointIntervalMs: count(pipeline, 'checkpointIntervalMs', o.checkpointIntervalMs, DEFAULT_CHECKPOINT_INTERVAL_MS, 0),
    stateCacheBytes: count(pipeline, 'stateCacheBytes', o.stateCacheBytes, DEFAULT_STATE_CACHE_BYTES, 1024 * 1024),
    ...(o.derivedPartitions === undefined ? {} : { derivedPartitions: count(pipeline, 'derivedPartitions', o.derivedPartitions, 1, 1) }),
    syncTimeoutMs: count(pipeline, 'syncTimeoutMs', o.syncTimeoutMs, 30_000, 1),
    scheduler,
  });
}
