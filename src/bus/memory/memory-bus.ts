import { VigilError } from '../../errors';
import type { BusAdmin } from '../admin';
import type { Bus, ConnectionListener } from '../bus';
import type { BusConsumer, BusConsumerOptions } from '../consumer';
import type { BusMessage } from '../message';
import type { BusProducer } from '../producer';
import { MemoryAdmin } from './memory-admin';
import { MemoryBroker } from './memory-broker';
import { MemoryConsumer } from './memory-consumer';
import { MemoryProducer } from './memory-producer';

/** Options of `MemoryBus`. */
export interface MemoryBusOptions {
  /** Share a broker between buses to model several processes on one cluster. Default: a new one. */
  readonly broker?: MemoryBroker;
  /** Most messages kept per partition of non-compacted topics of a new broker (oldest dropped). Default Infinity. */
  readonly retainMessages?: number;
}

/**
 * The in-process bus: same contract as `KafkaBus` (test/bus/bus.contract.ts), for unit tests
 * and the single-process `vigil demo`. Nothing is durable.
 *
 * @example
 * const bus = new MemoryBus();
 * await bus.admin().ensureTopics([{ topic: 'telemetry.position', partitions: 4 }]);
 * await bus.producer().send('telemetry.position', [{ key: 'ugv-7', value: sealed }]);
 */
export class MemoryBus implements Bus {
  readonly broker: MemoryBroker;
  private readonly producers = new Set<MemoryProducer>();
  private readonly consumers = new Set<MemoryConsumer>();
  private readonly admins = new Set<MemoryAdmin>();
  private closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.broker = options.broker ?? new MemoryBroker(options.retainMessages ?? Infinity);
  }

  producer(): BusProducer {
    this.open();
    const p = new MemoryProducer(this.broker, (x) => this.producers.delete(x));
    this.producers.add(p);
    return p;
  }

  consumer(options: BusConsumerOptions): BusConsumer {
    this.open();
    const c = new MemoryConsumer(this.broker, options, (x) => this.consumers.delete(x));
    this.consumers.add(c);
    return c;
  }

  admin(): BusAdmin {
    this.open();
    const a = new MemoryAdmin(this.broker);
    this.admins.add(a);
    return a;
  }

  isConnected(): boolean {
    return !this.closed && this.broker.available;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.broker.availability.onChange(listener);
  }

  /**
   * What a fully compacted topic would hold: the latest message per key, tombstoned keys
   * left out, per partition in offset order. For tests and the demo's state views.
   */
  compactedView(topic: string): BusMessage[] {
    return this.broker.requireTopic(topic).logs.flatMap((l) => l.compacted());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((c) => c.close()));
    await Promise.all([...this.producers].map((p) => p.close()));
    await Promise.all([...this.admins].map((a) => a.close()));
  }

  private open(): void {
    if (this.closed) throw new VigilError('VIGIL_E_BUS_CLOSED', 'the bus is closed');
  }
}
