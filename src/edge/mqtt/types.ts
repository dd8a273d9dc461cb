import type { VigilError } from '../../errors';

/**
 * One application message received by the ingest client. Delivered to `onMessage` as soon
 * as its PUBLISH is parsed; the owner calls `client.ack(msg)` once the frame is durable.
 * The object is read-only and must not be reused by the owner for another message.
 */
export interface IngestMessage {
  readonly topic: string;
  /** The PUBLISH payload; a view into the receive buffer, copy it before keeping it long. */
  readonly payload: Buffer;
  /** 1 for messages that need `ack()`; 0 for fire-and-forget messages (ack is a no-op). */
  readonly qos: 0 | 1;
  /** MQTT packet id (1..65535) of a QoS1 message; 0 for QoS0. Unique only per connection. */
  readonly packetId: number;
  /** True when the broker marked this as a redelivery (an earlier attempt went unacknowledged). */
  readonly dup: boolean;
  readonly retain: boolean;
  /** `Date.now()` when the socket chunk carrying the message was read. */
  readonly receivedAt: number;
}

/** Called for every received message. Must not throw (a throw is caught, counted and reported). */
export type IngestMessageHandler = (msg: IngestMessage) => void;

/** Payload of the `connect` event. */
export interface MqttConnectInfo {
  /** The broker resumed a stored session (clean start false): unacked messages will be redelivered. */
  readonly sessionPresent: boolean;
  /** Keep-alive in effect, seconds (the broker's Server Keep Alive wins over ours). */
  readonly keepaliveSeconds: number;
  /** Client id in effect (the broker's Assigned Client Identifier when ours was empty). */
  readonly clientId: string;
}

/** Payload of the `disconnect` event. */
export interface MqttDisconnectInfo {
  /** Why the connection ended; undefined after a graceful `close()`. */
  readonly error: VigilError | undefined;
  /**
   * QoS1 messages delivered on that connection whose PUBACK was never sent. They are NOT
   * acknowledged: the broker redelivers them (dup=1) to the resumed session or to another
   * member of the shared subscription, and `ack()` calls for them are ignored from now on.
   */
  readonly unacked: number;
}

/** Typed events of `MqttIngestClient` (Node's EventEmitter generic map). */
export interface MqttIngestEventMap {
  /** The connection is up and every subscription was granted at QoS1. */
  connect: [info: MqttConnectInfo];
  /** A connection that had emitted `connect` ended. */
  disconnect: [info: MqttDisconnectInfo];
  /**
   * Something went wrong: a failed attempt, a lost connection, a protocol error, a throwing
   * handler. Emitted only while someone listens, so an unobserved client never crashes the
   * process; retriable errors are followed by a reconnect, non-retriable ones stop the client.
   */
  error: [error: VigilError];
}

/** Monotonic counters of one client over its whole life (all connections). */
export interface MqttIngestCounters {
  /** PUBLISHes delivered to `onMessage` (QoS0 and QoS1). */
  messages: number;
  /** Bytes read from the broker (all packets, on the wire). */
  bytes: number;
  /** PUBACKs written to the broker. */
  acks: number;
  /** PUBACK socket writes (each carries one or more PUBACKs): acks / ackWrites = batching. */
  ackWrites: number;
  /** Messages received with dup=1 (redeliveries). */
  redelivered: number;
  /** `ack()` calls ignored: repeated, or for a connection that has ended. */
  staleAcks: number;
  /** Connection attempts after the first. */
  reconnects: number;
  /** QoS1 messages that arrived while `receiveMaximum` were already unacknowledged (broker overshoot). */
  receiveMaximumExceeded: number;
  /** Connections closed because the broker broke the protocol (malformed or unexpected packets). */
  protocolErrors: number;
  /** QoS 0 PUBLISHes written (durable receipts to devices). */
  published: number;
  /** QoS 0 PUBLISHes not written: no connection, or the socket's write buffer was full (the device resends; nothing is lost). */
  publishDropped: number;
}

/** Life cycle of `MqttIngestClient`. */
export type MqttIngestState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closing' | 'closed' | 'failed';
