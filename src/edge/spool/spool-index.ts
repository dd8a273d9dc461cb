import { VigilError } from '../../errors';
import { corruptChannel, expiredChannel, shedChannel } from './drop-events';
import { FLASH, IMMEDIATE, ROUTINE, priorityOfRank, priorityRank, type PriorityRank } from './priority';
import { spoolEntrySize } from './record-codec';
import type { SpoolDropEvent, SpoolDropReason, SpoolEntry, SpoolPriority, SpoolStats } from './spool';

/*
 * The in-memory index both spools share, so that memory and disk cannot drift apart in
 * semantics: ordering, priority, budget, shedding, expiry, batches. It does no I/O; the
 * disk spool hears about every entry that leaves through `RemovalSink` and persists it.
 *
 * Structures: one FIFO per priority class and one per device, both in sequence order, holding
 * the same item objects. Removal marks an item DEAD (lazy deletion) and queues drop dead
 * heads, so removing from the middle (shedding, expiry, acking flash before routine) is O(1).
 */

export const PENDING = 0;
export const IN_FLIGHT = 1;
export const DEAD = 2;

/** Why an item left the index. */
export type RemovalReason = 'acked' | SpoolDropReason;

/** One spooled entry in the index. `H` is where the owner keeps it (a segment for the disk spool). */
export class SpoolItem<H> {
  state = PENDING;
  /** Batch id while in flight. */
  batch = 0;
  /** Owner's location of the record (disk: its segment) and offset within it. */
  home: H | null = null;
  offset = 0;

  constructor(
    readonly seq: number,
    readonly rank: PriorityRank,
    /** Budget bytes (`spoolEntrySize`). */
    readonly size: number,
    readonly enqueuedAt: number,
    /** `Infinity` when the entry does not expire. */
    readonly expiresAt: number,
    readonly device: DeviceQueue<H>,
    /** The entry itself while held in memory (always for the memory spool; until written for the disk spool). */
    public entry: SpoolEntry | undefined,
  ) {}
}

/** A FIFO of items in sequence order with lazy deletion at the head. */
class ItemQueue<H> {
  items: Array<SpoolItem<H>> = [];
  head = 0;

  /** Skips dead items at the head; compacts the array now and then (amortised O(1)). */
  dropDeadHead(): void {
    const items = this.items;
    let h = this.head;
    while (h < items.length && (items[h] as SpoolItem<H>).state === DEAD) h++;
    this.head = h;
    if (h === items.length) {
      this.items = [];
      this.head = 0;
      this.compacted(h);
    } else if (h > 1024 && h * 2 > items.length) {
      this.items = items.slice(h);
      this.head = 0;
      this.compacted(h);
    }
  }

  /** Called after the first `shift` positions were dropped. */
  protected compacted(_shift: number): void {}
}

/** The items of one device, in order: an in-flight prefix `[head, next)` then waiting ones. */
export class DeviceQueue<H> extends ItemQueue<H> {
  /** Index of the first item not in flight. */
  next = 0;
  /** The batch holding this device's in-flight prefix, 0 when none. */
  inFlightBatch = 0;
  /** Items not dead. */
  live = 0;

  constructor(readonly id: string) {
    super();
  }

  protected override compacted(shift: number): void {
    this.next = Math.max(0, this.next - shift);
  }
}

/** Hears about every item that leaves the index (the disk spool writes remove records). */
export interface RemovalSink<H> {
  removed(item: SpoolItem<H>, reason: RemovalReason): void;
}

interface MutableCounters {
  appended: number;
  acked: number;
  nacked: number;
  shed: [number, number, number];
  expired: [number, number, number];
  corrupt: number;
}

export interface SpoolIndexOptions<H> {
  readonly budgetBytes: number;
  readonly shed: boolean;
  readonly now: () => number;
  readonly onDrop: ((event: SpoolDropEvent) => void) | undefined;
  readonly sink: RemovalSink<H> | null;
}

const CLASS_RANKS: readonly PriorityRank[] = [FLASH, IMMEDIATE, ROUTINE];

export class SpoolIndex<H> {
  private readonly classes: [ItemQueue<H>, ItemQueue<H>, ItemQueue<H>] = [new ItemQueue(), new ItemQueue(), new ItemQueue()];
  private readonly devices = new Map<string, DeviceQueue<H>>();
  private readonly batches = new Map<number, Array<SpoolItem<H>>>();
  private readonly classEntries: [number, number, number] = [0, 0, 0];
  private readonly classBytes: [number, number, number] = [0, 0, 0];
  private readonly counters: MutableCounters = { appended: 0, acked: 0, nacked: 0, shed: [0, 0, 0], expired: [0, 0, 0], corrupt: 0 };
  /** Reused between appends so that validation allocates nothing per entry. */
  private sizes: number[] = [];
  private entries = 0;
  private bytes = 0;
  private inFlight = 0;
  private nextBatch = 1;
  /** Next sequence number to assign. */
  nextSeq = 0;

  constructor(private readonly options: SpoolIndexOptions<H>) {}

  /**
   * Validates `entries`, sheds what must go to fit them (or throws `VIGIL_E_SPOOL_FULL` having
   * changed nothing), then adds them with consecutive sequence numbers. Returns the new items
   * in order; their `entry` is set.
   */
  admit(entries: readonly SpoolEntry[]): Array<SpoolItem<H>> {
    const n = entries.length;
    const sizes = this.sizes;
    const budget = this.options.budgetBytes;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const size = spoolEntrySize(entries[i] as SpoolEntry);
      if (size > budget) {
        throw new VigilError('VIGIL_E_SPOOL_ENTRY_INVALID', `spool entry of ${size} bytes can never fit the ${budget}-byte budget`, {
          details: { field: 'value', bytes: size, budgetBytes: budget },
        });
      }
      sizes[i] = size;
      total += size;
    }
    if (total > budget - this.bytes) this.shedFor(entries, n, total);
    const out = new Array<SpoolItem<H>>(n);
    for (let i = 0; i < n; i++) {
      const entry = entries[i] as SpoolEntry;
      out[i] = this.insert(this.nextSeq++, priorityRank(entry.priority) as PriorityRank, sizes[i] as number, entry.enqueuedAt, entry.expiresAt ?? Infinity, entry.deviceId, entry);
    }
    this.counters.appended += n;
    return out;
  }

  /** Adds an entry found on disk at recovery (no budget check; call `enforceBudget` after). */
  restore(seq: number, rank: PriorityRank, size: number, enqueuedAt: number, expiresAt: number, deviceId: string, home: H, offset: number): SpoolItem<H> {
    const item = this.insert(seq, rank, size, enqueuedAt, expiresAt, deviceId, undefined);
    item.home = home;
    item.offset = offset;
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    return item;
  }

  private insert(seq: number, rank: PriorityRank, size: number, enqueuedAt: number, expiresAt: number, deviceId: string, entry: SpoolEntry | undefined): SpoolItem<H> {
    let device = this.devices.get(deviceId);
    if (device === undefined) {
      device = new DeviceQueue<H>(deviceId);
      this.devices.set(deviceId, device);
    }
    const item = new SpoolItem<H>(seq, rank, size, enqueuedAt, expiresAt, device, entry);
    device.items.push(item);
    device.live++;
    this.classes[rank].items.push(item);
    this.classEntries[rank]++;
    this.classBytes[rank] += size;
    this.entries++;
    this.bytes += size;
    return item;
  }

  /**
   * Plans the victims first (routine oldest first, then immediate oldest first, each new entry
   * displacing only its own class or lower) so that a refused append changes nothing.
   */
  private shedFor(entries: readonly SpoolEntry[], n: number, total: number): void {
    const routine = this.classes[ROUTINE];
    const immediate = this.classes[IMMEDIATE];
    let r = routine.head;
    let m = immediate.head;
    let free = this.options.budgetBytes - this.bytes;
    const victims: Array<SpoolItem<H>> = [];
    for (let i = 0; i < n; i++) {
      const size = this.sizes[i] as number;
      const rank = priorityRank((entries[i] as SpoolEntry).priority);
      while (free < size) {
        let victim: SpoolItem<H> | undefined;
        while (r < routine.items.length && (routine.items[r] as SpoolItem<H>).state !== PENDING) r++;
        if (!this.options.shed) victim = undefined;
        else if (r < routine.items.length) victim = routine.items[r++];
        else if (rank <= IMMEDIATE) {
          while (m < immediate.items.length && (immediate.items[m] as SpoolItem<H>).state !== PENDING) m++;
          if (m < immediate.items.length) victim = immediate.items[m++];
        }
        if (victim === undefined) {
          throw new VigilError(
            'VIGIL_E_SPOOL_FULL',
            `spool full: ${total} bytes to append, ${this.options.budgetBytes - this.bytes} free of ${this.options.budgetBytes} and ${this.options.shed ? `not enough a ${String((entries[i] as SpoolEntry).priority)} entry may shed` : 'shedding is off'}`,
            { details: { bytes: total, freeBytes: this.options.budgetBytes - this.bytes, budgetBytes: this.options.budgetBytes } },
          );
        }
        victims.push(victim);
        free += victim.size;
      }
      free -= size;
    }
    for (const v of victims) this.kill(v, 'shed');
  }

  /** Sheds (routine, then immediate) until the budget holds; used after recovery with a smaller budget. Returns entries shed. */
  enforceBudget(): number {
    let shed = 0;
    for (const rank of [ROUTINE, IMMEDIATE] as const) {
      const q = this.classes[rank];
      for (let i = q.head; i < q.items.length && this.bytes > this.options.budgetBytes; i++) {
        const item = q.items[i] as SpoolItem<H>;
        if (item.state !== PENDING) continue;
        this.kill(item, 'shed');
        shed++;
      }
    }
    return shed;
  }

  /**
   * Takes the next batch: flash first, then immediate, then routine; in each class oldest
   * first; an entry comes with its device's older waiting entries just before it. Devices with
   * a batch in flight are skipped. Returns null when nothing can be taken.
   */
  take(maxEntries: number, maxBytes: number): { id: number; items: Array<SpoolItem<H>>; bytes: number } | null {
    const id = this.nextBatch;
    const now = this.options.now();
    const out: Array<SpoolItem<H>> = [];
    let bytes = 0;
    let full = false;
    for (let c = 0; c < 3 && !full; c++) {
      const q = this.classes[CLASS_RANKS[c] as PriorityRank];
      q.dropDeadHead();
      for (let i = q.head; i < q.items.length; i++) {
        const item = q.items[i] as SpoolItem<H>;
        if (item.state !== PENDING) continue;
        const device = item.device;
        if (device.inFlightBatch !== 0 && device.inFlightBatch !== id) continue;
        if (item.expiresAt <= now) {
          this.kill(item, 'expired');
          continue;
        }
        // Walk the device's waiting prefix up to and including `item`; any prefix keeps order.
        const d = device.items;
        while (device.next < d.length) {
          const x = d[device.next] as SpoolItem<H>;
          if (x.state === DEAD) {
            device.next++;
            continue;
          }
          if (x.expiresAt <= now) {
            this.kill(x, 'expired');
            device.next++;
            if (x === item) break;
            continue;
          }
          if (out.length >= maxEntries || (out.length > 0 && bytes + x.size > maxBytes)) {
            full = true;
            break;
          }
          x.state = IN_FLIGHT;
          x.batch = id;
          device.inFlightBatch = id;
          out.push(x);
          bytes += x.size;
          device.next++;
          if (x === item) break;
        }
        if (full) break;
      }
    }
    if (out.length === 0) return null;
    this.nextBatch++;
    this.inFlight += out.length;
    this.batches.set(id, out);
    return { id, items: out, bytes };
  }

  /** The items of an outstanding batch, or throws `VIGIL_E_SPOOL_BATCH`. */
  private settle(batchId: number, verb: string): Array<SpoolItem<H>> {
    const items = this.batches.get(batchId);
    if (items === undefined) {
      throw new VigilError('VIGIL_E_SPOOL_BATCH', `cannot ${verb} spool batch ${batchId}: it is not in flight (already settled, or from another spool)`, {
        details: { batch: batchId },
      });
    }
    this.batches.delete(batchId);
    return items;
  }

  ack(batchId: number): void {
    const items = this.settle(batchId, 'ack');
    for (const item of items) {
      item.device.inFlightBatch = 0;
      if (item.state !== IN_FLIGHT) continue; // dropped as corrupt while in flight
      this.inFlight--;
      this.counters.acked++;
      this.kill(item, 'acked');
    }
    for (const item of items) {
      const device = item.device;
      device.dropDeadHead();
      if (device.next < device.head) device.next = device.head;
    }
  }

  nack(batchId: number): void {
    const items = this.settle(batchId, 'nack');
    for (const item of items) {
      const device = item.device;
      device.inFlightBatch = 0;
      device.next = device.head;
      if (item.state !== IN_FLIGHT) continue;
      item.state = PENDING;
      item.batch = 0;
      this.inFlight--;
      this.counters.nacked++;
    }
  }

  /** Removes an in-flight item whose record turned out corrupt on read-back. */
  dropCorrupt(item: SpoolItem<H>): void {
    if (item.state === IN_FLIGHT) this.inFlight--;
    this.kill(item, 'corrupt');
  }

  /** Removes a live item; every way out of the index goes through here. */
  private kill(item: SpoolItem<H>, reason: RemovalReason): void {
    item.state = DEAD;
    const rank = item.rank;
    this.classEntries[rank]--;
    this.classBytes[rank] -= item.size;
    this.entries--;
    this.bytes -= item.size;
    const device = item.device;
    device.live--;
    if (device.live === 0 && this.devices.get(device.id) === device) this.devices.delete(device.id);
    item.entry = undefined;
    this.options.sink?.removed(item, reason);
    if (reason === 'acked') return;
    if (reason === 'shed') this.counters.shed[rank]++;
    else if (reason === 'expired') this.counters.expired[rank]++;
    else this.counters.corrupt++;
    const ch = reason === 'shed' ? shedChannel : reason === 'expired' ? expiredChannel : corruptChannel;
    const onDrop = this.options.onDrop;
    if (onDrop === undefined && !ch.hasSubscribers) return;
    const event: SpoolDropEvent = { reason, deviceId: device.id, priority: priorityOfRank(rank), bytes: item.size, enqueuedAt: item.enqueuedAt, at: this.options.now() };
    if (ch.hasSubscribers) ch.publish(event);
    onDrop?.(event);
  }

  stats(): SpoolStats {
    const now = this.options.now();
    let oldest = Infinity;
    for (const q of this.classes) {
      q.dropDeadHead();
      const head = q.items[q.head];
      if (head !== undefined && head.enqueuedAt < oldest) oldest = head.enqueuedAt;
    }
    const c = this.counters;
    const perClass = (values: readonly number[]): Record<SpoolPriority, number> => ({
      flash: values[FLASH] as number,
      immediate: values[IMMEDIATE] as number,
      routine: values[ROUTINE] as number,
    });
    return {
      entries: this.entries,
      bytes: this.bytes,
      budgetBytes: this.options.budgetBytes,
      inFlightEntries: this.inFlight,
      byPriority: {
        flash: { entries: this.classEntries[FLASH], bytes: this.classBytes[FLASH] },
        immediate: { entries: this.classEntries[IMMEDIATE], bytes: this.classBytes[IMMEDIATE] },
        routine: { entries: this.classEntries[ROUTINE], bytes: this.classBytes[ROUTINE] },
      },
      oldestAgeMs: oldest === Infinity ? 0 : Math.max(0, now - oldest),
      counters: { appended: c.appended, acked: c.acked, nacked: c.nacked, shed: perClass(c.shed), expired: perClass(c.expired), corrupt: c.corrupt },
    };
  }
}
