import type { OutgoingMessage } from './message';

/** Options of `Bus.producer()`. Defaults beside each option. */
export interface BusProducerOptions {
  /**
   * Most messages merged into one broker request by group commit. Default 10,000. Calls are
   * never split: a bigger single `send` goes out alone.
   */
  readonly maxBatchMessages?: number;
  /** Most key + value + header bytes merged into one request. Default 900 KiB (under Kafka's 1 MiB default request limits). */
  readonly maxBatchBytes?: number;
}

/**
 * Writes messages to the bus. `send` resolves only once the messages are durable (Kafka:
 * acknowledged by all in-sync replicas), so a caller may acknowledge upstream (MQTT) then.
 *
 * Concurrent `send` calls are group-committed: while one request is in flight, later calls
 * queue and go out together in the next request, in call order. Order per key is kept
 * across calls: a call that resolves before another is made lands before it.
 *
 * Failures reject with a `VigilError`: `VIGIL_E_BUS_UNAVAILABLE` (retriable; bounded by
 * the bus's send timeout, never a hang) when the broker cannot be reached,
 * `VIGIL_E_BUS_TOPIC_UNKNOWN`, `VIGIL_E_BUS_CLOSED` after `close()`, `VIGIL_E_BUS_OPTIONS`
 * for a bad message. A rejected call may still have landed (at-least-once).
 *
 * @example
 * const producer = bus.producer();
 * try {
 *   await producer.send('telemetry.position', [{ key: deviceId, value: sealed, headers: { 'vigil-key-id': keyId } }]);
 *   puback();
 * } catch (err) {
 *   if (isVigilError(err) && err.retriable) await spool.append(entries); else throw err;
 * }
 */
export interface BusProducer {
  /** Writes `messages` to `topic`; resolves when they are durable. */
  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  /**
   * Connects ahead of the first send (Kafka: brokers, metadata, the idempotent producer's
   * id), so that a caller with other work to do first (the relay reading its destination
   * back over a slow link) does not pay the round trips in its first send. Optional: a send
   * connects on its own, and retries a connect that failed here.
   *
   * @throws VigilError `VIGIL_E_BUS_UNAVAILABLE` (retriable), `VIGIL_E_BUS_CLOSED`
   */
  connect?(): Promise<void>;
  /** Resolves when every `send` made so far has settled (never rejects). */
  flush(): Promise<void>;
  /** Flushes, then releases connections. Later sends reject with `VIGIL_E_BUS_CLOSED`. Idempotent. */
  close(): Promise<void>;
}
