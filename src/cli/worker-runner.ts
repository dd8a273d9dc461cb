import { join, resolve, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { KafkaBus, type Bus } from '../bus';
import type { VigilConfig } from '../config';
import { readStreamKeyRing, StreamKeyring, type StreamKeyRing } from '../crypto';
import { errorLogFields, isVigilError, VigilError } from '../errors';
import { channels, type PipelineRestoreEvent } from '../instrument';
import { createMetrics, type VigilMetrics } from '../metrics';
import { startPipeline, type PipelineDefinition, type PipelineWorker } from '../runtime';
import { startHttpServer, type VigilHttpServer } from '../serve';
import { watchKeyRing } from './key-ring-watch';
import { componentLog, kafkaLogSink, processLogger } from './log';
import { kafkaSecurity, loadServerTls } from './tls-files';

/** Restart backoff of a failed pipeline: first delay, longest delay, and how long a run must last to reset it. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const RESTART_STABLE_MS = 60_000;

/** Pipelines a worker process can run, by name. */
export type PipelineCatalogue = ReadonlyMap<string, PipelineDefinition>;

export interface RunningWorker {
  readonly workers: ReadonlyMap<string, PipelineWorker>;
  readonly bus: Bus;
  readonly metrics: VigilMetrics;
  readonly http: VigilHttpServer;
  /** The worker's own lines (`component: "worker"`, `worker`); docs/operations.md, "Log fields". */
  readonly log: Logger;
  /** Reads the key rings again now (SIGHUP); they are also re-read within a second of changing. */
  reloadKeys(): Promise<void>;
  /** Checkpoints, leaves the consumer groups, closes everything. */
  stop(): Promise<void>;
}

export interface StartWorkerOptions {
  readonly baseDir?: string;
  /** Use this bus instead of Kafka from the config (the embedded demo passes its MemoryBus). */
  readonly bus?: Bus;
  readonly logStream?: NodeJS.WritableStream;
  /** Serve /metrics etc.; default true. The demo serves one HTTP server for everything. */
  readonly http?: boolean;
  readonly metrics?: VigilMetrics;
}

/**
 * Runs the configured pipelines of `catalogue` in one process: one `PipelineWorker` each,
 * sharing a Kafka connection, with derived stream keys from `worker.keyDir` and the
 * telemetry key to open inputs. Several such processes with the same pipelines split the
 * partitions (consumer groups); state moves with the partitions through the changelog.
 * A pipeline stopped by a retriable error (Kafka unreachable) is restarted from its last
 * checkpoint with backoff; any other error leaves it stopped, logged and not ready.
 */
export async function startWorker(cfg: VigilConfig, catalogue: PipelineCatalogue, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const base = options.baseDir ?? process.cwd();
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  // Every line carries worker (the Kafka client id) and its component; a pipeline's lines
  // also carry pipeline (docs/operations.md, "Log fields").
  const root = processLogger({ worker: cfg.kafka.clientId }, cfg.log.level, options.logStream);
  const log = componentLog(root, 'worker');
  const pipelineLogs = new Map<string, Logger>();
  const plog = (n: string): Logger => {
    let l = pipelineLogs.get(n);
    if (l === undefined) pipelineLogs.set(n, (l = componentLog(root, 'pipeline', { pipeline: n })));
    return l;
  };
  const stateLog = componentLog(root, 'state');
  const names = cfg.worker.pipelines.length > 0 ? cfg.worker.pipelines : [...catalogue.keys()];
  for (const n of names) {
    if (!catalogue.has(n)) {
      throw new VigilError('VIGIL_E_CONFIG_INVALID', `config key "worker.pipelines" names "${n}", which is not a pipeline; allowed: ${[...catalogue.keys()].join(', ')}`, { details: { key: 'worker.pipelines' } });
    }
  }
  // Key rings (vigil keys rotate stream): every key of the telemetry ring opens inputs; each
  // derived ring's current key seals results, its older keys open earlier checkpoints.
  const telemetryFile = path(cfg.worker.telemetryKeyFile);
  const derivedFile = (n: string): string => join(path(cfg.worker.keyDir), `derived.${n}.key.json`);
  let telemetryRing = await readStreamKeyRing(telemetryFile);
  const derivedRings = new Map(await Promise.all(names.map(async (n) => [n, await readStreamKeyRing(derivedFile(n))] as const)));
  const bus = options.bus ?? new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, path), clientId: cfg.kafka.clientId, sendTimeoutMs: cfg.kafka.sendTimeoutMs, replicationFactor: cfg.kafka.replicationFactor, logLevel: 'error', log: kafkaLogSink(root) });
  const ownBus = options.bus === undefined;
  bus.onConnectionChange((connected) => channels.connection.publish({ peer: 'kafka', connected }));
  // Which partitions a rebalance moved here, and how their state came back: operators read
  // these lines to see that a rebalance restored only what moved.
  const onRestore = (e: PipelineRestoreEvent): void => stateLog.info({ pipeline: e.pipeline, partitions: e.assigned, fromLocalStore: e.local, spilledToDisk: e.spilled, seconds: Number(e.seconds.toFixed(3)) }, 'state restored');
  channels.pipelineRestore.subscribe(onRestore);
  const metrics = options.metrics ?? createMetrics({ labels: { worker: cfg.kafka.clientId }, pipelines: names });
  const workers = new Map<string, PipelineWorker>();
  // Sources exist before the first worker subscribes, whether or not a gateway ran yet: made
  // by the first launch that reaches Kafka (a worker may start while Kafka is down).
  const prefix = cfg.kafka.topicPrefix;
  const sources = [...new Set(names.flatMap((n) => [...(catalogue.get(n) as PipelineDefinition).sources].map((t) => prefix + t)))];
  let sourcesMade: Promise<void> | undefined;
  const ensureSources = (): Promise<void> => {
    sourcesMade ??= (async () => {
      const admin = bus.admin();
      try {
        await admin.ensureTopics(sources.map((topic) => ({ topic, partitions: cfg.kafka.partitions })));
      } finally {
        await admin.close().catch(() => undefined);
      }
    })().catch((err: unknown) => {
      sourcesMade = undefined; // the next launch tries again
      throw err;
    });
    return sourcesMade;
  };

  // Supervision: a pipeline that stops on a retriable error (Kafka went away for longer than
  // its client retries) is started again from its last checkpoint, with backoff, for as long
  // as the process runs; one that stops on any other error (a checkpoint it must not guess
  // past, a key it lacks) stays stopped, logged, and /readyz names it.
  const quit = new AbortController();
  const restarts = new Set<Promise<void>>();
  const backoff = new Map<string, { delayMs: number; startedAt: number }>();
  // Rotations apply without a restart: new keys join each pipeline's keyring, a new derived key seals from the next batch.
  const keyWatches = [
    watchKeyRing(telemetryFile, telemetryRing, (ring) => {
      telemetryRing = ring;
      for (const w of workers.values()) w.useKeys({ read: ring.all });
    }, componentLog(root, 'keys')),
    ...names.map((n) =>
      watchKeyRing(derivedFile(n), derivedRings.get(n) as StreamKeyRing, (ring) => {
        derivedRings.set(n, ring);
        workers.get(n)?.useKeys({ derived: ring.current, read: ring.all });
      }, componentLog(root, 'keys', { pipeline: n })),
    ),
  ];
  const launch = async (n: string): Promise<PipelineWorker> => {
    await ensureSources();
    const w = await startPipeline(catalogue.get(n) as PipelineDefinition, {
      bus,
      keyring: new StreamKeyring([...telemetryRing.all, ...(derivedRings.get(n)?.all ?? [])]),
      derivedKey: (derivedRings.get(n) as NonNullable<ReturnType<typeof derivedRings.get>>).current,
      checkpointIntervalMs: cfg.worker.checkpointIntervalMs,
      stateDir: path(cfg.worker.stateDir),
      stateCacheBytes: cfg.worker.stateCacheBytes,
      topicPrefix: prefix,
      groupId: `${prefix}vigil.pipeline.${n}`,
      derivedPartitions: cfg.kafka.partitions,
      onError: (err) => failed(n, err),
      onRefused: (out, err) => plog(n).warn({ key: out.key, ...errorLogFields(err) }, 'derived result refused'),
    });
    workers.set(n, w);
    return w;
  };
  const restarting = new Set<string>();
  const failed = (n: string, err: VigilError): void => {
    if (quit.signal.aborted) return;
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    const fields = { ...errorLogFields(err), ...(cause === undefined ? {} : { cause }) };
    const reason = isVigilError(err.cause) ? err.cause.code : err.code;
    channels.pipelineFailure.publish({ pipeline: n, reason, action: err.retriable ? 'restart' : 'stopped' });
    if (!err.retriable) {
      plog(n).error(fields, 'pipeline stopped for good: retrying cannot mend this; fix the cause and restart the worker');
      return;
    }
    if (restarting.has(n)) return; // a restart is under way; it checks how its start went
    // A pipeline that fails again soon after a restart waits longer each time (1 s … 30 s).
    const b = backoff.get(n);
    const delayMs = b !== undefined && Date.now() - b.startedAt < RESTART_STABLE_MS ? Math.min(b.delayMs * 2, RESTART_MAX_MS) : RESTART_MIN_MS;
    plog(n).warn({ ...fields, retryInMs: delayMs }, 'pipeline stopped; restarting it from its last checkpoint');
    superviseRestart(n, delayMs);
  };
  const superviseRestart = (n: string, delayMs: number): void => {
    restarting.add(n);
    const r = restart(n, delayMs).finally(() => {
      restarting.delete(n);
      restarts.delete(r);
    });
    restarts.add(r);
  };
  /** One restart at a time per pipeline: retries until a start holds, the error is not retriable, or the worker stops. */
  const restart = async (n: string, firstDelayMs: number): Promise<void> => {
    for (let delayMs = firstDelayMs; ; delayMs = Math.min(delayMs * 2, RESTART_MAX_MS)) {
      await workers.get(n)?.stop().catch(() => undefined);
      try {
        await sleep(delayMs, undefined, { signal: quit.signal });
      } catch {
        return; // stopping
      }
      backoff.set(n, { delayMs, startedAt: Date.now() });
      try {
        const w = await launch(n);
        if (quit.signal.aborted) {
          await w.stop();
          return;
        }
        if (w.stats().state === 'running') {
          plog(n).info({ partitions: w.stats().partitions }, 'pipeline restarted');
          return;
        }
        plog(n).warn({ state: w.stats().state }, 'pipeline failed again while starting; retrying');
      } catch (err) {
        if (quit.signal.aborted) return;
        if (isVigilError(err) && !err.retriable) {
          channels.pipelineFailure.publish({ pipeline: n, reason: err.code, action: 'stopped' });
          plog(n).error(errorLogFields(err), 'pipeline restart failed for good: retrying cannot mend this; fix the cause and restart the worker');
          return;
        }
        plog(n).warn({ ...errorLogFields(err), retryInMs: Math.min(delayMs * 2, RESTART_MAX_MS) }, 'pipeline restart failed; retrying');
      }
    }
  };
  const stopAll = async (): Promise<void> => {
    quit.abort();
    await Promise.all([...restarts]);
    await Promise.all([...workers].map(([n, w]) => w.stop().catch((err: unknown) => plog(n).error(errorLogFields(err), 'worker stop failed'))));
    if (ownBus) await bus.close();
  };
  try {
    for (const n of names) {
      try {
        const w = await launch(n);
        plog(n).info({ partitions: w.stats().partitions }, 'pipeline running');
      } catch (err) {
        // Kafka unreachable at start (a restart during an outage, services started in any
        // order): the worker comes up, /readyz says the pipeline is not running, and the
        // supervisor starts it once Kafka answers. Anything else still fails the start.
        if (!isVigilError(err) || !err.retriable) throw err;
        plog(n).warn({ ...errorLogFields(err), retryInMs: RESTART_MIN_MS }, 'pipeline could not start; starting it again when Kafka answers');
        channels.pipelineFailure.publish({ pipeline: n, reason: err.code, action: 'restart' });
        superviseRestart(n, RESTART_MIN_MS);
      }
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  const http = options.http === false
    ? { port: 0, url: '', close: () => Promise.resolve() }
    : await startHttpServer({
        host: cfg.http.host,
        port: cfg.http.port,
        metrics,
        readiness: () => ({ kafka: bus.isConnected(), ...Object.fromEntries(names.map((n) => [n, workers.get(n)?.stats().state === 'running'])) }),
        ...(cfg.http.tls === undefined ? {} : { tls: loadServerTls(cfg.http.tls, path) }),
      });
  let stopping: Promise<void> | undefined;
  return {
    workers, bus, metrics, http, log,
    reloadKeys: async () => {
      for (const w of keyWatches) await w.reload();
    },
    stop: () => {
      stopping ??= (async () => {
        log.info({}, 'stopping: last checkpoint, leaving the groups');
        for (const w of keyWatches) w.stop();
        await stopAll();
        channels.pipelineRestore.unsubscribe(onRestore);
        await http.close();
        if (!options.metrics) metrics.close();
      })();
      return stopping;
    },
  };
}
