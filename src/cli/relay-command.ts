import { Command } from 'commander';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { KafkaBus, type Bus } from '../bus';
import { loadConfig, readConfigFile, type VigilConfig } from '../config';
import { FileSpool, type SpoolDropEvent } from '../edge/spool';
import { VigilError } from '../errors';
import { createMetrics, registerRelayMetrics, type VigilMetrics } from '../metrics';
import { formatLabel, loadRelayKeys, parseRelayPolicy, Relay, type RelayPolicy, type RelayStreamKeys } from '../relay';
import { startHttpServer, type VigilHttpServer } from '../serve';
import { examples, out } from './output';
import { runUntilSignal } from './run-until-signal';
import { configBaseDir, kafkaSecurity, loadServerTls } from './tls-files';

export interface RunningRelay {
  readonly relay: Relay;
  readonly metrics: VigilMetrics;
  readonly http: VigilHttpServer;
  readonly log: Logger;
  stop(): Promise<void>;
}

export interface StartRelayOptions {
  readonly baseDir?: string;
  /** Policy file instead of `relay.policyFile`. */
  readonly policyFile?: string;
  readonly logStream?: NodeJS.WritableStream;
}

/** Reads and validates the policy and the keys it names; nothing runs while they do not validate. */
export async function loadPolicy(file: string): Promise<{ policy: RelayPolicy; keys: Map<string, RelayStreamKeys> }> {
  let raw: unknown;
  try {
    raw = readConfigFile(file);
  } catch (err) {
    throw new VigilError('VIGIL_E_RELAY_POLICY', `relay policy ${file}: ${(err as Error).message.replace(/^config file \S+ /, '')}`, { cause: err, details: { file } });
  }
  const policy = parseRelayPolicy(raw, `relay policy ${file}`);
  return { policy, keys: await loadRelayKeys(policy, dirname(file)) };
}

/**
 * Runs `vigil relay`: the theatre's Kafka (`kafka.*`) to the destination's (`relay.brokers`),
 * per the policy, with its durable queue in `relay.dataDir/spool`, /metrics, /healthz, /readyz.
 */
export async function startRelay(cfg: VigilConfig, options: StartRelayOptions = {}): Promise<RunningRelay> {
  const base = options.baseDir ?? process.cwd();
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  if (cfg.relay.brokers.length === 0) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', 'config key "relay.brokers" is empty: vigil relay needs the destination (command) Kafka, e.g. relay.brokers: ["command-kafka:9092"] or VIGIL_RELAY_BROKERS', { details: { key: 'relay.brokers' } });
  }
  const { policy, keys } = await loadPolicy(options.policyFile === undefined ? path(cfg.relay.policyFile) : resolve(options.policyFile));
  const log = pino({ level: cfg.log.level, base: { relay: policy.name, destination: policy.destination.name } }, options.logStream ?? process.stdout);
  const kafkaLog = (e: { namespace: string; message: string; extra?: object }): void => log.warn({ kafka: e.namespace, ...e.extra }, e.message);
  const source: Bus = new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, path), clientId: cfg.kafka.clientId, sendTimeoutMs: cfg.kafka.sendTimeoutMs, logLevel: 'error', log: kafkaLog });
  const destination: Bus = new KafkaBus({ brokers: cfg.relay.brokers, clientId: cfg.relay.clientId, compression: cfg.relay.compression, sendTimeoutMs: cfg.kafka.sendTimeoutMs, replicationFactor: cfg.kafka.replicationFactor, logLevel: 'nothing' });
  // The queue is opened first (it recovers what a previous run left); its sheds are counted by the relay made next.
  const shed: { to?: (e: SpoolDropEvent) => void } = {};
  const spool = await FileSpool.open({ dir: join(path(cfg.relay.dataDir), 'spool'), budgetBytes: cfg.relay.spoolBudgetBytes, shed: true, onDrop: (e) => shed.to?.(e) });
  const running = new Relay({
    policy,
    keys,
    source,
    destination,
    spool,
    topicPrefix: cfg.kafka.topicPrefix,
    maxBytesPerSecond: cfg.relay.maxBytesPerSecond,
    compression: cfg.relay.compression,
    batchMaxRecords: cfg.relay.batchMaxRecords,
    batchMaxBytes: cfg.relay.batchMaxBytes,
    destinationPartitions: cfg.kafka.partitions,
    onEvent: (e) => (e.event === 'link' && e.link === 'up' ? log.info(e, 'relay link') : e.event === 'reconciled' ? log.info(e, 'destination read back') : log.warn(e, `relay ${e.event}`)),
  });
  shed.to = running.onShed;
  const metrics = createMetrics({ labels: { relay: policy.name } });
  registerRelayMetrics(metrics, () => running.stats());
  const closeAll = async (): Promise<void> => {
    await running.stop();
    await spool.close().catch(() => undefined);
    await Promise.all([source.close(), destination.close()]);
  };
  try {
    await running.start();
  } catch (err) {
    await closeAll();
    metrics.close();
    throw err;
  }
  const http = await startHttpServer({
    host: cfg.http.host,
    port: cfg.http.port,
    metrics,
    readiness: () => ({ theatre: source.isConnected(), relay: running.failure === undefined }),
    ...(cfg.http.tls === undefined ? {} : { tls: loadServerTls(cfg.http.tls, path) }),
  });
  log.info({ streams: policy.streams.map((s) => `${s.source} -> ${s.destination}`), ceiling: formatLabel(policy.destination.ceiling), http: http.url }, 'relay started');
  let stopping: Promise<void> | undefined;
  return {
    relay: running,
    metrics,
    http,
    log,
    stop: () => {
      stopping ??= (async () => {
        log.info({}, 'stopping: the queue keeps what was not delivered');
        await closeAll();
        await http.close();
        metrics.close();
      })();
      return stopping;
    },
  };
}

/** `vigil relay --config <file>`: relays theatre streams to a command Kafka until SIGTERM or SIGINT. */
export function relayCommand(): Command {
  return new Command('relay')
    .description('relay theatre streams to a command Kafka per a release policy: labels checked against the destination ceiling, re-sealed under relay keys, queued durably, within a bandwidth budget (docs/relay.md)')
    .addHelpText('after', examples('vigil relay --config vigil.yaml', 'vigil relay --config vigil.yaml --policy relay-policy.yaml', 'vigil relay --policy relay-policy.yaml --check'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); relative paths in it are taken from its folder')
    .option('--policy <file>', 'relay policy file (default: relay.policyFile); key files in it are taken from its folder')
    .option('--check', 'validate the policy and its key files, print what would be relayed, and exit')
    .action(async (o: { config?: string; policy?: string; check?: boolean }) => {
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const baseDir = configBaseDir(o.config ?? process.env.VIGIL_CONFIG);
      if (o.check === true) {
        const file = o.policy === undefined ? (isAbsolute(cfg.relay.policyFile) ? cfg.relay.policyFile : resolve(baseDir, cfg.relay.policyFile)) : resolve(o.policy);
        const { policy, keys } = await loadPolicy(file);
        out.write(`relay policy ${file}: valid; destination ${policy.destination.name}, ceiling ${formatLabel(policy.destination.ceiling)}\n`);
        for (const s of policy.streams) {
          const k = keys.get(s.source);
          out.write(`  ${s.source} -> ${s.destination} (opens with ${k?.source.ids().join(', ')}; seals with ${k?.relay.keyId})\n`);
        }
        return;
      }
      const running = await startRelay(cfg, { baseDir, ...(o.policy === undefined ? {} : { policyFile: o.policy }) });
      await runUntilSignal(running);
    });
}
