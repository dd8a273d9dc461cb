/**
 * One pipeline worker of the `worker` bench in its own process (so CPU, GC and RSS are its
 * own): `startPipeline` (the public runtime API) over a pre-loaded `telemetry.vitals`, in a
 * fresh consumer group or, for a restore, the group of an earlier (SIGKILLed) run. It reads
 * until its position on every source partition reaches the end offsets the parent measured
 * after pre-loading, then reports, over IPC:
 *
 * - `ready`: `startPipeline` resolved (group joined, first assignment restored);
 * - `progress` every second: records read, RSS, checkpoint counters (the parent keeps the
 *   last one, so a run that stalls or dies still has figures);
 * - `result`: the measurements, once caught up and (run mode) once the first checkpoint
 *   attempt after that settled, or when the time limit passed (`finished: false`).
 *
 * Measured here: records/s and CPU µs/record (process.cpuUsage) over the same interval,
 * from the end of the first batch to the end of the batch that caught up; GC share
 * (PerformanceObserver 'gc' durations in that interval / its wall time); peak RSS (VmHWM);
 * the longest event-loop stall; checkpoints: from the `channels.pipelineCheckpoint`
 * diagnostics channel (successful ones, bytes per checkpoint), the worker's stats()
 * counters, and every changelog send the worker makes, seen through a wrapper of its `Bus`
 * (so refused checkpoints are measured too: record sizes, the broker's error).
 *
 * Argument: one JSON `WorkerBenchChildConfig`.
 */
import { readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { KafkaBus, type Bus, type BusProducer, type OutgoingMessage } from '../../src/bus';
import { StreamKeyring, type StreamDataKey } from '../../src/crypto';
import { channels, type PipelineBatchEvent, type PipelineCheckpointEvent, type TypedChannel } from '../../src/instrument';
import { limitHeapGrowth } from '../../src/cli/worker-heap';
import { loadConfig } from '../../src/config';
import { startPipeline, type PipelineWorker, type PipelineWorkerStats } from '../../src/runtime';
import { WORKER_BENCH_PIPELINES, type WorkerBenchPipeline } from './worker-bench-pipeline';
import { LoopDelay } from './loop-delay';

export interface WorkerBenchChildConfig {
  readonly brokers: string;
  readonly topicPrefix: string;
  readonly pipeline: WorkerBenchPipeline;
  readonly groupId: string;
  readonly telemetryKey: { readonly keyId: string; readonly key: string };
  readonly derivedKey: { readonly keyId: string; readonly key: string };
  /** End offset of each source partition: caught up when every position reaches it. */
  readonly ends: readonly number[];
  /** Give up (report `finished: false`) this long after `startPipeline` resolved. */
  readonly limitMs: number;
  /** Run mode: after catching up, the longest wait for the final `checkpoint()`. */
  readonly waitCheckpointMs: number;
  readonly mode: 'run' | 'restore';
  /** The worker's local state store (`stateDir`), when the runtime has one. */
  readonly stateDir?: string;
  /** `stateCacheBytes` of the worker, when set. */
  readonly stateCacheBytes?: number;
  /** `checkpointIntervalMs` of the worker, when set. */
  readonly checkpointIntervalMs?: number;
  /** Name the pipeline runs under (its changelog and derived topic), when not its own: extra runs over the same pre-load. */
  readonly pipelineName?: string;
}

/** Changelog sends of the worker, as seen through its bus (fences excluded). */
export interface CheckpointSends {
  attempts: number;
  ok: number;
  failed: number;
  /** Checkpoint records (one per source partition) in successful sends. */
  okRecords: number;
  /** Largest checkpoint record (message value) attempted / written, bytes. */
  maxRecordBytes: number;
  maxOkRecordBytes: number;
  /** Largest total of one checkpoint (all its partitions' records), attempted / written. */
  maxCheckpointBytes: number;
  maxOkCheckpointBytes: number;
  /** Longest send to the changelog (request and acknowledgement, not the snapshot), ms. */
  maxSendMs: number;
  errors: Record<string, number>;
}

/** What the child reports. */
export interface WorkerBenchChildResult {
  readonly finished: boolean;
  readonly why: string;
  readonly pipeline: string;
  readonly mode: 'run' | 'restore';
  /** Date.now() when this module ran, when startPipeline resolved, when caught up. */
  readonly loadedAt: number;
  readonly startedAt: number;
  readonly caughtUpAt: number | null;
  /** Date.now() when this report was made. */
  readonly at: number;
  readonly restoredAtStart: number;
  readonly records: number;
  readonly totalRecords: number;
  /** Over the measured interval (end of first batch → end of the catching-up batch, or now). */
  readonly intervalRecords: number;
  readonly intervalMs: number;
  readonly recordsPerSec: number;
  /**
   * Records/s until caught up with the final checkpoint's time added: the rate at which
   * records were read *and* their state made durable. Commits run on a 30 s timer, so a
   * pipeline that catches up sooner leaves more of its commit work to that final one.
   */
  readonly recordsPerSecCommitted?: number | null;
  readonly cpuUsPerRecord: number;
  readonly cpuShare: number;
  readonly gcMs: number;
  readonly gcShare: number;
  readonly gcCount: number;
  readonly peakRssBytes: number;
  /** Highest RssAnon (heap, buffers) and RssFile (mapped files: the LMDB store, code) seen at the 1 s samples. */
  readonly peakRssAnonBytes: number;
  readonly peakRssFileBytes: number;
  /** Highest V8 heap committed (heapTotal) and memory outside it (external: Buffers, native) at the 1 s samples. */
  readonly peakHeapTotalBytes?: number;
  readonly peakExternalBytes?: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapLimitBytes: number;
  readonly maxEventLoopStallMs: number;
  readonly stats: PipelineWorkerStats | null;
  /** From `channels.pipelineCheckpoint`: successful checkpoints; bytes per checkpoint (all its records). */
  readonly checkpointEvents: { count: number; partitions: number; records: number; maxBytes: number; totalBytes: number; maxRecordBytes: number; maxSeconds: number };
  /** From `channels.pipelineRestore`, where the runtime has it. */
  readonly restoreEvents: { count: number; partitions: number; local: number; spilled?: number; seconds: number };
  readonly checkpointSends: CheckpointSends;
  /** Run mode: `checkpoint()` called once caught up (then the parent SIGKILLs the worker). */
  readonly finalCheckpoint: { readonly ok: boolean; readonly ms: number; readonly error: string } | null;
  /** kafkajs error log lines of the worker, counted. */
  readonly kafkaLog: Readonly<Record<string, number>>;
  /** Lowest source position over the partitions, records behind the end in total. */
  readonly behind: number;
}

/** Peaks of the RSS parts, sampled each second. */
const rssPeaks = { anon: 0, file: 0, heapTotal: 0, external: 0 };

function vm(field: string): number {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

const key = (k: { keyId: string; key: string }): StreamDataKey => ({ keyId: k.keyId, key: new Uint8Array(Buffer.from(k.key, 'base64')) });

/** The worker's bus, with every changelog send measured on its way through. */
function measuredBus(inner: Bus, changelogPrefix: string, m: CheckpointSends): Bus {
  const track = (messages: readonly OutgoingMessage[], sent: Promise<void>): Promise<void> => {
    let total = 0;
    let largest = 0;
    let n = 0;
    for (const msg of messages) {
      const k = msg.key === null || msg.key === undefined ? '' : msg.key.toString();
      if (k.startsWith('~fence~')) continue;
      const len = msg.value === null ? 0 : msg.value.length;
      total += len;
      largest = Math.max(largest, len);
      n++;
    }
    if (n === 0) return sent; // fences of the changelog reader's sync
    m.attempts++;
    m.maxRecordBytes = Math.max(m.maxRecordBytes, largest);
    m.maxCheckpointBytes = Math.max(m.maxCheckpointBytes, total);
    const t0 = performance.now();
    return sent.then(
      () => {
        m.ok++;
        m.okRecords += n;
        m.maxOkRecordBytes = Math.max(m.maxOkRecordBytes, largest);
        m.maxOkCheckpointBytes = Math.max(m.maxOkCheckpointBytes, total);
        m.maxSendMs = Math.max(m.maxSendMs, performance.now() - t0);
      },
      (err: unknown) => {
        m.failed++;
        m.maxSendMs = Math.max(m.maxSendMs, performance.now() - t0);
        const what = `${(err as { code?: string }).code ?? 'error'}: ${String((err as Error).message ?? err).slice(0, 300)}`;
        m.errors[what] = (m.errors[what] ?? 0) + 1;
        throw err;
      },
    );
  };
  return {
    producer: (options) => {
      const p = inner.producer(options);
      const wrapped: BusProducer = {
        send: (topic, messages) => (topic.startsWith(changelogPrefix) ? track(messages, p.send(topic, messages)) : p.send(topic, messages)),
        flush: () => p.flush(),
        close: () => p.close(),
      };
      return wrapped;
    },
    consumer: (options) => inner.consumer(options),
    admin: () => inner.admin(),
    isConnected: () => inner.isConnected(),
    onConnectionChange: (listener) => inner.onConnectionChange(listener),
    close: () => inner.close(),
  };
}

async function main(): Promise<void> {
  const loadedAt = Date.now();
  const cfg = JSON.parse(process.argv[2] as string) as WorkerBenchChildConfig;
  const definition = cfg.pipelineName === undefined ? WORKER_BENCH_PIPELINES[cfg.pipeline] : { ...WORKER_BENCH_PIPELINES[cfg.pipeline], name: cfg.pipelineName };
  const send = (m: Record<string, unknown>): void => {
    if (process.connected) process.send?.(m);
  };
  const totalRecords = cfg.ends.reduce((a, b) => a + b, 0);
  // As `vigil worker` does at start (VIGIL_WORKER_HEAP_GROWING_PERCENT=0: V8's own heap sizing).
  limitHeapGrowth(loadConfig({}).worker.heapGrowingPercent);

  // GC: every pause, with its start, so the measured interval can be cut out exactly.
  let gcCount = 0;
  const gcMarks: Array<[number, number]> = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcCount++;
      gcMarks.push([e.startTime, e.duration]);
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const loop = new LoopDelay(20);

  const checkpointEvents = { count: 0, partitions: 0, records: 0, maxBytes: 0, totalBytes: 0, maxRecordBytes: 0, maxSeconds: 0 };
  channels.pipelineCheckpoint.subscribe((e: PipelineCheckpointEvent) => {
    if (e.pipeline !== definition.name) return;
    // `records` and `maxRecordBytes` come with the incremental changelog (issue 11); absent before.
    const more = e as PipelineCheckpointEvent & { records?: number; maxRecordBytes?: number };
    checkpointEvents.count++;
    checkpointEvents.partitions += e.partitions;
    checkpointEvents.records += more.records ?? e.partitions;
    checkpointEvents.maxBytes = Math.max(checkpointEvents.maxBytes, e.bytes);
    checkpointEvents.totalBytes += e.bytes;
    checkpointEvents.maxRecordBytes = Math.max(checkpointEvents.maxRecordBytes, more.maxRecordBytes ?? 0);
    checkpointEvents.maxSeconds = Math.max(checkpointEvents.maxSeconds, e.seconds);
  });
  // Restores, where the runtime reports them (issue 11's `pipelineRestore` channel).
  const restoreEvents = { count: 0, partitions: 0, local: 0, spilled: 0, seconds: 0 };
  const restoreChannel = (channels as unknown as Record<string, TypedChannel<{ pipeline: string; partitions: number; local?: number; spilled?: number; seconds: number }> | undefined>).pipelineRestore;
  restoreChannel?.subscribe((e) => {
    if (e.pipeline !== definition.name) return;
    restoreEvents.count++;
    restoreEvents.partitions += e.partitions;
    restoreEvents.local += e.local ?? 0;
    restoreEvents.spilled += e.spilled ?? 0;
    restoreEvents.seconds += e.seconds;
  });
  const sends: CheckpointSends = { attempts: 0, ok: 0, failed: 0, okRecords: 0, maxRecordBytes: 0, maxOkRecordBytes: 0, maxCheckpointBytes: 0, maxOkCheckpointBytes: 0, maxSendMs: 0, errors: {} };

  // Assigned once startPipeline resolves; batches may arrive before that.
  let worker: PipelineWorker | undefined = undefined;
  let first: { at: number; records: number; cpu: NodeJS.CpuUsage } | undefined;
  let last: { at: number; records: number; cpu: NodeJS.CpuUsage } | undefined;
  let caughtUpAt: number | null = null;
  let batchRecords = 0;
  let startedAt = 0;
  let restoredAtStart = 0;
  let failure = '';
  let finalCheckpoint: { ok: boolean; ms: number; error: string } | null = null;
  /** The kafkajs client's error lines, counted (heartbeats refused = the group rebalanced under the worker). */
  const kafkaLog: Record<string, number> = {};

  const behind = (): number => {
    if (worker === undefined) return totalRecords;
    const at = new Map<number, number>();
    for (const p of worker.positions()) at.set(p.partition, Number(p.offset));
    let n = 0;
    cfg.ends.forEach((end, p) => (n += Math.max(0, end - (at.get(p) ?? 0))));
    return n;
  };
  const checkCaughtUp = (): void => {
    if (caughtUpAt !== null || worker === undefined || behind() > 0) return;
    caughtUpAt = Date.now();
    last = { at: performance.now(), records: batchRecords, cpu: process.cpuUsage() };
    onCaughtUp();
  };
  channels.pipelineBatch.subscribe((e: PipelineBatchEvent) => {
    if (e.pipeline !== definition.name) return;
    batchRecords += e.records;
    if (first === undefined) first = { at: performance.now(), records: batchRecords, cpu: process.cpuUsage() };
    checkCaughtUp();
  });

  const result = (finished: boolean, why: string): WorkerBenchChildResult => {
    const end = last ?? { at: performance.now(), records: batchRecords, cpu: process.cpuUsage() };
    const start = first ?? end;
    const intervalMs = end.at - start.at;
    const intervalRecords = end.records - start.records;
    const cpuUs = end.cpu.user + end.cpu.system - (start.cpu.user + start.cpu.system);
    let gcIn = 0;
    for (const [t, d] of gcMarks) if (t >= start.at && t < end.at) gcIn += Math.min(d, end.at - t);
    const mem = process.memoryUsage();
    return {
      finished,
      why,
      pipeline: definition.name,
      mode: cfg.mode,
      loadedAt,
      startedAt,
      caughtUpAt,
      at: Date.now(),
      restoredAtStart,
      records: worker?.stats().records ?? 0,
      totalRecords,
      intervalRecords,
      intervalMs,
      recordsPerSec: intervalMs > 0 ? (intervalRecords * 1000) / intervalMs : 0,
      recordsPerSecCommitted: finalCheckpoint?.ok === true && intervalMs > 0 ? (intervalRecords * 1000) / (intervalMs + finalCheckpoint.ms) : null,
      cpuUsPerRecord: intervalRecords > 0 ? cpuUs / intervalRecords : 0,
      cpuShare: intervalMs > 0 ? cpuUs / 1000 / intervalMs : 0,
      gcMs: gcIn,
      gcShare: intervalMs > 0 ? gcIn / intervalMs : 0,
      gcCount,
      peakRssBytes: vm('VmHWM'),
      peakRssAnonBytes: Math.max(rssPeaks.anon, vm('RssAnon')),
      peakRssFileBytes: Math.max(rssPeaks.file, vm('RssFile')),
      peakHeapTotalBytes: Math.max(rssPeaks.heapTotal, mem.heapTotal),
      peakExternalBytes: Math.max(rssPeaks.external, mem.external),
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapLimitBytes: getHeapStatistics().heap_size_limit,
      maxEventLoopStallMs: loop.read().maxMs,
      stats: worker?.stats() ?? null,
      checkpointEvents,
      restoreEvents,
      checkpointSends: sends,
      finalCheckpoint,
      kafkaLog,
      behind: behind(),
    };
  };

  let reported = false;
  const report = (finished: boolean, why: string): void => {
    if (reported) return;
    reported = true;
    send({ type: 'result', result: result(finished, why) });
  };
  const onCaughtUp = (): void => {
    // VIGIL_BENCH_WORKER_HEAPSNAP=<dir>: what the heap holds once caught up (before the final commit).
    const snapDir = process.env.VIGIL_BENCH_WORKER_HEAPSNAP;
    if (snapDir !== undefined && cfg.mode === 'run') process.stderr.write(`heap snapshot: ${writeHeapSnapshot(`${snapDir}/${cfg.pipeline}-${process.pid}.heapsnapshot`)}\n`);
    if (cfg.mode === 'restore') {
      report(true, 'caught up');
      return;
    }
    // A checkpoint of everything read, now: on a timer (the parent commit) or only between
    // batches (the keyed stores of issue 11), the last records would otherwise stay
    // uncommitted once no more arrive. Its outcome and time are part of the report.
    void (async () => {
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          (worker as PipelineWorker).checkpoint(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not done within ${cfg.waitCheckpointMs} ms`)), cfg.waitCheckpointMs))),
        ]);
        finalCheckpoint = { ok: true, ms: performance.now() - t0, error: '' };
      } catch (err) {
        finalCheckpoint = { ok: false, ms: performance.now() - t0, error: String((err as Error).message ?? err).slice(0, 300) };
      } finally {
        clearTimeout(timer);
      }
      report(true, 'caught up; final checkpoint attempted');
    })();
  };

  // `<prefix>vigil.changelog.<name>` (and whatever per-store topics a later runtime adds under it).
  const changelogPrefix = `${cfg.topicPrefix}vigil.changelog.${definition.name}`;
  const inner = new KafkaBus({
    brokers: cfg.brokers.split(','),
    clientId: `bench-worker-${cfg.pipeline}-${cfg.mode}`,
    logLevel: 'error',
    log: (e) => {
      const error = typeof e.extra.error === 'string' ? ` (${e.extra.error})` : '';
      const line = `${e.namespace}: ${e.message}${error}`;
      kafkaLog[line] = (kafkaLog[line] ?? 0) + 1;
      process.stderr.write(`kafka ${e.level} ${line}\n`);
    },
  });
  const bus = measuredBus(inner, changelogPrefix, sends);
  const telemetryKey = key(cfg.telemetryKey);
  let retriableFailure = false;
  const start = (): Promise<PipelineWorker> =>
    startPipeline(definition, {
      bus,
      keyring: new StreamKeyring([telemetryKey]),
      derivedKey: key(cfg.derivedKey),
      topicPrefix: cfg.topicPrefix,
      groupId: cfg.groupId,
      ...(cfg.stateDir === undefined ? {} : { stateDir: cfg.stateDir }),
      ...(cfg.stateCacheBytes === undefined ? {} : { stateCacheBytes: cfg.stateCacheBytes }),
      ...(cfg.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: cfg.checkpointIntervalMs }),
      onError: (err) => {
        failure = `${err.code}: ${err.message}`;
        retriableFailure = err.retriable;
        process.stderr.write(`pipeline error: ${failure}\n`);
      },
    });
  worker = await start();
  // As `vigil worker` restarts a pipeline stopped by a retriable error: a broker started a
  // moment ago may still be loading its group coordinator ("The coordinator is loading"),
  // which stops a worker before its first record. Such a start is tried again (the run's
  // figures begin with the first batch, so they are unaffected); a later failure is reported.
  let restarts = 0;
  let restarting = false;
  const restartIfEarly = (): boolean => {
    if (restarting) return true;
    if (!retriableFailure || batchRecords > 0 || restarts >= 10) return false;
    restarting = true;
    restarts++;
    process.stderr.write(`pipeline stopped before its first record (${failure}); starting it again (${restarts})\n`);
    const old = worker as PipelineWorker;
    worker = undefined;
    void (async () => {
      await old.stop().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
      failure = '';
      retriableFailure = false;
      worker = await start();
      restarting = false;
    })().catch((err: unknown) => {
      failure = String((err as Error).message ?? err);
      restarting = false;
    });
    return true;
  };
  startedAt = Date.now();
  restoredAtStart = worker.stats().restored;
  send({ type: 'ready', startedAt, restored: restoredAtStart, loadedAt });
  // A restored partition may already be at its end: no batch will ever say so.
  const poller = setInterval(checkCaughtUp, 20);
  poller.unref();
  setInterval(() => {
    rssPeaks.anon = Math.max(rssPeaks.anon, vm('RssAnon'));
    rssPeaks.file = Math.max(rssPeaks.file, vm('RssFile'));
    const m = process.memoryUsage();
    rssPeaks.heapTotal = Math.max(rssPeaks.heapTotal, m.heapTotal);
    rssPeaks.external = Math.max(rssPeaks.external, m.external);
    if (process.env.VIGIL_BENCH_WORKER_TRACE) process.stderr.write(`memory: ms ${Date.now() - startedAt} rss ${vm('RssAnon') >> 20} total ${m.heapTotal >> 20} used ${m.heapUsed >> 20} ext ${m.external >> 20} ab ${m.arrayBuffers >> 20}\n`);
    const s = worker?.stats();
    // A worker that stopped (its consumer crashed, a checkpoint it cannot restore…) reads no more.
    if (s !== undefined && (s.state === 'failed' || s.state === 'stopped') && caughtUpAt === null && !restartIfEarly()) report(false, `worker ${s.state}: ${failure || 'no error reported'}`);
    send({
      type: 'progress',
      at: Date.now(),
      partial: result(false, 'progress'),
      state: s?.state,
    });
  }, 1000).unref();
  setTimeout(() => report(false, `time limit of ${Math.round(cfg.limitMs / 1000)} s reached`), cfg.limitMs).unref();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'report') report(false, 'asked by the parent');
    // Profiling: exit without stopping the worker (as a crash would), so --cpu-prof writes its profile.
    if (m.type === 'exit') process.exit(0);
    // A clean stop (the same-disk restart scenario): the worker commits and leaves its group.
    if (m.type === 'stop') {
      void (worker as PipelineWorker)
        .stop()
        .then(() => process.exit(0))
        .catch((err: unknown) => {
          process.stderr.write(`stop failed: ${String(err)}\n`);
          process.exit(1);
        });
    }
  });
  // Orphaned (parent gone): do not linger.
  process.on('disconnect', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`worker bench child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
