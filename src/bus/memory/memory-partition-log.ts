import type { BusHeaders, BusMessage } from '../message';

/**
 * One partition's log in memory. Offsets start at 0 and never repeat. On a compacted topic a
 * message superseded by a newer one with the same key is dropped at once (Kafka does it
 * later, in the background; readers must not tell the difference), leaving a gap in offsets
 * exactly as Kafka compaction does. Tombstones (null value) stay, so a reader replaying the
 * log learns of the delete.
 */
export class MemoryPartitionLog {
  private slots: Array<BusMessage | undefined> = [];
  /** Offset of `slots[0]`. */
  private base = 0;
  private readonly lastByKey: Map<string, number> | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    compacted: boolean,
    /** Most messages kept (oldest dropped first), for long demo runs; Infinity keeps all. */
    private readonly retainMessages: number,
  ) {
    this.lastByKey = compacted ? new Map() : undefined;
  }

  /** Oldest offset still readable. */
  get startOffset(): number {
    return this.base;
  }

  /** Offset the next message will get. */
  get endOffset(): number {
    return this.base + this.slots.length;
  }

  append(key: Buffer | null, value: Buffer | null, headers: BusHeaders, timestamp: number): void {
    const offset = this.endOffset;
    this.slots.push({ topic: this.topic, partition: this.partition, offset: String(offset), key, value, headers, timestamp });
    if (this.lastByKey !== undefined && key !== null) {
      const k = key.toString('latin1');
      const prev = this.lastByKey.get(k);
      if (prev !== undefined && prev >= this.base) this.slots[prev - this.base] = undefined;
      this.lastByKey.set(k, offset);
    }
    this.trim();
  }

  /** Up to `max` messages from offset `from` on (an offset before the start reads from the start). */
  read(from: number, max: number): BusMessage[] {
    const out: BusMessage[] = [];
    for (let i = Math.max(0, from - this.base); i < this.slots.length && out.length < max; i++) {
      const m = this.slots[i];
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  /** First offset whose message timestamp is at or after `timestampMs`; the end offset where none is. */
  offsetAt(timestampMs: number): number {
    for (let i = 0; i < this.slots.length; i++) {
      const m = this.slots[i];
      if (m !== undefined && m.timestamp >= timestampMs) return this.base + i;
    }
    return this.endOffset;
  }

  /** Latest value per key, tombstoned keys left out, in offset order (compacted topics). */
  compacted(): BusMessage[] {
    const out: BusMessage[] = [];
    for (const m of this.slots) if (m !== undefined && m.value !== null) out.push(m);
    return out;
  }

  private trim(): void {
    let drop = Math.max(0, this.slots.length - this.retainMessages);
    // Leading gaps left by compaction cost memory and nothing else: drop them too.
    while (drop < this.slots.length && this.slots[drop] === undefined) drop++;
    // Splicing is O(n): do it in chunks, not per append.
    if (drop >= 1024 || (drop > 0 && drop === this.slots.length)) {
      this.slots = this.slots.slice(drop);
      this.base += drop;
    }
  }
}
