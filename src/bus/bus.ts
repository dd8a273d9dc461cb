import type { BusAdmin } from './admin';
import type { BusConsumer, BusConsumerOptions } from './consumer';
import type { BusProducer, BusProducerOptions } from './producer';

/** Listener of connection changes; see `Bus.onConnectionChange`. */
export type ConnectionListener = (connected: boolean) => void;

/**
 * The message bus (docs/architecture.md §1): Kafka in production (`KafkaBus`), in-process for tests and
 * the single-process demo (`MemoryBus`), with the same contract (test/bus/bus.contract.ts).
 *
 * @example
 * const bus: Bus = new KafkaBus({ brokers: ['127.0.0.1:9092'] });
 * const producer = bus.producer();
 * await producer.send('telemetry.position', [{ key: 'ugv-7', value: sealed }]);
 * await bus.close();
 */
export interface Bus {
  /** A producer; see `BusProducer`. Create one per process and share it: group commit works across callers. */
  producer(options?: BusProducerOptions): BusProducer;
  consumer(options: BusConsumerOptions): BusConsumer;
  admin(): BusAdmin;
  /**
   * Whether the bus was reachable at the last contact (readiness probes). Kafka: set by
   * client connects, successful requests, and cleared by disconnects and unavailability.
   */
  isConnected(): boolean;
  /** Calls `listener` on every change of `isConnected()`; returns the unsubscribe function. */
  onConnectionChange(listener: ConnectionListener): () => void;
  /**
   * Bytes written to the brokers so far by every client of this bus, protocol framing and
   * compressed record batches included (Kafka: before TLS). Absent where nothing goes over a
   * wire (the memory bus).
   */
  bytesSent?(): number;
  /** Closes every client made from this bus. Idempotent. */
  close(): Promise<void>;
}
