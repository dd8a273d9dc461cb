import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { VigilError } from '../../errors';
import type { BackoffPolicy } from './backoff';
import type { IngestMessageHandler } from './types';

/** Options of `MqttIngestClient`. Validated once by the constructor, then frozen. */
export interface MqttIngestOptions {
  /** Broker address: `mqtt://host:port` (TCP) or `mqtts://host:port` (TLS). Default port 1883 / 8883. */
  readonly url: string;
  /** MQTT client identifier. Must be unique per broker; with a persistent session it names the session. */
  readonly clientId: string;
  /**
   * Topic filters, all subscribed at QoS1 on every (re)connect, e.g.
   * `$share/gateways/vigil/v1/+/+/+/telemetry`. At least one.
   */
  readonly subscriptions: readonly string[];
  /** Receives every message as soon as it is parsed (see `IngestMessage`). */
  readonly onMessage: IngestMessageHandler;
  readonly username?: string;
  readonly password?: string | Buffer;
  /** Keep-alive, seconds; a PINGREQ goes out this often, silence for two periods kills the link. 0 disables. Default 30. */
  readonly keepaliveSeconds?: number;
  /**
   * MQTT 5 Clean Start. Default true. With false plus `sessionExpirySeconds` > 0 the broker
   * keeps the session (subscriptions and unacknowledged messages) across an outage and
   * redelivers in-flight messages when we come back.
   */
  readonly cleanStart?: boolean;
  /** How long the broker keeps the session after the connection drops, seconds. Default 0 (session ends with the connection). */
  readonly sessionExpirySeconds?: number;
  /**
   * MQTT 5 Receive Maximum: how many QoS1 messages the broker may have in flight to us
   * (delivered, not yet PUBACKed). This is the pipelining depth; Mosquitto also caps it
   * with `max_inflight_messages`. 1..65535, default 1000.
   */
  readonly receiveMaximum?: number;
  /**
   * Close the connection (DISCONNECT 0x93) when the broker sends more than `receiveMaximum`
   * unacknowledged messages, as MQTT 5 §4.9 allows. Default false: Mosquitto 2.0.11
   * overshoots after PUBACKs (eclipse-mosquitto/mosquitto#2301), and with a clean session a
   * disconnect would drop its queue; the overshoot is counted in `receiveMaximumExceeded`
   * and bounded by pausing the socket at `receiveMaximum`.
   */
  readonly strictReceiveMaximum?: boolean;
  /**
   * MQTT protocol: 5 (default) or 4 = 3.1.1, for brokers without MQTT 5 such as the embedded
   * demo's aedes. With 4 there is no Receive Maximum to announce and no shared subscription:
   * flow control is local only (the socket stops being read at `receiveMaximum` unacked).
   */
  readonly protocolVersion?: 4 | 5;
  /** Largest packet we accept (MQTT 5 Maximum Packet Size), bytes; larger is a protocol error. Default 1 MiB. */
  readonly maximumPacketSize?: number;
  /** Time allowed from TCP connect to CONNACK and SUBACK, ms. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** Reconnect after a retriable failure. Default true. */
  readonly reconnect?: boolean;
  /** First reconnect delay, ms; doubles per failed attempt. Default 100. */
  readonly reconnectInitialDelayMs?: number;
  /** Largest reconnect delay, ms. Default 30000. */
  readonly reconnectMaxDelayMs?: number;
  /** Random fraction taken off each delay, 0..1. Default 0.5. */
  readonly reconnectJitter?: number;
  /** TLS settings (CA, client certificate, servername) for `mqtts://`. */
  readonly tls?: TlsConnectionOptions;
}

export const MQTT_INGEST_DEFAULTS = Object.freeze({
  keepaliveSeconds: 30,
  cleanStart: true,
  sessionExpirySeconds: 0,
  receiveMaximum: 1000,
  strictReceiveMaximum: false,
  maximumPacketSize: 1024 * 1024,
  connectTimeoutMs: 10000,
  reconnect: true,
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 30000,
  reconnectJitter: 0.5,
});

/** Options after validation with defaults filled in. */
export interface ResolvedMqttIngestOptions {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly clientId: string;
  readonly subscriptions: readonly string[];
  readonly onMessage: IngestMessageHandler;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly keepaliveSeconds: number;
  readonly cleanStart: boolean;
  readonly sessionExpirySeconds: number;
  readonly receiveMaximum: number;
  readonly strictReceiveMaximum: boolean;
  readonly protocolVersion: 4 | 5;
  readonly maximumPacketSize: number;
  readonly connectTimeoutMs: number;
  readonly reconnect: boolean;
  readonly backoff: BackoffPolicy;
  readonly tls: TlsConnectionOptions | undefined;
}

function fail(option: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'function' ? 'a function' : option === 'password' ? '(hidden)' : (JSON.stringify(value) ?? String(value));
  throw new VigilError('VIGIL_E_MQTT_OPTIONS', `MQTT ingest option "${option}" is ${shown}; ${allowed}`, { details: { option } });
}

function int(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(option, value, `expected an integer in ${min}..${max}`);
  }
  return value;
}

function bool(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(option, value, 'expected true or false');
  return value;
}

/** Validates options once; throws `VIGIL_E_MQTT_OPTIONS` naming the option. */
export function resolveMqttIngestOptions(options: MqttIngestOptions): ResolvedMqttIngestOptions {
  if (typeof options !== 'object' || options === null) fail('options', options, 'expected an options object');
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    fail('url', options.url, 'expected mqtt://host:port or mqtts://host:port');
  }
  const secure = url.protocol === 'mqtts:' || url.protocol === 'tls:' || url.protocol === 'ssl:';
  if (!secure && url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') fail('url', options.url, 'expected the scheme mqtt:// or mqtts://');
  const port = url.port === '' ? (secure ? 8883 : 1883) : Number(url.port);
  if (typeof options.clientId !== 'string' || Buffer.byteLength(options.clientId) > 65535) fail('clientId', options.clientId, 'expected a string');
  const subs = options.subscriptions;
  if (!Array.isArray(subs) || subs.length === 0 || subs.some((s) => typeof s !== 'string' || s.length === 0)) {
    fail('subscriptions', subs, 'expected a non-empty list of topic filters');
  }
  if (typeof options.onMessage !== 'function') fail('onMessage', options.onMessage, 'expected a function (msg) => void');
  if (options.username !== undefined && typeof options.username !== 'string') fail('username', options.username, 'expected a string');
  if (options.password !== undefined && typeof options.password !== 'string' && !Buffer.isBuffer(options.password)) {
    fail('password', options.password, 'expected a string or a Buffer');
  }
  const jitter = options.reconnectJitter ?? MQTT_INGEST_DEFAULTS.reconnectJitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) fail('reconnectJitter', jitter, 'expected a number in 0..1');
  const initialDelayMs = int('reconnectInitialDelayMs', options.reconnectInitialDelayMs, MQTT_INGEST_DEFAULTS.reconnectInitialDelayMs, 1, 3_600_000);
  const maxDelayMs = int('reconnectMaxDelayMs', options.reconnectMaxDelayMs, MQTT_INGEST_DEFAULTS.reconnectMaxDelayMs, initialDelayMs, 3_600_000);
  if (options.tls !== undefined && (typeof options.tls !== 'object' || options.tls === null)) fail('tls', options.tls, 'expected node:tls connection options');
  return Object.freeze({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    secure,
    clientId: options.clientId,
    subscriptions: Object.freeze([...subs]),
    onMessage: options.onMessage,
    username: options.username,
    password: options.password === undefined ? undefined : Buffer.from(options.password),
    keepaliveSeconds: int('keepaliveSeconds', options.keepaliveSeconds, MQTT_INGEST_DEFAULTS.keepaliveSeconds, 0, 65535),
    cleanStart: bool('cleanStart', options.cleanStart, MQTT_INGEST_DEFAULTS.cleanStart),
    sessionExpirySeconds: int('sessionExpirySeconds', options.sessionExpirySeconds, MQTT_INGEST_DEFAULTS.sessionExpirySeconds, 0, 0xffffffff),
    receiveMaximum: int('receiveMaximum', options.receiveMaximum, MQTT_INGEST_DEFAULTS.receiveMaximum, 1, 65535),
    strictReceiveMaximum: bool('strictReceiveMaximum', options.strictReceiveMaximum, MQTT_INGEST_DEFAULTS.strictReceiveMaximum),
    protocolVersion: options.protocolVersion === undefined || options.protocolVersion === 5 ? 5 : options.protocolVersion === 4 ? 4 : fail('protocolVersion', options.protocolVersion, 'expected 4 (MQTT 3.1.1) or 5'),
    maximumPacketSize: int('maximumPacketSize', options.maximumPacketSize, MQTT_INGEST_DEFAULTS.maximumPacketSize, 64, 268_435_455),
    connectTimeoutMs: int('connectTimeoutMs', options.connectTimeoutMs, MQTT_INGEST_DEFAULTS.connectTimeoutMs, 1, 3_600_000),
    reconnect: bool('reconnect', options.reconnect, MQTT_INGEST_DEFAULTS.reconnect),
    backoff: Object.freeze({ initialDelayMs, maxDelayMs, jitter }),
    tls: options.tls,
  });
}
