import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { KafkaBus, MemoryBus, type Bus } from '../bus';
import { READING_KINDS } from '../codec';
import type { VigilConfig } from '../config';
import { readIngestKeyFile, readStreamKeyRing, resolveCryptoBackend } from '../crypto';
import { Admission, REJECTED_TOPIC } from '../edge/admission';
import { Gateway } from '../edge/gateway';
import { ReceiptPublisher } from '../edge/receipts';
import { MqttIngestClient } from '../edge/mqtt';
import { watchKeyRing } from './key-ring-watch';
import { componentLog, kafkaLogSink, processLogger } from './log';
import { kafkaSecurity, loadMqttTls, loadServerTls, mqttCredentials } from './tls-files';
import { FileSpool } from '../edge/spool';
import { errorLogFields, isVigilError } from '../errors';
import { channels, type GaugeSample } from '../instrument';
import { createMetrics, type VigilMetrics } from '../metrics';
import { FileRegistry } from '../registry';
import { FileReplayStore } from '../replay';
import { startHttpServer, type VigilHttpServer } from '../serve';

/** A gateway process's parts, running. */
/**
 * The gauges a gateway samples every second (`vigil_spool_entries`, `vigil_spool_bytes`,
 * `vigil_spool_budget_bytes`, `vigil_spool_oldest_age_seconds`, `vigil_registry_devices`,
 * `vigil_gateway_inflight_frames`, `vigil_gateway_spooling`); alert rules and dashboards use them.
 */
export function gatewayGauges(s: { spool: { entries: number; bytes: number; budgetBytes: number; oldestAgeMs: number }; devices: number; inflight: number; spooling: boolean }): GaugeSample[] {
  return [
    { component: 'spool', values: { entries: s.spool.entries, bytes: s.spool.bytes, budget_bytes: s.spool.budgetBytes, oldest_age_seconds: s.spool.oldestAgeMs / 1000 } },
    { component: 'registry', values: { devices: s.devices } },
    { component: 'gateway', values: { inflight_frames: s.inflight, spooling: s.spooling ? 1 : 0 } },
  ];
}

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly ingest: MqttIngestClient;
  readonly bus: Bus;
  readonly spool: FileSpool;
  readonly registry: FileRegistry;
  readonly metrics: VigilMetrics;
  readonly http: VigilHttpServer;
  /** The gateway's own lines (`component: "gateway"`, `gatewayId`); docs/operations.md, "Log fields". */
  readonly log: Logger;
  /** The readiness checks /readyz reports (for a process that serves its own HTTP). */
  readiness(): Record<string, boolean>;
  /** Reads the stream key ring again now (SIGHUP); it is also re-read within a second of changing. */
  reloadKeys(): Promise<void>;
  /** Stops taking frames, makes what was received durable and acknowledged, then closes everything. */
  stop(): Promise<void>;
}

export interface StartGatewayOptions {
  /** Relative paths in the config are taken from here (the config file's folder); default cwd. */
  readonly baseDir?: string;
  /** Log destination; default stdout. */
  readonly logStream?: NodeJS.WritableStream;
  /** Use this bus instead of Kafka from the config (the embedded demo passes its MemoryBus); its owner closes it. */
  readonly bus?: Bus;
  /** MQTT protocol of the broker: 5 (default) or 4 for MQTT 3.1.1 brokers such as the demo's aedes (no shared subscription then). */
  readonly mqttProtocolVersion?: 4 | 5;
  /** Serve /metrics, /healthz, /readyz; default true. The demo serves one HTTP server for everything. */
  readonly http?: boolean;
  /** Metrics registry to use (shared with other components in one process); default a new one. */
  readonly metrics?: VigilMetrics;
}

/** The topics gateways write: one per reading kind, and the rejected frames'. */
export const GATEWAY_TOPICS = [...READING_KINDS.map((k) => `telemetry.${k}`), REJECTED_TOPIC];

/**
 * Starts a gateway from a validated configuration: registry, keys, replay store, spool,
 * Kafka, metrics and health endpoints, then the MQTT ingest connection last, so no frame
 * arrives before everything it needs is ready. Kafka need not be reachable at start (a
 * DDIL gateway spools); topics are ensured in the background until it is.
 */
export async function startGateway(cfg: VigilConfig, options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const base = options.baseDir ?? process.cwd();
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const g = cfg.gateway;
  // Every line carries gatewayId and its component (docs/operations.md, "Log fields").
  const root = processLogger({ gatewayId: g.id }, cfg.log.level, options.logStream);
  const log = componentLog(root, 'gateway');
  const kafkaLog = componentLog(root, 'kafka');
  const mqttLog = componentLog(root, 'mqtt');
  const backend = resolveCryptoBackend(cfg.crypto.backend);
  const closers: Array<() => Promise<unknown> | void> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log.error(errorLogFields(err), 'error while stopping');
      }
    }
  };

  try {
    const registry = FileRegistry.open(path(g.registryFile));
    closers.push(() => registry.close());
    const registryLog = componentLog(root, 'registry');
    registry.subscribe((e) => {
      if (e.type === 'error') registryLog.error(errorLogFields(e.error), 'registry reload refused; keeping the last good version');
      else registryLog.info({ change: e.type, deviceId: e.type === 'remove' ? e.before.deviceId : e.after.deviceId, status: e.type === 'upsert' ? e.after.status : undefined }, 'registry change applied');
    });
    const ingestKeys = await readIngestKeyFile(path(g.ingestKeyFile));
    // A ring: the current key seals; `vigil keys rotate stream` makes a new one current, applied within a second (or on SIGHUP).
    const streamRing = await readStreamKeyRing(path(g.streamKeyFile));
    let streamKey = streamRing.current;
    const keyWatch = watchKeyRing(path(g.streamKeyFile), streamRing, (ring) => (streamKey = ring.current), componentLog(root, 'keys'));
    closers.push(() => keyWatch.stop());
    const replay = await FileReplayStore.open(join(path(g.dataDir), 'replay'));
    closers.push(() => replay.close());
    if (replay.recovery.droppedBytes > 0) componentLog(root, 'replay').warn({ ...replay.recovery }, 'replay log had a torn tail (never acknowledged frames); cut');
    const spool = await FileSpool.open({ dir: join(path(g.dataDir), 'spool'), fsync: g.fsync, budgetBytes: g.spoolBudgetBytes, shed: g.spoolWhenFull === 'shed' });
    closers.push(() => spool.close());

    const bus =
      options.bus ??
      new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, path), clientId: `${cfg.kafka.clientId}-${g.id}`, sendTimeoutMs: cfg.kafka.sendTimeoutMs, replicationFactor: cfg.kafka.replicationFactor, logLevel: 'error', log: kafkaLogSink(root) });
    if (!options.bus) closers.push(() => bus.close());
    bus.onConnectionChange((connected) => {
      channels.connection.publish({ peer: 'kafka', connected });
      kafkaLog.info({ connected }, connected ? 'kafka reachable' : 'kafka unreachable');
    });
    let topicsReady = false;
    let stopped = false;
    const ensureTopics = async (): Promise<void> => {
      for (let delay = 500; !stopped && !topicsReady; delay = Math.min(delay * 2, 30_000)) {
        try {
          await bus.admin().ensureTopics(GATEWAY_TOPICS.map((topic) => ({ topic: cfg.kafka.topicPrefix + topic, partitions: cfg.kafka.partitions })));
          topicsReady = true;
          kafkaLog.info({ topics: GATEWAY_TOPICS.map((t) => cfg.kafka.topicPrefix + t) }, 'kafka topics ready');
        } catch (err) {
          // Refused credentials, certificates or ACLs will not fix themselves: said as an error, with its code; frames still spool.
          const refused = isVigilError(err) && !err.retriable;
          if (refused) kafkaLog.error({ ...errorLogFields(err), retryInMs: delay }, 'kafka refuses this gateway (fix its credentials, certificates or ACLs); spooling meanwhile');
          else kafkaLog.warn({ ...errorLogFields(err), retryInMs: delay }, 'cannot ensure kafka topics yet; spooling meanwhile');
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
    };
    const topicsDone = ensureTopics();
    closers.push(() => {
      stopped = true;
      return topicsDone;
    });
    // One producer per lane (gateway.kafkaLanes): each keeps one batch in flight.
    const producers = Array.from({ length: g.kafkaLanes }, () => bus.producer());
    closers.push(() => Promise.all(producers.map((p) => p.close())));

    const admission = new Admission({ gatewayId: g.id, registry, replay, ingestKeys, streamKey: () => streamKey, maxClockSkewMs: g.maxClockSkewMs, maxFrameAgeMs: g.maxFrameAgeMs, backend });
    closers.push(() => admission.close());
    // Set once the ingest client exists (it is started last); receipts go out on its connection.
    const ingestRef: { client?: MqttIngestClient } = {};
    const receipts = g.receipts
      ? new ReceiptPublisher({ gatewayId: g.id, keyOf: (d, e) => admission.sharedKey(d, e), publish: (t, p) => ingestRef.client?.publish(t, p) ?? false, intervalMs: g.receiptIntervalMs, backend })
      : undefined;
    if (receipts) closers.push(() => receipts.close());
    const gateway = new Gateway({ gatewayId: g.id, admission, producer: producers, spool, replay, rejectionKey: () => streamKey, logger: root, topicPrefix: cfg.kafka.topicPrefix, busSink: bus instanceof MemoryBus ? 'memory' : 'kafka', lingerMs: g.lingerMs, ...(receipts ? { receipts } : {}) });
    closers.push(() => gateway.close());

    const metrics = options.metrics ?? createMetrics({ labels: { gateway: g.id }, gateway: true });
    if (!options.metrics) closers.push(() => metrics.close());
    // Ready to take frames: the broker connection is up and frames can be made durable
    // (Kafka takes writes, or the spool has room: a DDIL gateway is still useful).
    const readiness = (): Record<string, boolean> => ({ mqtt: ingestRef.client?.connected === true, durable: bus.isConnected() || spool.stats().bytes < spool.stats().budgetBytes });
    const http: VigilHttpServer =
      options.http === false ? { port: 0, url: '', close: () => Promise.resolve() } : await startHttpServer({ host: cfg.http.host, port: cfg.http.port, metrics, readiness, ...(cfg.http.tls === undefined ? {} : { tls: loadServerTls(cfg.http.tls, path) }) });
    closers.push(() => http.close());
    const sampler = setInterval(() => {
      for (const g of gatewayGauges({ spool: spool.stats(), devices: registry.size, inflight: ingestRef.client?.inflight ?? 0, spooling: gateway.stats().mode === 'spool' })) channels.gauges.publish(g);
    }, 1000);
    sampler.unref();
    closers.push(() => clearInterval(sampler));

    const mq = new MqttIngestClient({
      url: cfg.mqtt.url,
      clientId: `${cfg.mqtt.clientId}-${g.id}`,
      // MQTT 3.1.1 has no shared subscriptions: one gateway per such broker.
      subscriptions: [options.mqttProtocolVersion === 4 ? g.subscription : `$share/${g.group}/${g.subscription}`],
      protocolVersion: options.mqttProtocolVersion ?? 5,
      receiveMaximum: g.receiveMaximum,
      ...(cfg.mqtt.tls === undefined ? {} : { tls: loadMqttTls(cfg.mqtt.tls, path) }),
      ...mqttCredentials(cfg.mqtt, path),
      cleanStart: false,
      sessionExpirySeconds: 3600,
      onMessage: (m) => {
        if (m.qos === 0) return; // devices publish QoS1; a QoS0 frame could not be acknowledged durably
        gateway.handle(m.topic, m.payload, () => mq.ack(m));
      },
    });
    ingestRef.client = mq;
    mq.on('connect', () => {
      channels.connection.publish({ peer: 'mqtt', connected: true });
      mqttLog.info({ url: cfg.mqtt.url }, 'mqtt connected');
      // Receipts of frames made durable while no connection was up were held: send them now.
      receipts?.flush();
    });
    mq.on('disconnect', (e) => {
      channels.connection.publish({ peer: 'mqtt', connected: false });
      mqttLog.warn({ ...(e.error === undefined ? {} : errorLogFields(e.error)), unacked: e.unacked }, 'mqtt disconnected; the broker redelivers unacknowledged frames');
    });
    mq.on('error', (e) => mqttLog.warn(errorLogFields(e), 'mqtt error'));
    closers.push(() => mq.close({ drainTimeoutMs: 2000 }));
    await mq.start();
    log.info({ http: http.url, backend: backend.name, subscription: `$share/${g.group}/${g.subscription}` }, 'gateway started');

    let stopping: Promise<void> | undefined;
    return {
      gateway, ingest: mq, bus, spool, registry, metrics, http, log, readiness,
      reloadKeys: () => keyWatch.reload(),
      stop: () => {
        stopping ??= (async () => {
          log.info({}, 'stopping: no new frames; flushing what was received');
          mq.pause();
          await gateway.drained();
          receipts?.flush(); // while the MQTT connection is still up
          await closeAll();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

