import { VigilError } from '../../errors';
import { resolveSpoolOptions, type SpoolOptions } from './options';
import { peekLimits } from './peek-limits';
import { SpoolIndex } from './spool-index';
import type { Spool, SpoolBatch, SpoolEntry, SpoolPeekLimits, SpoolStats } from './spool';

/**
 * A spool in memory: the same ordering, priority, budget, shedding and expiry as `FileSpool`,
 * without durability (a crash loses everything). For tests, benchmarks and the single-process
 * demo, never for a gateway that acknowledges MQTT publishes on the strength of the spool.
 */
export class MemorySpool implements Spool {
  private readonly index: SpoolIndex<null>;
  private readonly issued = new WeakSet<SpoolBatch>();
  private closed = false;

  constructor(options: SpoolOptions = {}) {
    const o = resolveSpoolOptions(options);
    this.index = new SpoolIndex<null>({ budgetBytes: o.budgetBytes, shed: o.shed, now: o.now, onDrop: o.onDrop, sink: null });
  }

  private open(op: string): void {
    if (this.closed) throw new VigilError('VIGIL_E_SPOOL_CLOSED', `spool ${op}: the spool is closed`);
  }

  /** Adds entries at once (nothing to make durable). See `Spool.append`. */
  append(entries: readonly SpoolEntry[]): Promise<void> {
    try {
      this.open('append');
      this.index.admit(entries);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  peek(limits?: SpoolPeekLimits): Promise<SpoolBatch | null> {
    try {
      this.open('peek');
      const [maxEntries, maxBytes] = peekLimits(limits);
      const taken = this.index.take(maxEntries, maxBytes);
      if (taken === null) return Promise.resolve(null);
      const entries = new Array<SpoolEntry>(taken.items.length);
      for (let i = 0; i < entries.length; i++) entries[i] = taken.items[i]?.entry as SpoolEntry;
      const batch: SpoolBatch = { id: taken.id, entries, bytes: taken.bytes };
      this.issued.add(batch);
      return Promise.resolve(batch);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private owned(batch: SpoolBatch, verb: string): void {
    if (!this.issued.has(batch)) {
      throw new VigilError('VIGIL_E_SPOOL_BATCH', `cannot ${verb} spool batch ${String(batch?.id)}: this spool did not hand it out`, { details: { batch: batch?.id } });
    }
  }

  ack(batch: SpoolBatch): void {
    this.open('ack');
    this.owned(batch, 'ack');
    this.index.ack(batch.id);
  }

  nack(batch: SpoolBatch): void {
    this.open('nack');
    this.owned(batch, 'nack');
    this.index.nack(batch.id);
  }

  flush(): Promise<void> {
    return this.closed ? Promise.reject(new VigilError('VIGIL_E_SPOOL_CLOSED', 'spool flush: the spool is closed')) : Promise.resolve();
  }

  stats(): SpoolStats {
    return this.index.stats();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
