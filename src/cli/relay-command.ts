import { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import pino, { type Logger } from 'pino';
import { KafkaBus, type Bus } from '../bus';
import { loadConfig, readConfigFile, type VigilConfig } from '../config';
import { FileSpool, type SpoolDropEvent } from '../edge/spool';
import { isVigilError, VigilError } from '../errors';
import { createMetrics, registerRelayAuditMetrics, registerRelayMetrics, type VigilMetrics } from '../metrics';
import { getCryptoBackend, readSigningKeyFile, signPublicKeyProblem, type SigningKey, type Verifier } from '../crypto';
import { formatLabel, loadRelayKeys, parseRelayPolicy, Relay, relayAuditTopic, relayPolicyDigest, ReleaseAudit, verifyRelayAudit, type RelayAuditReport, type RelayPolicy, type RelayStreamKeys } from '../relay';
import { startHttpServer, type VigilHttpServer } from '../serve';
import { examples, out, printJson } from './output';
import { runUntilSignal } from './run-until-signal';
import { configBaseDir, configRelative, kafkaSecurity, loadServerTls } from './tls-files';

export interface RunningRelay {
  readonly relay: Relay;
  /** The signed release summaries (the theatre's audit topic). */
  readonly audit: ReleaseAudit;
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

/** Reads and validates a policy file, without its key files (what `vigil kafka` needs of it). */
export function loadPolicyDocument(file: string): RelayPolicy {
  let raw: unknown;
  try {
    raw = readConfigFile(file);
  } catch (err) {
    throw new VigilError('VIGIL_E_RELAY_POLICY', `relay policy ${file}: ${(err as Error).message.replace(/^config file \S+ /, '')}`, { cause: err, details: { file } });
  }
  return parseRelayPolicy(raw, `relay policy ${file}`);
}

/** Reads and validates the policy and the keys it names; nothing runs while they do not validate. */
export async function loadPolicy(file: string): Promise<{ policy: RelayPolicy; keys: Map<string, RelayStreamKeys> }> {
  const policy = loadPolicyDocument(file);
  return { policy, keys: await loadRelayKeys(policy, dirname(file)) };
}

/** `relay.signingKeyFile`, its errors naming the key and how to make one. */
async function loadSigningKey(file: string, policy: RelayPolicy): Promise<SigningKey> {
  try {
    return await readSigningKeyFile(file);
  } catch (err) {
    throw new VigilError(isVigilError(err) ? err.code : 'VIGIL_E_KEY_FILE_READ', `config key "relay.signingKeyFile": ${(err as Error).message}; make one with vigil keys gen signing relay.${policy.name} -o <file>`, { cause: err, details: { key: 'relay.signingKeyFile' } });
  }
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
  const signingKey = await loadSigningKey(path(cfg.relay.signingKeyFile), policy);
  // Both ends' credentials are read now: a missing file or variable fails before anything runs.
  const theatreSecurity = kafkaSecurity(cfg.kafka, path);
  const destinationSecurity = kafkaSecurity(cfg.relay, path, 'relay');
  const log = pino({ level: cfg.log.level, base: { relay: policy.name, destination: policy.destination.name } }, options.logStream ?? process.stdout);
  const kafkaLog = (e: { namespace: string; message: string; extra?: object }): void => log.warn({ kafka: e.namespace, ...e.extra }, e.message);
  const source: Bus = new KafkaBus({ brokers: cfg.kafka.brokers, ...theatreSecurity, clientId: cfg.kafka.clientId, sendTimeoutMs: cfg.kafka.sendTimeoutMs, logLevel: 'error', log: kafkaLog });
  const destination: Bus = new KafkaBus({ brokers: cfg.relay.brokers, ...destinationSecurity, clientId: cfg.relay.clientId, compression: cfg.relay.compression, sendTimeoutMs: cfg.kafka.sendTimeoutMs, replicationFactor: cfg.kafka.replicationFactor, logLevel: 'nothing' });
  // The queue is opened first (it recovers what a previous run left); its sheds are counted by the relay made next.
  const shed: { to?: (e: SpoolDropEvent) => void } = {};
  const spool = await FileSpool.open({ dir: join(path(cfg.relay.dataDir), 'spool'), budgetBytes: cfg.relay.spoolBudgetBytes, shed: true, onDrop: (e) => shed.to?.(e) });
  const audit = new ReleaseAudit({
    policy,
    signingKey,
    bus: source,
    topic: relayAuditTopic(policy, cfg.kafka.topicPrefix),
    groupPrefix: `${cfg.kafka.topicPrefix}vigil.relay.${policy.name}.audit`,
    intervalMs: cfg.relay.auditIntervalSeconds * 1000,
    onEvent: (e) => (e.event === 'summary' ? log.info(e, 'release summary written') : log.error(e, 'release summary not written (kept, written again next period)')),
  });
  const running = new Relay({
    policy,
    audit,
    keys,
    source,
    destination,
    spool,
    topicPrefix: cfg.kafka.topicPrefix,
    maxBytesPerSecond: cfg.relay.maxBytesPerSecond,
    compression: cfg.relay.compression,
    recordCompression: cfg.relay.recordCompression,
    batchMaxRecords: cfg.relay.batchMaxRecords,
    releaseThread: cfg.relay.releaseThread === 'on' || (cfg.relay.releaseThread === 'auto' && availableParallelism() >= 2),
    batchMaxBytes: cfg.relay.batchMaxBytes,
    destinationPartitions: cfg.kafka.partitions,
    onEvent: (e) => (e.event === 'link' && e.link === 'up' ? log.info(e, 'relay link') : e.event === 'reconciled' ? log.info(e, 'destination read back') : log.warn(e, `relay ${e.event}`)),
  });
  shed.to = running.onShed;
  const metrics = createMetrics({ labels: { relay: policy.name } });
  registerRelayMetrics(metrics, () => running.stats());
  registerRelayAuditMetrics(metrics, () => audit.stats());
  const closeAll = async (): Promise<void> => {
    await running.stop();
    // After the relay: the last summary covers every decision it made.
    await audit.stop().catch(() => undefined);
    await spool.close().catch(() => undefined);
    await Promise.all([source.close(), destination.close()]);
  };
  try {
    await audit.start();
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
  log.info({ streams: policy.streams.map((s) => `${s.source} -> ${s.destination}`), ceiling: formatLabel(policy.destination.ceiling), policyDigest: relayPolicyDigest(policy), auditTopic: relayAuditTopic(policy, cfg.kafka.topicPrefix), http: http.url }, 'relay started');
  let stopping: Promise<void> | undefined;
  return {
    relay: running,
    audit,
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

/** A public key given on the command line: base64 of 32 bytes, or a file holding it (`vigil keys gen signing --public-out`). */
export function readPublicKeyOption(value: string): Verifier {
  const text = existsSync(value) ? readFileSync(value, 'utf8').trim() : value.trim();
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32 || key.toString('base64') !== text) throw new VigilError('VIGIL_E_CLI_USAGE', `--public-key ${value}: expected the relay's Ed25519 public key, 32 bytes of base64 (or a file holding it), as vigil keys gen signing printed it`, { details: { option: 'public-key' } });
  const problem = signPublicKeyProblem(key);
  if (problem !== null) throw new VigilError('VIGIL_E_CLI_USAGE', `--public-key ${value}: this Ed25519 public key ${problem}`, { details: { option: 'public-key' } });
  return getCryptoBackend().createVerifier(key);
}

const when = (ms: number): string => new Date(ms).toISOString();

/** The verified totals as a table, per stream. */
export function formatRelayAuditReport(r: RelayAuditReport): string {
  const t = r.totals;
  const lines = [
    `${r.topic}: ${t.summaries} summar${t.summaries === 1 ? 'y' : 'ies'} (seq ${t.firstSeq}..${t.lastSeq}), ${when(t.periodStartMs)} to ${when(t.periodEndMs)}: every signature verifies, the chain is unbroken`,
    ...t.policies.map((p) => `  policy ${p.digest} in force in seq ${p.fromSeq}..${p.toSeq}`),
    ...(t.uncleanStops === 0 ? [] : [`  ${t.uncleanStops} run(s) followed a crash: decisions after that run's last summary are in no summary`]),
    '',
    'source -> destination | released | delivered | withheld above-ceiling / not-releasable / unreadable | sampled | redacted fields | shed flash / immediate / routine',
  ];
  for (const s of t.streams) {
    const redacted = Object.entries(s.redactedFields).map(([k, n]) => `${k} ${n}`).join(', ') || '0';
    lines.push(`${s.source} -> ${s.destination} | ${s.released} | ${s.delivered} | ${s.withheld['above-ceiling']} / ${s.withheld['not-releasable']} / ${s.withheld.unreadable} | ${s.sampled} | ${redacted} | ${s.shed.flash} / ${s.shed.immediate} / ${s.shed.routine}`);
  }
  return lines.join('\n') + '\n';
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `vigil relay verify-audit`: checks a relay's signed release summaries and prints what it released. */
function verifyAuditCommand(): Command {
  return new Command('verify-audit')
    .description("check a relay's signed release summaries in the theatre's audit topic: every Ed25519 signature and the hash chain (a deleted or altered summary fails); prints the totals per stream (exit 1 when the check fails)")
    .addHelpText('after', examples('vigil relay verify-audit --config vigil.yaml --relay north-to-command --public-key keys/relay-signing.pub', 'vigil relay verify-audit --config vigil.yaml --policy relay-policy.yaml --public-key Qk3c…= --json'))
    .option('-c, --config <file>', 'YAML or JSON config file: kafka.* says where the theatre Kafka is and how to reach it (default: $VIGIL_CONFIG)')
    .option('--relay <name>', "the relay's name (its policy's name); the topic is <kafka.topicPrefix>vigil.audit.relay.<name>")
    .option('--policy <file>', 'take the relay name from this policy file instead of --relay')
    .option('--topic <name>', 'the audit topic itself, full name (instead of --relay or --policy)')
    .requiredOption('--public-key <base64|file>', "the relay's Ed25519 public key (vigil keys gen signing printed it); repeat for the keys before a rotation", collect, [])
    .option('--first-seq <n>', 'seq of the oldest summary the topic should hold (when retention removed older ones)', (v) => {
      if (!/^[1-9]\d{0,14}$/.test(v)) throw new VigilError('VIGIL_E_CLI_USAGE', `--first-seq ${v}: expected an integer ≥ 1`, { details: { option: 'first-seq' } });
      return Number(v);
    })
    .option('--json', 'print the totals as one JSON object')
    .action(async (o: { config?: string; relay?: string; policy?: string; topic?: string; publicKey: string[]; firstSeq?: number; json?: boolean }) => {
      const verifiers = o.publicKey.map(readPublicKeyOption);
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const given = [o.relay, o.policy, o.topic].filter((v) => v !== undefined).length;
      if (given !== 1) throw new VigilError('VIGIL_E_CLI_USAGE', 'name the relay with exactly one of --relay <name>, --policy <file> or --topic <audit topic>', { details: { option: 'relay' } });
      const name = o.topic !== undefined ? o.topic.replace(/^.*vigil\.audit\.relay\./, '') : (o.relay ?? (await loadPolicy(resolve(o.policy as string))).policy.name);
      if (!/^[A-Za-z0-9._-]{1,200}$/.test(name)) throw new VigilError('VIGIL_E_CLI_USAGE', `relay name ${JSON.stringify(name)}: expected 1-64 characters of [A-Za-z0-9._-]`, { details: { option: o.topic !== undefined ? 'topic' : 'relay' } });
      const topic = o.topic ?? `${cfg.kafka.topicPrefix}vigil.audit.relay.${name}`;
      const bus = new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, configRelative(o.config ?? process.env.VIGIL_CONFIG)), clientId: 'vigil-relay-verify-audit', logLevel: 'nothing', retries: 2, maxRetryTimeMs: 2000 });
      let report: RelayAuditReport;
      try {
        report = await verifyRelayAudit({ bus, topic, verifiers, groupPrefix: `${cfg.kafka.topicPrefix}vigil.relay.${name}.verify`, ...(o.firstSeq === undefined ? {} : { firstSeq: o.firstSeq }) });
      } catch (err) {
        // The check was made and failed: exit 1, as vigil audit on a loss; anything else could not check (exit 2).
        if (isVigilError(err) && (err.code === 'VIGIL_E_RELAY_AUDIT_SIGNATURE' || err.code === 'VIGIL_E_RELAY_AUDIT_GAP')) {
          process.stderr.write(`vigil: ${err.code}: ${err.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      } finally {
        await bus.close();
      }
      if (o.json === true) printJson({ topic: report.topic, ...report.totals });
      else out.write(formatRelayAuditReport(report));
    });
}

/** `vigil relay --config <file>`: relays theatre streams to a command Kafka until SIGTERM or SIGINT. */
export function relayCommand(): Command {
  return new Command('relay')
    // verify-audit has -c and --policy of its own: the relay's options are only those given before a subcommand.
    .enablePositionalOptions()
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
        out.write(`relay policy ${file}: valid; destination ${policy.destination.name}, ceiling ${formatLabel(policy.destination.ceiling)}, digest ${relayPolicyDigest(policy)}\n`);
        for (const s of policy.streams) {
          const k = keys.get(s.source);
          out.write(`  ${s.source} -> ${s.destination} (opens with ${k?.source.ids().join(', ')}; seals with ${k?.relay.keyId})\n`);
        }
        // With a configuration, its signing key too: the relay does not start without it.
        if (o.config !== undefined || process.env.VIGIL_CONFIG !== undefined) {
          const signing = await loadSigningKey(isAbsolute(cfg.relay.signingKeyFile) ? cfg.relay.signingKeyFile : resolve(baseDir, cfg.relay.signingKeyFile), policy);
          out.write(`  release summaries to ${relayAuditTopic(policy, cfg.kafka.topicPrefix)} every ${cfg.relay.auditIntervalSeconds} s, signed with ${signing.keyId} (public key ${Buffer.from(signing.sign.publicKey).toString('base64')})\n`);
        }
        return;
      }
      const running = await startRelay(cfg, { baseDir, ...(o.policy === undefined ? {} : { policyFile: o.policy }) });
      await runUntilSignal(running);
    })
    .addCommand(verifyAuditCommand());
}
