import type { ConnectionOptions } from 'node:tls';
import { VigilError } from '../../errors';
import { loadLz4 } from './lz4-codec';

/** Log levels of the kafkajs adapter, quietest first. */
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** One kafkajs log line, handed to `KafkaBusOptions.log`. */
export interface KafkaLogEntry {
  readonly level: Exclude<KafkaLogLevel, 'nothing'>;
  readonly namespace: string;
  readonly message: string;
  readonly extra: Readonly<Record<string, unknown>>;
}

/** Options of `KafkaBus`. Defaults beside each; validated once, then frozen. */
export interface KafkaBusOptions {
  /** `host:port` of bootstrap brokers (use 127.0.0.1, not localhost). Required. */
  readonly brokers: readonly string[];
  /** Client id in broker logs and quotas. Default `vigil`. */
  readonly clientId?: string;
  /** TCP connect timeout. Default 3,000 ms. */
  readonly connectionTimeoutMs?: number;
  /** Broker request timeout. Default 30,000 ms. */
  readonly requestTimeoutMs?: number;
  /** kafkajs retries of a failed request before giving up. Default 5. */
  readonly retries?: number;
  /** Longest single retry back-off. Default 5,000 ms. */
  readonly maxRetryTimeMs?: number;
  /**
   * Longest a `send` waits for its acknowledgement, connects and retries included, before it
   * rejects with `VIGIL_E_BUS_UNAVAILABLE`. Default 30,000 ms. The gateway sets it low to
   * spool early.
   */
  readonly sendTimeoutMs?: number;
  /**
   * Record batch compression. Default `none`: sealed records are ciphertext and do not
   * compress, so gzip costs CPU for nothing there; derived streams may differ. kafkajs has
   * only gzip built in; `lz4` is Vigil's codec on lz4-napi (LZ4 frames, as Kafka's clients
   * write them), registered for every KafkaBus, so every Vigil reader reads it.
   */
  readonly compression?: 'none' | 'gzip' | 'lz4';
  /**
   * Replication factor of the topics `ensureTopics` creates. Default -1: the brokers'
   * `default.replication.factor`. Production: 3, with `min.insync.replicas=2` on the brokers.
   */
  readonly replicationFactor?: number;
  /** Lowest kafkajs level passed to `log`. Default `error`. */
  readonly logLevel?: KafkaLogLevel;
  /**
   * TLS to the brokers: Node TLS options (`ca`, and `cert`/`key` for a client certificate;
   * the config's `kafka.ssl` files, read by the CLI). Default: plaintext.
   */
  readonly ssl?: ConnectionOptions;
  /** SASL authentication (with `ssl`: SASL_SSL). The password is kept in memory only and never logged. */
  readonly sasl?: KafkaSaslOptions;
  /** Where kafkajs logs go (e.g. a pino child). Default: dropped. */
  readonly log?: (entry: KafkaLogEntry) => void;
}

/** SASL SCRAM credentials of a Kafka user. */
export interface KafkaSaslOptions {
  readonly mechanism: KafkaSaslMechanism;
  readonly username: string;
  readonly password: string;
}

export const KAFKA_SASL_MECHANISMS = ['scram-sha-512', 'scram-sha-256'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

export type ResolvedKafkaBusOptions = Readonly<
  Required<Omit<KafkaBusOptions, 'log' | 'brokers' | 'ssl' | 'sasl'>> & { brokers: readonly string[]; log: ((entry: KafkaLogEntry) => void) | undefined; ssl: ConnectionOptions | undefined; sasl: KafkaSaslOptions | undefined }
>;

const LEVELS: readonly KafkaLogLevel[] = ['nothing', 'error', 'warn', 'info', 'debug'];

function bad(option: string, value: unknown, allowed: string): never {
  throw new VigilError('VIGIL_E_BUS_OPTIONS', `kafka bus option ${option}: ${JSON.stringify(value)} is not allowed; expected ${allowed}`, { details: { option, value: String(value) } });
}

function int(options: KafkaBusOptions, name: keyof KafkaBusOptions, dflt: number, min: number): number {
  const v = options[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(name, v, `an integer ≥ ${min}`);
  return v;
}

/**
 * Checks `KafkaBusOptions` and fills in defaults.
 *
 * @example
 * resolveKafkaBusOptions({ brokers: ['127.0.0.1:9092'], sendTimeoutMs: 5000 });
 */
export function resolveKafkaBusOptions(options: KafkaBusOptions): ResolvedKafkaBusOptions {
  if (options === null || typeof options !== 'object') bad('options', options, 'an object');
  const { brokers } = options;
  if (!Array.isArray(brokers) || brokers.length === 0 || brokers.some((b) => typeof b !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(b))) {
    bad('brokers', brokers, 'a non-empty list of "host:port"');
  }
  const compression = options.compression ?? 'none';
  if (compression !== 'none' && compression !== 'gzip' && compression !== 'lz4') bad('compression', compression, '"none", "gzip" or "lz4"');
  if (compression === 'lz4' && loadLz4() === null) bad('compression', compression, '"none" or "gzip" (lz4-napi does not load on this platform)');
  const logLevel = options.logLevel ?? 'error';
  if (!LEVELS.includes(logLevel)) bad('logLevel', logLevel, LEVELS.join(', '));
  if (options.log !== undefined && typeof options.log !== 'function') bad('log', typeof options.log, 'a function');
  const replicationFactor = options.replicationFactor ?? -1;
  // Kafka's field is an int16; 0 and other negatives mean nothing to it.
  if (typeof replicationFactor !== 'number' || !Number.isInteger(replicationFactor) || !(replicationFactor === -1 || (replicationFactor >= 1 && replicationFactor <= 32767))) {
    bad('replicationFactor', replicationFactor, "-1 (the brokers' default) or an integer from 1 to 32767");
  }
  const clientId = options.clientId ?? 'vigil';
  if (typeof clientId !== 'string' || clientId.length === 0) bad('clientId', clientId, 'a non-empty string');
  if (options.ssl !== undefined && (typeof options.ssl !== 'object' || options.ssl === null)) bad('ssl', typeof options.ssl, 'Node TLS connection options');
  const sasl = options.sasl;
  if (sasl !== undefined) {
    if (typeof sasl !== 'object' || sasl === null) bad('sasl', typeof sasl, 'an object with mechanism, username and password');
    if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(sasl.mechanism)) bad('sasl.mechanism', sasl.mechanism, KAFKA_SASL_MECHANISMS.join(' or '));
    if (typeof sasl.username !== 'string' || sasl.username.length === 0) bad('sasl.username', sasl.username, 'a non-empty string');
    // Never the value: it is a secret.
    if (typeof sasl.password !== 'string' || sasl.password.length === 0) bad('sasl.password', '(hidden)', 'a non-empty string');
  }
  return Object.freeze({
    brokers: Object.freeze([...brokers]),
    clientId,
    connectionTimeoutMs: int(options, 'connectionTimeoutMs', 3000, 1),
    requestTimeoutMs: int(options, 'requestTimeoutMs', 30000, 1),
    retries: int(options, 'retries', 5, 0),
    maxRetryTimeMs: int(options, 'maxRetryTimeMs', 5000, 1),
    sendTimeoutMs: int(options, 'sendTimeoutMs', 30000, 1),
    compression,
    replicationFactor,
    logLevel,
    log: options.log,
    ssl: options.ssl,
    sasl: sasl === undefined ? undefined : Object.freeze({ ...sasl }),
  });
}
