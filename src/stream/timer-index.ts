/**
 * Event-time timers for keyed state: due times in a binary min-heap (each distinct time
 * once), keys due at a time in an array beside it. Aligned windows make thousands of keys
 * share one end time, so a watermark touches one heap entry per distinct time rather than
 * one per key. Handlers treat entries as hints and re-check their state, so stale entries
 * (a session that moved its end) are harmless.
 */
export class TimerIndex<K> {
  private readonly heap: number[] = [];
  private readonly due = new Map<number, K[]>();

  get size(): number {
    return this.heap.length;
  }

  add(time: number, key: K): void {
    const keys = this.due.get(time);
    if (keys !== undefined) {
      keys.push(key);
      return;
    }
    this.due.set(time, [key]);
    const heap = this.heap;
    let i = heap.length;
    heap.push(time);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as number;
      if (p <= time) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = time;
  }

  /** The earliest due time, or +Infinity. */
  peek(): number {
    return this.heap.length > 0 ? (this.heap[0] as number) : Infinity;
  }

  /** Removes the earliest time and returns the keys due then (call only when not empty). */
  pop(): K[] {
    const heap = this.heap;
    const top = heap[0] as number;
    const last = heap.pop() as number;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (heap[r] as number) < (heap[l] as number) ? r : l;
        if ((heap[c] as number) >= last) break;
        heap[i] = heap[c] as number;
        i = c;
      }
      heap[i] = last;
    }
    const keys = this.due.get(top) as K[];
    this.due.delete(top);
    return keys;
  }

  /**
   * Due times in order with their keys in registration order: a restored operator must
   * emit results of keys due at the same time in the same order as the original.
   */
  entries(): Array<[number, K[]]> {
    return [...this.due.entries()].sort((a, b) => a[0] - b[0]).map(([t, keys]) => [t, [...keys]]);
  }

  /** Every key registered, in no particular order. */
  forEach(fn: (key: K) => void): void {
    for (const keys of this.due.values()) for (let i = 0; i < keys.length; i++) fn(keys[i] as K);
  }

  clear(): void {
    this.heap.length = 0;
    this.due.clear();
  }
}
