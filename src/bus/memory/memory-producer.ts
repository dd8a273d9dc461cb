import { VigilError } from '../../errors';
import type { OutgoingMessage } from '../message';
import type { BusProducer } from '../producer';
import { toBuffer, toHeaders } from '../to-buffer';
import type { MemoryBroker } from './memory-broker';
import type { MemoryTopic } from './memory-topic';
import { partitionForKey } from './partition-for-key';

/**
 * Producer of the memory bus. A send is appended at once (there is nothing to make durable),
 * so order per key is call order; the promise still settles asynchronously, like Kafka's.
 */
export class MemoryProducer implements BusProducer {
  private closed = false;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly onClosed: (p: MemoryProducer) => void,
  ) {}

  send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    try {
      if (this.closed) throw new VigilError('VIGIL_E_BUS_CLOSED', `cannot send to "${topic}": the producer is closed`, { details: { topic } });
      if (!this.broker.available) throw new VigilError('VIGIL_E_BUS_UNAVAILABLE', `cannot send to "${topic}": the bus is unavailable`, { details: { topic } });
      const t = this.broker.requireTopic(topic);
      // Check the whole call first: a send lands entirely or not at all.
      const partitions = messages.map((m, i) => this.partitionOf(t, m, i));
      const now = Date.now();
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as OutgoingMessage;
        const log = t.logs[partitions[i] as number];
        log?.append(toBuffer(m.key), toBuffer(m.value), toHeaders(m.headers), m.timestamp ?? now);
      }
      if (messages.length > 0) this.broker.changed(topic);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.onClosed(this);
    }
    return Promise.resolve();
  }

  private partitionOf(t: MemoryTopic, m: OutgoingMessage, index: number): number {
    const n = t.logs.length;
    if (m === null || typeof m !== 'object') {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', `message ${index} to "${t.name}" is not an object`, { details: { topic: t.name, index } });
    }
    const key = toBuffer(m.key);
    if (t.compacted && key === null) {
      // Kafka refuses these too (a compacted topic cannot keep "the last value" of no key).
      throw new VigilError('VIGIL_E_BUS_REQUEST', `message ${index} to compacted topic "${t.name}" has no key`, { details: { topic: t.name, index, type: 'INVALID_RECORD' } });
    }
    if (m.partition !== undefined) {
      if (!Number.isInteger(m.partition) || m.partition < 0 || m.partition >= n) {
        throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `message ${index}: topic "${t.name}" has no partition ${String(m.partition)} (it has ${n})`, {
          details: { topic: t.name, partition: m.partition },
        });
      }
      return m.partition;
    }
    if (key !== null) return partitionForKey(key, n);
    return t.nextKeyless++ % n;
  }
}
