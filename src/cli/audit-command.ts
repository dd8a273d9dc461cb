import { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { AckedLog, auditReportJson, formatAuditTable, runAudit, type AuditReport } from '../audit';
import { KafkaBus, type Bus } from '../bus';
import { loadConfig } from '../config';
import { readStreamKeyRing, StreamKeyring, type StreamDataKey } from '../crypto';
import { isVigilError, VigilError } from '../errors';
import { out, examples } from './output';
import { configRelative, kafkaSecurity } from './tls-files';

/** Options of `auditDelivery`, the core of `vigil audit` (a `Bus` is given, so tests need no Kafka). */
export interface AuditDeliveryOptions {
  readonly bus: Bus;
  /** The acked log file (`vigil simulate --acked-log`). */
  readonly ackedFile: string;
  readonly keys: readonly StreamDataKey[];
  readonly topicPrefix?: string;
  /** The report as JSON instead of the table. Default false. */
  readonly json?: boolean;
  /** Where the brokers are, for error messages. */
  readonly where?: string;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
  readonly stallTimeoutMs?: number;
}

/** Reads an acked log file line by line (a million lines stay out of memory as text). */
export async function readAckedLogFile(file: string): Promise<AckedLog> {
  const input = createReadStream(file, { encoding: 'utf8' });
  // An unreadable file fails the stream before the first line: turn it into a clear error.
  const opened = new Promise<void>((resolve, reject) => {
    input.once('ready', () => resolve());
    input.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new VigilError('VIGIL_E_AUDIT_ACKED_LOG', `cannot read the acked log ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { details: { source: file }, cause: err });
  }
  try {
    return await AckedLog.fromLines(createInterface({ input, crlfDelay: Infinity }), file);
  } finally {
    input.destroy();
  }
}

/**
 * Audits delivery: prints the per-device table (or JSON) to `out` and returns the report;
 * `report.ok` is false on any lost or out-of-order frame.
 *
 * @example
 * const report = await auditDelivery({ bus, ackedFile: 'acked.jsonl', keys: [telemetryKey] });
 * process.exitCode = report.ok ? 0 : 1;
 */
export async function auditDelivery(o: AuditDeliveryOptions): Promise<AuditReport> {
  const log = o.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const acked = await readAckedLogFile(o.ackedFile);
  log(`audit: ${acked.size} acknowledged frame${acked.size === 1 ? '' : 's'} of ${acked.deviceIds().length} device${acked.deviceIds().length === 1 ? '' : 's'} in ${o.ackedFile}`);
  let report: AuditReport;
  try {
    report = await runAudit({
      bus: o.bus, keyring: new StreamKeyring(o.keys), acked, log,
      ...(o.topicPrefix !== undefined ? { topicPrefix: o.topicPrefix } : {}),
      ...(o.stallTimeoutMs !== undefined ? { stallTimeoutMs: o.stallTimeoutMs } : {}),
    });
  } catch (err) {
    if (isVigilError(err, 'VIGIL_E_BUS_UNAVAILABLE')) {
      throw new VigilError('VIGIL_E_BUS_UNAVAILABLE', `cannot reach Kafka${o.where === undefined ? '' : ` at ${o.where}`}: ${err.message}`, { cause: err, details: { brokers: o.where } });
    }
    throw err;
  }
  out.write(o.json === true ? JSON.stringify(auditReportJson(report)) + '\n' : formatAuditTable(report));
  return report;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * `vigil audit --acked <file> --key <file>`: an operator's proof that every frame the devices
 * were told is durable is in Kafka, in order per device. Exit 0 when it is, 1 on any lost or
 * out-of-order frame, 2 when the audit could not be made (bad acked log, key, Kafka).
 */
export function auditCommand(): Command {
  return new Command('audit')
    .description('check the telemetry in Kafka against an acked log: per device acknowledged, stored, lost, out of order, duplicates (exit 1 on loss or disorder)')
    .addHelpText('after', examples('vigil audit --acked acked.jsonl --key keys/telemetry.key.json --config vigil.yaml', 'vigil audit --acked acked.jsonl -k keys/telemetry-1.key.json -k keys/telemetry-2.key.json --kafka 127.0.0.1:9092 --json'))
    .requiredOption('--acked <file>', 'acked log: JSON lines {"deviceId","seq"} of frames devices were told are durable (vigil simulate --acked-log)')
    .requiredOption('-k, --key <file>', 'telemetry stream key file; repeat for several keys (rotation)', collect, [])
    .option('-c, --config <file>', 'YAML or JSON config file for kafka.brokers and kafka.topicPrefix (default: $VIGIL_CONFIG)')
    .option('--kafka <list>', 'Kafka brokers host:port, comma-separated (default: kafka.brokers of the configuration)')
    .option('--topic-prefix <prefix>', 'topic prefix of the deployment (default: kafka.topicPrefix of the configuration)')
    .option('--json', 'the report as one JSON object instead of the table')
    .action(async (o: { acked: string; key: string[]; config?: string; kafka?: string; topicPrefix?: string; json?: boolean }) => {
      if (o.key.length === 0) throw new VigilError('VIGIL_E_AUDIT_OPTIONS', 'give the telemetry stream key file with --key', { details: { option: 'key' } });
      // Each file may be a ring (vigil keys rotate): every key in it opens what it sealed, the current one first.
      const keys = (await Promise.all(o.key.map((f) => readStreamKeyRing(f)))).flatMap((r) => r.all);
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const brokers = o.kafka !== undefined ? o.kafka.split(',').map((b) => b.trim()).filter((b) => b.length > 0) : cfg.kafka.brokers;
      const topicPrefix = o.topicPrefix ?? cfg.kafka.topicPrefix;
      // Few retries: an unreachable Kafka is said within seconds, not after a minute of backoff.
      const bus = new KafkaBus({ brokers, ...kafkaSecurity(cfg.kafka, configRelative(o.config ?? process.env.VIGIL_CONFIG)), clientId: 'vigil-audit', logLevel: 'nothing', retries: 2, maxRetryTimeMs: 2000 });
      try {
        const report = await auditDelivery({ bus, ackedFile: o.acked, keys, topicPrefix, json: o.json === true, where: brokers.join(',') });
        if (!report.ok) process.exitCode = 1;
      } finally {
        await bus.close();
      }
    });
}
