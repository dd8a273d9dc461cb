import { MAX_PROVENANCE_ENTRIES, type FrameRange } from '../codec';
import type { Aggregate, JsonValue } from '../stream';

/**
 * Per device: inclusive sequence ranges, flat and sorted: [first0, last0, first1, last1, …].
 * Parallel arrays rather than a Map: a per-device window holds one device, and a Map's hash
 * table (~0.5 KB) per window was most of a 100,000-device worker's window heap. An index is
 * built once a window holds more than a few devices.
 */
interface Ranges {
  devices: string[];
  lists: bigint[][];
  index: Map<string, number> | undefined;
}

const INDEX_FROM = 8;

const empty = (): Ranges => ({ devices: [], lists: [], index: undefined });

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
    create: empty,
    add: (acc, r) => {
      insert(acc, r.deviceId, r.seq, r.seq);
      return acc;
    },
    merge: (into, other) => {
      other.devices.forEach((device, d) => {
        const list = other.lists[d] as bigint[];
        for (let i = 0; i < list.length; i += 2) insert(into, device, list[i] as bigint, list[i + 1] as bigint);
      });
      return into;
    },
    result: (acc) => {
      const order = acc.devices.map((_, i) => i).sort((a, b) => ((acc.devices[a] as string) < (acc.devices[b] as string) ? -1 : 1));
      let total = 0;
      for (const list of acc.lists) total += list.length / 2;
      const widen = total > MAX_PROVENANCE_ENTRIES;
      const out: FrameRange[] = [];
      for (const d of order) {
        const deviceId = acc.devices[d] as string;
        const list = acc.lists[d] as bigint[];
        if (widen) out.push({ deviceId, firstSeq: list[0] as bigint, lastSeq: list[list.length - 1] as bigint });
        else for (let i = 0; i < list.length; i += 2) out.push({ deviceId, firstSeq: list[i] as bigint, lastSeq: list[i + 1] as bigint });
        if (out.length >= MAX_PROVENANCE_ENTRIES) break;
      }
      return out;
    },
    // Sequence numbers are u64: strings keep them exact in JSON.
    save: (acc): JsonValue => acc.devices.map((device, d) => [device, (acc.lists[d] as bigint[]).map(String)]),
    load: (json) => {
      const acc = empty();
      for (const [device, list] of json as Array<[string, string[]]>) add(acc, device, list.map((x) => BigInt(x)));
      return acc;
    },
  };
}

function find(acc: Ranges, device: string): number {
  if (acc.index !== undefined) return acc.index.get(device) ?? -1;
  return acc.devices.indexOf(device);
}

function add(acc: Ranges, device: string, list: bigint[]): void {
  if (acc.devices.length === 0) {
    // Array literals of one: a push onto an empty array reserves room for 17 elements,
    // which over 100,000 windows of one device each is 60 MB of empty slots.
    acc.devices = [device];
    acc.lists = [list];
    return;
  }
  acc.devices.push(device);
  acc.lists.push(list);
  if (acc.index !== undefined) acc.index.set(device, acc.devices.length - 1);
  else if (acc.devices.length > INDEX_FROM) acc.index = new Map(acc.devices.map((d, i) => [d, i]));
}

function insert(acc: Ranges, device: string, first: bigint, last: bigint): void {
  const at = find(acc, device);
  if (at < 0) {
    add(acc, device, [first, last]);
    return;
  }
  let list = acc.lists[at] as bigint[];
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
  acc.lists[at] = list;
}
