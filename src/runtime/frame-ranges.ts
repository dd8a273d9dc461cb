import { MAX_PROVENANCE_ENTRIES, type FrameRange } from '../codec';
import type { Aggregate, JsonValue } from '../stream';

/** Per device: inclusive sequence ranges, flat and sorted: [first0, last0, first1, last1, …]. */
type Ranges = Map<string, bigint[]>;

/**
 * An aggregate recording which input frames a window's result came from, as per-device
 * inclusive sequence ranges (the derived record's `provenance`). A device's frames are
 * usually consecutive, so a window costs one range per device. Beyond the record's limit
 * of 4,096 ranges, each device's ranges are widened into one (the gaps are then claimed
 * too), and past 4,096 devices the rest are left out.
 *
 * @example
 * aggregate({ n: count(), frames: frameRanges() }) // → output.provenance = w.value.frames
 */
export function frameRanges<T extends { readonly deviceId: string; readonly seq: bigint }>(): Aggregate<T, Ranges, FrameRange[]> {
  return {
    create: () => new Map(),
    add: (acc, r) => {
      insert(acc, r.deviceId, r.seq, r.seq);
      return acc;
    },
    merge: (into, other) => {
      for (const [device, list] of other) for (let i = 0; i < list.length; i += 2) insert(into, device, list[i] as bigint, list[i + 1] as bigint);
      return into;
    },
    result: (acc) => {
      const devices = [...acc.keys()].sort();
      let total = 0;
      for (const list of acc.values()) total += list.length / 2;
      const widen = total > MAX_PROVENANCE_ENTRIES;
      const out: FrameRange[] = [];
      for (const deviceId of devices) {
        const list = acc.get(deviceId) as bigint[];
        if (widen) out.push({ deviceId, firstSeq: list[0] as bigint, lastSeq: list[list.length - 1] as bigint });
        else for (let i = 0; i < list.length; i += 2) out.push({ deviceId, firstSeq: list[i] as bigint, lastSeq: list[i + 1] as bigint });
        if (out.length >= MAX_PROVENANCE_ENTRIES) break;
      }
      return out;
    },
    // Sequence numbers are u64: strings keep them exact in JSON.
    save: (acc): JsonValue => [...acc].map(([device, list]) => [device, list.map(String)]),
    load: (json) => new Map((json as Array<[string, string[]]>).map(([device, list]) => [device, list.map((s) => BigInt(s))])),
  };
}

function insert(acc: Ranges, device: string, first: bigint, last: bigint): void {
  let list = acc.get(device);
  if (list === undefined) {
    acc.set(device, [first, last]);
    return;
  }
  const n = list.length;
  const tail = list[n - 1] as bigint;
  // In-order arrival (the common case): extend or append at the end.
  if (first > tail) {
    if (first === tail + 1n) list[n - 1] = last;
    else list.push(first, last);
    return;
  }
  // Out of order: rebuild with the new range merged where it overlaps or touches.
  const out: bigint[] = [];
  let f = first;
  let l = last;
  let placed = false;
  for (let i = 0; i < n; i += 2) {
    const a = list[i] as bigint;
    const b = list[i + 1] as bigint;
    if (b + 1n < f) out.push(a, b);
    else if (l + 1n < a) {
      if (!placed) {
        out.push(f, l);
        placed = true;
      }
      out.push(a, b);
    } else {
      if (a < f) f = a;
      if (b > l) l = b;
    }
  }
  if (!placed) out.push(f, l);
  list = out;
  acc.set(device, list);
}
