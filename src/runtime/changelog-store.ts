import { randomUUID } from 'node:crypto';
import type { Bus, BusConsumer, BusConsumerOptions, BusMessage, BusProducer } from '../bus';
import { VigilError } from '../errors';

const FENCE_PREFIX = '~fence~';

interface Waiter {
  readonly nonce: string;
  readonly remaining: Set<number>;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Options of `ChangelogStore`. */
export interface ChangelogStoreOptions {
  readonly bus: Bus;
  /** The compacted changelog topic (`vigil.changelog.<pipeline>`). */
  readonly topic: string;
  /** Its number of partitions: a fence goes to each. */
  readonly partitions: number;
  /** Prefix of the reader's private consumer group. */
  readonly groupPrefix: string;
  /** Longest `sync()` waits for its fences. */
  readonly syncTimeoutMs: number;
  readonly consumer?: Partial<BusConsumerOptions>;
}

/**
 * The latest checkpoint per key of a changelog topic, as a compacted read would give it,
 * through the `Bus` contract alone (no end-offset query needed): a reader in a private
 * consumer group reads every partition from the start and keeps the last value per key.
 *
 * `sync()` is the read-your-writes barrier: it writes a fence with a fresh nonce to every
 * partition and waits until the reader has seen them all, so everything written to the
 * changelog before the call (e.g. the previous owner's last checkpoint) is in the view.
 * Fences use one key per partition, so compaction keeps one of each.
 *
 * @example
 * const store = new ChangelogStore({ bus, topic: 'vigil.changelog.power', partitions: 1, groupPrefix: 'vigil.pipeline.power', syncTimeoutMs: 30_000 });
 * await store.start();
 * await store.sync(producer);
 * const last = store.get('telemetry.power:3');
 */
export class ChangelogStore {
  private readonly latest = new Map<string, BusMessage>();
  private readonly waiters = new Set<Waiter>();
  private consumer: BusConsumer | undefined;
  private failure: Error | undefined;

  constructor(private readonly options: ChangelogStoreOptions) {}

  async start(): Promise<void> {
    const o = this.options;
    const consumer = o.bus.consumer({ ...o.consumer, groupId: `${o.groupPrefix}.changelog-reader.${randomUUID()}`, fromBeginning: true });
    this.consumer = consumer;
    await consumer.subscribe([o.topic]);
    await consumer.run({
      eachBatch: (batch) => {
        for (const m of batch.messages) this.apply(m);
      },
      onError: (err) => this.fail(err),
    });
  }

  /** The latest message under `key`, if any (tombstones delete). */
  get(key: string): BusMessage | undefined {
    return this.latest.get(key);
  }

  /** Resolves once every changelog message written before the call is in the view. */
  sync(producer: BusProducer): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const o = this.options;
    const nonce = randomUUID();
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new VigilError('VIGIL_E_PIPELINE_FAILED', `changelog ${o.topic}: the reader did not catch up within ${o.syncTimeoutMs} ms`, { retriable: true, details: { topic: o.topic } }));
      }, o.syncTimeoutMs);
      const waiter: Waiter = { nonce, remaining: new Set(Array.from({ length: o.partitions }, (_, i) => i)), resolve, reject, timer };
      this.waiters.add(waiter);
    });
    const fences = Array.from({ length: o.partitions }, (_, partition) => ({ key: `${FENCE_PREFIX}${partition}`, value: nonce, partition }));
    return producer.send(o.topic, fences).then(() => done);
  }

  async close(): Promise<void> {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new VigilError('VIGIL_E_BUS_CLOSED', `changelog ${this.options.topic}: the reader was closed`));
    }
    this.waiters.clear();
    await this.consumer?.close();
  }

  private apply(m: BusMessage): void {
    const key = m.key === null ? '' : m.key.toString('utf8');
    if (key.startsWith(FENCE_PREFIX)) {
      if (this.waiters.size === 0 || m.value === null) return;
      const nonce = m.value.toString('utf8');
      for (const w of this.waiters) {
        if (w.nonce !== nonce) continue;
        w.remaining.delete(m.partition);
        if (w.remaining.size === 0) {
          clearTimeout(w.timer);
          this.waiters.delete(w);
          w.resolve();
        }
      }
      return;
    }
    if (m.value === null) this.latest.delete(key);
    // A copy: a Kafka fetch buffer must not stay alive behind one small checkpoint.
    else this.latest.set(key, { ...m, value: Buffer.from(m.value) });
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }
}
