import type { VigilErrorCode } from '../errors';
import type { AckedLog } from './acked-log';
import { SeqList, sortedUnique } from './seq-list';

/** Lost ranges and out-of-order examples kept per device: enough to find them, bounded. */
const MAX_EXAMPLES = 10;

/** A run of consecutive acknowledged frames (in the device's acked order) absent from the bus. */
export interface LostRange {
  readonly first: bigint;
  readonly last: bigint;
  readonly count: number;
}

/** A record stored after a record of a larger sequence number of its device in its topic-partition. */
export interface OutOfOrderRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly seq: bigint;
  /** The largest sequence number of the device stored before it in that topic-partition. */
  readonly after: bigint;
  /**
   * What the acked log says of the frame: acknowledged and `sent-once` (a failure), `resent`,
   * or `unacknowledged` (no line: how often it was sent is not known). Set by `report`.
   */
  readonly sent?: 'sent-once' | 'resent' | 'unacknowledged';
}

/** What an audit counts, per device and in total. */
export interface DeliveryCounts {
  /** Distinct frames devices were told are durable. */
  readonly acknowledged: number;
  /** Distinct frames with at least one record on the bus (any topic). */
  readonly stored: number;
  /** Acknowledged frames with no record on the bus. */
  readonly lost: number;
  /**
   * First copies of frames stored after a frame with a larger sequence number of the same
   * device in the same topic-partition (a later copy of an older frame is a duplicate, not this).
   */
  readonly outOfOrder: number;
  /** Distinct frames stored more than once in one topic (a redelivery admitted again). */
  readonly duplicates: number;
  /** Records beyond the first of their frame in their topic. */
  readonly duplicateRecords: number;
}

/** One device's line of the audit. */
export interface DeviceAudit extends DeliveryCounts {
  readonly deviceId: string;
  /** The first lost ranges, ascending (at most 10). */
  readonly lostRanges: readonly LostRange[];
  /** Lost ranges in all. */
  readonly lostRangeCount: number;
  /** The first out-of-order records (at most 10), in reading order. */
  readonly outOfOrderRecords: readonly OutOfOrderRecord[];
  /** Of `outOfOrder`, frames the acked log marks `resent` (sent again before a receipt covered them). */
  readonly outOfOrderResent: number;
  /** Of `outOfOrder`, frames the acked log has no line for (never acknowledged: how often they were sent is not known). */
  readonly outOfOrderUnacknowledged: number;
}

/** Sums over every device, and what the audit read. */
export interface AuditTotals extends DeliveryCounts {
  readonly devices: number;
  /**
   * Of `outOfOrder`, frames the devices resent (lost on the way, sent again before a receipt
   * covered them): they can only arrive after the device's later frames, so they are
   * reported as late, not failed; event-time pipelines place them by event time.
   */
  readonly outOfOrderResent: number;
  /**
   * Of `outOfOrder`, frames no device was told are durable (no line in the acked log). The
   * acked log is the only record of how often a frame was sent, and only for acknowledged
   * frames: one never acknowledged may have been resent any number of times (its receipts
   * lost, its resends refused as too old), so it is reported as late, not failed.
   */
  readonly outOfOrderUnacknowledged: number;
  /** Telemetry records opened. */
  readonly records: number;
  /** Records that could not be opened (a key not given, changed bytes, not a telemetry record), by code. */
  readonly unreadable: number;
  readonly unreadableByCode: Readonly<Partial<Record<VigilErrorCode, number>>>;
  /** Null values (tombstones) skipped. */
  readonly tombstones: number;
}

/**
 * The result of an audit: `ok` is false on any lost frame, or on an out-of-order frame known
 * to have been sent once (acknowledged, not marked resent).
 */
export interface AuditReport {
  readonly ok: boolean;
  /** One line per device that was acknowledged anything or has records on the bus, by device id. */
  readonly devices: readonly DeviceAudit[];
  readonly totals: AuditTotals;
  /** Topics read, with the end offsets the audit stopped at (records written later are not judged). */
  readonly topics: readonly { readonly topic: string; readonly partition: number; readonly end: string }[];
}

/** First occurrences of one device in one topic-partition. */
class PartitionSeqs {
  /** Sequence numbers that raised the maximum, ascending: the common case, appended. */
  readonly inOrder = new SeqList();
  /** First occurrences below the maximum (out of order): rare, kept aside so an insert costs no shifting. */
  readonly late = new Set<bigint>();

  /** 'first' (a new maximum), 'late' (a first occurrence below the maximum) or 'again' (seen before). */
  add(seq: bigint): 'first' | 'late' | 'again' {
    const max = this.inOrder.last();
    if (max === undefined || seq > max) {
      this.inOrder.push(seq);
      return 'first';
    }
    if (seq === max || this.late.has(seq) || this.inOrder.sortedHas(seq)) return 'again';
    this.late.add(seq);
    return 'late';
  }
}

class DeviceState {
  /** Per topic (frames of several kinds are in several topics); a topic's partitions share its seq space. */
  readonly topics = new Map<string, Map<number, PartitionSeqs>>();
  readonly duplicated = new SeqList(4);
  duplicateRecords = 0;
  outOfOrder = 0;
  readonly outOfOrderRecords: OutOfOrderRecord[] = [];
  /** Every out-of-order sequence number (few, normally none): to tell resent and unacknowledged frames among them. */
  readonly late = new SeqList(4);
}

/**
 * Compares what the bus holds with what devices were told is durable (docs/architecture.md §4):
 * `record` every opened telemetry record in reading order, then `report` against an acked
 * log. Per device and topic-partition it keeps the first occurrences as a sorted typed array
 * (plus a small set of late ones), so a million frames take tens of megabytes, not hundreds.
 *
 * @example
 * const audit = new DeliveryAudit();
 * audit.record('telemetry.power', 0, '0', 'ugv-7', 1n);
 * audit.report(acked).totals.lost; // acknowledged frames of which no record was read
 */
export class DeliveryAudit {
  private readonly devices = new Map<string, DeviceState>();
  private records = 0;
  private unreadable = 0;
  private tombstones = 0;
  private readonly byCode: Partial<Record<VigilErrorCode, number>> = {};

  /** One opened telemetry record, in the order its partition holds it. */
  record(topic: string, partition: number, offset: string, deviceId: string, seq: bigint): void {
    this.records++;
    let d = this.devices.get(deviceId);
    if (d === undefined) this.devices.set(deviceId, (d = new DeviceState()));
    let parts = d.topics.get(topic);
    if (parts === undefined) d.topics.set(topic, (parts = new Map()));
    let p = parts.get(partition);
    if (p === undefined) parts.set(partition, (p = new PartitionSeqs()));
    // A frame already stored in another partition of this topic (partitions were added) is a
    // duplicate too: look there before calling it a first occurrence.
    const elsewhere = parts.size > 1 && [...parts].some(([n, q]) => n !== partition && (q.late.has(seq) || q.inOrder.sortedHas(seq)));
    const max = p.inOrder.last();
    const seen = elsewhere ? 'again' : p.add(seq);
    if (seen === 'again') {
      d.duplicateRecords++;
      d.duplicated.push(seq);
    } else if (seen === 'late') {
      d.outOfOrder++;
      d.late.push(seq);
      if (d.outOfOrderRecords.length < MAX_EXAMPLES) d.outOfOrderRecords.push({ topic, partition, offset, seq, after: max as bigint });
    }
  }

  /** A record that could not be opened (counted by code, never judged). */
  unreadableRecord(code: VigilErrorCode): void {
    this.unreadable++;
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
  }

  tombstone(): void {
    this.tombstones++;
  }

  /** The table: per device acknowledged, stored, lost, out of order, duplicates; and totals. */
  report(acked: AckedLog, topics: AuditReport['topics'] = []): AuditReport {
    const ids = [...new Set([...acked.deviceIds(), ...this.devices.keys()])].sort();
    const rows = ids.map((id) => this.device(id, acked.sorted(id), acked.resent(id)));
    const sum = (k: keyof DeliveryCounts | 'outOfOrderResent' | 'outOfOrderUnacknowledged'): number => rows.reduce((n, r) => n + r[k], 0);
    const totals: AuditTotals = {
      devices: rows.length,
      acknowledged: sum('acknowledged'),
      stored: sum('stored'),
      lost: sum('lost'),
      outOfOrder: sum('outOfOrder'),
      outOfOrderResent: sum('outOfOrderResent'),
      outOfOrderUnacknowledged: sum('outOfOrderUnacknowledged'),
      duplicates: sum('duplicates'),
      duplicateRecords: sum('duplicateRecords'),
      records: this.records,
      unreadable: this.unreadable,
      unreadableByCode: { ...this.byCode },
      tombstones: this.tombstones,
    };
    // Only a frame known to have been sent once is held to its device's order: a resent one
    // is late by necessity, and of one never acknowledged the log does not know.
    return { ok: totals.lost === 0 && totals.outOfOrder === totals.outOfOrderResent + totals.outOfOrderUnacknowledged, devices: rows, totals, topics };
  }

  private device(deviceId: string, ackedSeqs: BigUint64Array, resent: BigUint64Array): DeviceAudit {
    const d = this.devices.get(deviceId);
    const parts: BigUint64Array[] = [];
    for (const byPartition of d?.topics.values() ?? []) {
      for (const p of byPartition.values()) {
        parts.push(p.inOrder.view());
        if (p.late.size > 0) parts.push(BigUint64Array.from(p.late));
      }
    }
    const stored = sortedUnique(...parts);
    // Walk both ascending lists: an acknowledged seq not in `stored` is lost; consecutive
    // lost entries of the acked list form one range.
    const lostRanges: LostRange[] = [];
    let lost = 0;
    let rangeCount = 0;
    let open: { first: bigint; last: bigint; count: number } | undefined;
    let j = 0;
    for (let i = 0; i < ackedSeqs.length; i++) {
      const s = ackedSeqs[i] as bigint;
      while (j < stored.length && (stored[j] as bigint) < s) j++;
      if (j < stored.length && stored[j] === s) {
        open = undefined;
        continue;
      }
      lost++;
      if (open === undefined) {
        rangeCount++;
        open = { first: s, last: s, count: 1 };
        if (lostRanges.length < MAX_EXAMPLES) lostRanges.push(open);
      } else {
        open.last = s;
        open.count++;
      }
    }
    return {
      deviceId,
      acknowledged: ackedSeqs.length,
      stored: stored.length,
      lost,
      outOfOrder: d?.outOfOrder ?? 0,
      duplicates: d === undefined ? 0 : sortedUnique(d.duplicated.view()).length,
      duplicateRecords: d?.duplicateRecords ?? 0,
      lostRanges: lostRanges.map((r) => ({ ...r })),
      lostRangeCount: rangeCount,
      outOfOrderRecords: (d?.outOfOrderRecords ?? []).map((r) => ({ ...r, sent: has(resent, r.seq) ? 'resent' : has(ackedSeqs, r.seq) ? 'sent-once' : 'unacknowledged' })),
      outOfOrderResent: d === undefined || resent.length === 0 ? 0 : countIn(d.late.view(), resent),
      outOfOrderUnacknowledged: d === undefined ? 0 : d.late.length - countIn(d.late.view(), ackedSeqs),
    };
  }
}

/** How many entries of `values` are in `sorted` (ascending). */
function countIn(values: BigUint64Array, sorted: BigUint64Array): number {
  let n = 0;
  for (const v of values) if (has(sorted, v)) n++;
  return n;
}

/** Whether `v` is in `sorted` (ascending). */
function has(sorted: BigUint64Array, v: bigint): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const x = sorted[mid] as bigint;
    if (x === v) return true;
    if (x < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
