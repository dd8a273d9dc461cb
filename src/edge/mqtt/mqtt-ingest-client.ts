import { EventEmitter } from 'node:events';
import { VigilError } from '../../errors';
import { channels } from '../../instrument/channels';
import { backoffDelay } from './backoff';
import { InboundMessage, IngestConnection, type ConnectionHooks } from './ingest-connection';
import { resolveMqttIngestOptions, type MqttIngestOptions, type ResolvedMqttIngestOptions } from './options';
import type { IngestMessage, MqttIngestCounters, MqttIngestEventMap, MqttIngestState } from './types';

/** Options of `MqttIngestClient.close`. */
export interface MqttIngestCloseOptions {
  /**
   * How long to wait for the owner to acknowledge what was already delivered before sending
   * DISCONNECT, ms. Reading stops at once. Default 0: disconnect now; the broker redelivers
   * whatever is unacknowledged.
   */
  readonly drainTimeoutMs?: number;
}

/**
 * The gateway's MQTT 5 ingest connection: subscribes at QoS1 and pipelines delivery, so that
 * "acknowledge only once durable" (docs/architecture.md §4) costs no throughput (docs/architecture.md §7).
 *
 * - Every PUBLISH is handed to `onMessage` as soon as it is parsed; up to `receiveMaximum`
 *   QoS1 messages can be awaiting durability at once. Call `ack(msg)` when the frame is
 *   durable, in any order: PUBACKs leave in receive order (as MQTT requires), batched into
 *   one socket write per event-loop turn.
 * - Flow control: we advertise `receiveMaximum` and stop reading from the socket whenever
 *   that many messages are unacknowledged, so even a broker that overshoots (Mosquitto 2.0.11
 *   does) gets at most one socket chunk further (`strictReceiveMaximum` closes the
 *   connection instead). When the owner's own buffers are full it calls `pause()`; TCP
 *   backpressure then reaches the broker. Nothing is buffered here beyond one socket chunk.
 * - Every delivered QoS1 message must eventually be acked: PUBACKs are in order, so one
 *   message never acked holds back all later PUBACKs and, after `receiveMaximum`
 *   messages, the connection stalls.
 * - Outages: reconnects with exponential backoff and jitter, resubscribes, and publishes
 *   `{ peer: 'mqtt', connected }` on `channels.connection`. Messages unacknowledged when a
 *   connection drops are NOT acknowledged: the broker redelivers them with dup=1, to our
 *   resumed session (`cleanStart: false` with `sessionExpirySeconds` > 0) or, for a shared
 *   subscription, possibly to another member. `ack()` for a previous connection's messages
 *   is ignored (counted in `staleAcks`): packet ids start over per connection, so acking
 *   them on the new one would acknowledge the wrong message.
 *
 * @example
 * const client = new MqttIngestClient({
 *   url: 'mqtt://127.0.0.1:1883',
 *   clientId: 'gw-1',
 *   subscriptions: ['$share/gateways/vigil/v1/+/+/+/telemetry'],
 *   receiveMaximum: 1000,
 *   cleanStart: false,
 *   sessionExpirySeconds: 3600,
 *   onMessage: (msg) => {
 *     pending.push(msg); // admit, then make durable in a batch
 *     if (pending.length > 5000) client.pause();
 *   },
 * });
 * client.on('error', (err) => log.warn(err));
 * await client.start();
 * // after a group commit landed:
 * for (const msg of batch) client.ack(msg);
 * await client.close();
 */
export class MqttIngestClient extends EventEmitter<MqttIngestEventMap> {
  private readonly options: ResolvedMqttIngestOptions;
  private readonly mutableCounters: MqttIngestCounters = {
    messages: 0,
    bytes: 0,
    acks: 0,
    ackWrites: 0,
    redelivered: 0,
    staleAcks: 0,
    reconnects: 0,
    receiveMaximumExceeded: 0,
    protocolErrors: 0,
    published: 0,
    publishDropped: 0,
  };
  /** The current connection emitted `connect` (so its end emits `disconnect`). */
  private up = false;
  private current: IngestConnection | undefined;
  private stateValue: MqttIngestState = 'idle';
  private attempt = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private pausedByOwner = false;
  private started: Promise<void> | undefined;
  private startWaiter: { resolve: () => void; reject: (err: VigilError) => void } | undefined;
  private closing: Promise<void> | undefined;
  private readonly hooks: ConnectionHooks = {
    closed: (conn, error, unacked) => this.onConnectionClosed(conn, error, unacked),
    handlerFailed: (error) => this.report(error),
  };

  /** Validates `options` (throws `VIGIL_E_MQTT_OPTIONS`); does not connect until `start()`. */
  constructor(options: MqttIngestOptions) {
    super();
    this.options = resolveMqttIngestOptions(options);
  }

  /**
   * Connects and subscribes. Resolves on the first successful connection (retrying
   * retriable failures with backoff meanwhile); rejects on a non-retriable failure (e.g.
   * `VIGIL_E_MQTT_CONNECT_REFUSED` for bad credentials), when `reconnect` is false and the
   * first attempt fails, or when `close()` is called first. Calling it again returns the
   * same promise.
   */
  start(): Promise<void> {
    if (this.started) return this.started;
    if (this.stateValue !== 'idle') return Promise.reject(new VigilError('VIGIL_E_MQTT_CLOSED', 'MqttIngestClient.start() after close()'));
    this.started = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.connect();
    return this.started;
  }

  /**
   * Acknowledges a message: its PUBACK goes out once every earlier message of its
   * connection is acknowledged too. Idempotent; a no-op for QoS0 messages and for messages
   * of a connection that has ended (the broker redelivers those).
   */
  ack(msg: IngestMessage): void {
    if (!(msg instanceof InboundMessage)) {
      throw new VigilError('VIGIL_E_MQTT_OPTIONS', 'MqttIngestClient.ack() takes a message the client delivered');
    }
    if (msg.connection === undefined) return; // QoS0: nothing to acknowledge
    msg.connection.ack(msg.seq);
  }

  /**
   * Publishes `payload` to `topic` at QoS 0 on the current connection (durable receipts):
   * best effort, never queued. Returns false (and counts it) when no connection is past its
   * CONNACK (one waiting for its SUBACK takes it) or its write buffer is over `maxBufferedBytes`.
   */
  publish(topic: string, payload: Uint8Array, maxBufferedBytes = 1024 * 1024): boolean {
    const ok = this.current?.publish(topic, payload, maxBufferedBytes) ?? false;
    if (ok) this.mutableCounters.published++;
    else this.mutableCounters.publishDropped++;
    return ok;
  }

  /** Stops reading from the broker until `resume()`: for when the owner's buffers are full. */
  pause(): void {
    this.pausedByOwner = true;
    this.current?.pause();
  }

  resume(): void {
    this.pausedByOwner = false;
    this.current?.resume();
  }

  get paused(): boolean {
    return this.pausedByOwner;
  }

  /** QoS1 messages of the current connection that have no PUBACK on the wire yet. */
  get inflight(): number {
    return this.current?.inflight ?? 0;
  }

  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  get state(): MqttIngestState {
    return this.stateValue;
  }

  /** Counters since construction (live view; read, do not modify). */
  get counters(): Readonly<MqttIngestCounters> {
    return this.mutableCounters;
  }

  /**
   * Stops the client: cancels any pending reconnect, stops reading, optionally waits for
   * outstanding acknowledgements (`drainTimeoutMs`), sends DISCONNECT and resolves once the
   * socket is closed. Unacknowledged messages stay with the broker. Idempotent.
   */
  close(options: MqttIngestCloseOptions = {}): Promise<void> {
    if (this.closing) return this.closing;
    const drainTimeoutMs = options.drainTimeoutMs ?? 0;
    if (typeof drainTimeoutMs !== 'number' || !(drainTimeoutMs >= 0)) {
      throw new VigilError('VIGIL_E_MQTT_OPTIONS', `close option "drainTimeoutMs" is ${String(drainTimeoutMs)}; expected a number >= 0`);
    }
    this.stateValue = 'closing';
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.startWaiter?.reject(new VigilError('VIGIL_E_MQTT_CLOSED', 'MqttIngestClient was closed before it connected'));
    this.startWaiter = undefined;
    const conn = this.current;
    this.closing = (conn ? conn.disconnect(drainTimeoutMs) : Promise.resolve()).then(() => {
      this.stateValue = 'closed';
    });
    return this.closing;
  }

  private connect(): void {
    this.stateValue = 'connecting';
    const conn = new IngestConnection(this.options, this.mutableCounters, this.hooks);
    this.current = conn;
    if (this.pausedByOwner) conn.pause();
    conn.opened.then(
      (info) => {
        if (this.current !== conn || this.stateValue !== 'connecting') return;
        this.attempt = 0;
        this.up = true;
        this.stateValue = 'connected';
        if (channels.connection.hasSubscribers) channels.connection.publish({ peer: 'mqtt', connected: true });
        this.emit('connect', info);
        this.startWaiter?.resolve();
        this.startWaiter = undefined;
      },
      () => undefined, // reported by onConnectionClosed, which always follows
    );
  }

  private onConnectionClosed(conn: IngestConnection, error: VigilError | undefined, unacked: number): void {
    if (this.current !== conn) return;
    this.current = undefined;
    if (this.up) {
      this.up = false;
      if (channels.connection.hasSubscribers) channels.connection.publish({ peer: 'mqtt', connected: false });
      this.emit('disconnect', { error, unacked });
    }
    if (this.stateValue === 'closing' || this.stateValue === 'closed') return;
    const err = error ?? new VigilError('VIGIL_E_MQTT_CONNECTION_LOST', 'MQTT connection closed');
    this.report(err);
    if (!err.retriable || !this.options.reconnect) {
      this.stateValue = 'failed';
      this.startWaiter?.reject(err);
      this.startWaiter = undefined;
      return;
    }
    this.stateValue = 'waiting';
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.mutableCounters.reconnects++;
      this.connect();
    }, delay);
  }

  /** Emits `error` only when observed: an ingest error must never crash the gateway. */
  private report(error: VigilError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
