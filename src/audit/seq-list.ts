/**
 * A growable list of u64 sequence numbers in a `BigUint64Array`: 8 bytes per entry, where a
 * `bigint[]` or a `Set<bigint>` costs five to ten times that. An audit of a million frames
 * holds a few of these per device.
 */
export class SeqList {
  private items: BigUint64Array;
  private n = 0;

  constructor(capacity = 64) {
    this.items = new BigUint64Array(Math.max(1, capacity));
  }

  get length(): number {
    return this.n;
  }

  push(seq: bigint): void {
    if (this.n === this.items.length) {
      const bigger = new BigUint64Array(this.items.length * 2);
      bigger.set(this.items);
      this.items = bigger;
    }
    this.items[this.n++] = seq;
  }

  /** The last entry; undefined when empty. */
  last(): bigint | undefined {
    return this.n === 0 ? undefined : this.items[this.n - 1];
  }

  /** Whether `seq` is present; the list must be sorted ascending. */
  sortedHas(seq: bigint): boolean {
    let lo = 0;
    let hi = this.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.items[mid] as bigint;
      if (v === seq) return true;
      if (v < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** A view of the entries (valid until the next push). */
  view(): BigUint64Array {
    return this.items.subarray(0, this.n);
  }
}

/** The distinct values of `parts`, ascending, in a new array. */
export function sortedUnique(...parts: readonly BigUint64Array[]): BigUint64Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const all = new BigUint64Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  all.sort();
  let w = 0;
  for (let r = 0; r < all.length; r++) {
    if (w === 0 || all[r] !== all[w - 1]) all[w++] = all[r] as bigint;
  }
  return all.slice(0, w);
}
