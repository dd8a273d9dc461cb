import { MAX_PROVENANCE_ENTRIES, type FrameRange } from '../codec';
import type { Aggregate, JsonValue } from '../stream';

/**
 * A sequence number: a number while it is exact with room for +1 (so a Smi, no heap
 * allocation, for any device that has not sent 2^31 frames), a bigint beyond. One
 * device's list holds one kind: a list meeting a bigint is converted whole.
 */
type Seq = number | bigint;
const EXACT = BigInt(Number.MAX_SAFE_INTEGER - 1);
const toSeq = (b: bigint): Seq => (b <= EXACT ? Number(b) : b);
const succ = (x: Seq): Seq => (typeof x === 'number' ? x + 1 : x + 1n);

/**
 * Per device: inclusive sequence ranges, flat and sorted: [first0, last0, first1, last1, …].
 * The first device is inline (a per-device window holds one: no arrays of devices, no
 * Map), and so is its range while it has one (its frames arrived in order: no array);
 * further devices in parallel arrays, with an index once a window holds more than a few.
 * Over 100,000 open windows the layout is a good part of what a window costs.
 */
interface Ranges {
  device: string | undefined;
  /** The first device's range while `list` is null. */
  first: Seq;
  last: Seq;
  /** The first device's ranges once it has more than one (then `first`/`last` are unused). */
  list: Seq[] | null;
  more: More | undefined;
}

interface More {
  devices: string[];
  lists: Seq[][];
  index: Map<string, number> | undefined;
}

const INDEX_FROM = 8;

const empty = (): Ranges => ({ device: undefined, first: 0, last: 0, list: null, more: undefined });

/** The first device's ranges as a list (a new one while they are inline). */
const firstList = (acc: Ranges): Seq[] => acc.list ?? [acc.first, acc.last];

function forEachDevice(acc: Ranges, fn: (device: string, list: Seq[]) => void): void {
  if (acc.device === undefined) return;
  fn(acc.device, firstList(acc));
  const more = acc.more;
  if (more !== undefined) for (let i = 0; i < more.devices.length; i++) fn(more.devices[i] as string, more.lists[i] as Seq[]);
}

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
      const seq = toSeq(r.seq);
      insert(acc, r.deviceId, seq, seq);
      return acc;
    },
    merge: (into, other) => {
      forEachDevice(other, (device, list) => {
        for (let i = 0; i < list.length; i += 2) insert(into, device, list[i] as Seq, list[i + 1] as Seq);
      });
      return into;
    },
    result: (acc) => {
      const all: Array<[string, Seq[]]> = [];
      let total = 0;
      forEachDevice(acc, (device, list) => {
        all.push([device, list]);
        total += list.length / 2;
      });
      all.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const widen = total > MAX_PROVENANCE_ENTRIES;
      const out: FrameRange[] = [];
      for (const [deviceId, list] of all) {
        if (widen) out.push({ deviceId, firstSeq: BigInt(list[0] as Seq), lastSeq: BigInt(list[list.length - 1] as Seq) });
        else for (let i = 0; i < list.length; i += 2) out.push({ deviceId, firstSeq: BigInt(list[i] as Seq), lastSeq: BigInt(list[i + 1] as Seq) });
        if (out.length >= MAX_PROVENANCE_ENTRIES) break;
      }
      return out;
    },
    // Sequence numbers are u64: strings keep them exact in JSON.
    save: (acc): JsonValue => {
      const out: JsonValue[] = [];
      forEachDevice(acc, (device, list) => out.push([device, list.map(String)]));
      return out;
    },
    load: (json) => {
      const acc = empty();
      for (const [device, list] of json as Array<[string, string[]]>) {
        const seqs = list.map((x) => BigInt(x));
        addDevice(acc, device, seqs.every((b) => b <= EXACT) ? seqs.map(Number) : seqs);
      }
      return acc;
    },
  };
}

/** Position of a device: −1 = the inline one, ≥ 0 = in `more`, −2 = absent. */
function find(acc: Ranges, device: string): number {
  if (acc.device === device) return -1;
  const more = acc.more;
  if (more === undefined) return -2;
  if (more.index !== undefined) return more.index.get(device) ?? -2;
  const i = more.devices.indexOf(device);
  return i < 0 ? -2 : i;
}

function addDevice(acc: Ranges, device: string, list: Seq[]): void {
  if (acc.device === undefined) {
    acc.device = device;
    setList(acc, -1, list);
    return;
  }
  const more = acc.more;
  if (more === undefined) {
    acc.more = { devices: [device], lists: [list], index: undefined };
    return;
  }
  more.devices.push(device);
  more.lists.push(list);
  if (more.index !== undefined) more.index.set(device, more.devices.length - 1);
  else if (more.devices.length > INDEX_FROM) more.index = new Map(more.devices.map((d, i) => [d, i]));
}

function setList(acc: Ranges, at: number, list: Seq[]): void {
  if (at !== -1) (acc.more as More).lists[at] = list;
  else if (list.length === 2) {
    acc.first = list[0] as Seq;
    acc.last = list[1] as Seq;
    acc.list = null;
  } else acc.list = list;
}

function insert(acc: Ranges, device: string, first: Seq, last: Seq): void {
  const at = find(acc, device);
  if (at === -2) {
    // An array literal: a push onto an empty array reserves room for 17 elements.
    addDevice(acc, device, [first, last]);
    return;
  }
  if (at === -1 && acc.list === null && typeof acc.first === typeof first && first > acc.last) {
    // The first device's one range, in order (the common case): extend it inline or go to a list.
    if (first === succ(acc.last)) acc.last = last;
    else acc.list = [acc.first, acc.last, first, last];
    return;
  }
  let list = at === -1 ? firstList(acc) : ((acc.more as More).lists[at] as Seq[]);
  // One kind per list: a bigint (a sequence past 2^53) converts the whole list.
  if (typeof list[0] !== typeof first) {
    if (typeof first === 'bigint') {
      list = list.map((x) => BigInt(x));
      setList(acc, at, list);
    } else {
      first = BigInt(first);
      last = BigInt(last);
    }
  }
  const n = list.length;
  const tail = list[n - 1] as Seq;
  // In-order arrival (the common case): extend or append at the end.
  if (first > tail) {
    if (first === succ(tail)) list[n - 1] = last;
    else list.push(first, last);
    if (at === -1 && acc.list !== list) setList(acc, -1, list); // the inline range, as a list for this change
    return;
  }
  // Out of order: rebuild with the new range merged where it overlaps or touches.
  const out: Seq[] = [];
  let f = first;
  let l = last;
  let placed = false;
  for (let i = 0; i < n; i += 2) {
    const a = list[i] as Seq;
    const b = list[i + 1] as Seq;
    if (succ(b) < f) out.push(a, b);
    else if (succ(l) < a) {
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
  setList(acc, at, out);
}
