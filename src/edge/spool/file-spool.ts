import { mkdir, open, readFile, readdir, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { VigilError } from '../../errors';
import { recoveredChannel } from './drop-events';
import { resolveFileSpoolOptions, type FileSpoolOptions, type ResolvedFileSpoolOptions } from './options';
import { peekLimits } from './peek-limits';
import type { PriorityRank } from './priority';
import {
  RECORD_ENTRY,
  RECORD_HEADER_BYTES,
  RECORD_REMOVE,
  RECORD_SEGMENT_START,
  REMOVE_ACKED,
  REMOVE_CORRUPT,
  REMOVE_EXPIRED,
  REMOVE_SHED,
  checkRecord,
  decodeEntry,
  readEntryIndex,
  readRemove,
  readSegmentStart,
  type EntryIndexFields,
} from './record-codec';
import { SEGMENT_FILE, Segment, SegmentLog, syncDirectory } from './segment-log';
import { scanSegment, type ScanDamage } from './segment-scan';
import { SpoolIndex, type RemovalReason, type RemovalSink, type SpoolItem } from './spool-index';
import type { Spool, SpoolBatch, SpoolEntry, SpoolPeekLimits, SpoolStats } from './spool';

/** What `FileSpool.open` found on disk. Also published on `vigil:spool:recovered`. */
export interface SpoolRecoveryReport {
  /** Segment files scanned. */
  readonly segments: number;
  /** Valid records read. */
  readonly records: number;
  /** Entries restored: appended and not yet acked, shed or expired. */
  readonly entries: number;
  /** Bytes cut off torn segment tails (an interrupted last write: its records were never acknowledged). */
  readonly tornBytes: number;
  /** Segments whose tail was torn (normally 0 or 1: the one being written at the crash). */
  readonly tornSegments: number;
  /** Damaged regions inside segments, skipped; entries in them are lost. 0 unless the disk corrupted data. */
  readonly corruptRegions: number;
  readonly corruptBytes: number;
  /** Records with a good checksum but an undecodable payload (skipped). */
  readonly invalidRecords: number;
  /** Entries shed at once because the restored entries exceed the (possibly lowered) budget. */
  readonly shedOverBudget: number;
  /** Segment files deleted at open because none of their entries was live. */
  readonly deletedSegments: number;
  readonly durationMs: number;
}

const REMOVE_CODES: Readonly<Record<RemovalReason, number>> = { acked: REMOVE_ACKED, shed: REMOVE_SHED, expired: REMOVE_EXPIRED, corrupt: REMOVE_CORRUPT };
/** Reads for one batch are merged across gaps up to this size (one read beats many small ones). */
const READ_GAP_BYTES = 64 * 1024;
const READ_RUN_BYTES = 4 * 1024 * 1024;

/** An entry record found at recovery (a class: 100k of them must be cheap to make and to collect). */
class Recovered {
  removed = false;
  constructor(
    readonly seq: number,
    readonly rank: PriorityRank,
    readonly size: number,
    readonly enqueuedAt: number,
    readonly expiresAt: number,
    readonly deviceId: string,
    readonly segment: Segment,
    readonly offset: number,
  ) {}
}

/** Index of the entry with sequence number `seq` in `found` (ascending by seq), or -1. */
function findSeq(found: readonly Recovered[], seq: number): number {
  let lo = 0;
  let hi = found.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = (found[mid] as Recovered).seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * A spool on disk: append-only segment files of checksummed records (`record-codec.ts`).
 *
 * Durability: `append` resolves per the fsync policy (`FsyncPolicy`); with `'always'` an
 * entry whose append resolved survives a process crash and a power loss. Concurrent appends
 * share one write and one fdatasync (group commit).
 *
 * Removal (ack, shed, expiry) appends a remove record naming the entries' sequence numbers;
 * files are never rewritten. A segment file is deleted when it and all older ones hold no live
 * entry. Remove records are not synced on their own: after a power loss an acked entry may come
 * back and be delivered again (at-least-once), never the other way round.
 *
 * Recovery (`open`) reads every segment in order, checks every record, cuts off a torn tail,
 * skips and counts damaged regions (see `scanSegment`), and restores exactly the entries not
 * removed, in their order. Appends then go to a new segment.
 *
 * Memory holds an index entry per spooled entry (tens of bytes plus the device id); payloads
 * are read back from disk when drained, so a large budget does not need as much RAM.
 *
 * One directory must be used by one open spool at a time.
 */
export class FileSpool implements Spool, RemovalSink<Segment> {
  private readonly index: SpoolIndex<Segment>;
  private log!: SegmentLog;
  private readonly issued = new WeakSet<SpoolBatch>();
  /** Removed sequence numbers waiting for their remove record, per reason code (reused arrays). */
  private readonly removals: number[][] = [[], [], [], []];
  private readonly removalCounts = [0, 0, 0, 0];
  private reclaimPending = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** What `open` found on disk. */
  recovery!: SpoolRecoveryReport;

  private constructor(private readonly options: ResolvedFileSpoolOptions) {
    this.index = new SpoolIndex<Segment>({ budgetBytes: options.budgetBytes, shed: options.shed, now: options.now, onDrop: options.onDrop, sink: this });
  }

  /**
   * Opens (creating it if needed) the spool in `options.dir` and recovers what it holds.
   * Throws `VIGIL_E_SPOOL_OPTIONS` for bad options, `VIGIL_E_SPOOL_IO` when the directory
   * cannot be read or written.
   */
  static async open(options: FileSpoolOptions): Promise<FileSpool> {
    const spool = new FileSpool(resolveFileSpoolOptions(options));
    try {
      await spool.recover();
    } catch (err) {
      if (err instanceof VigilError) throw err;
      throw new VigilError('VIGIL_E_SPOOL_IO', `spool ${options.dir}: open failed: ${(err as Error).message}`, { cause: err, details: { dir: options.dir } });
    }
    return spool;
  }

  private async recover(): Promise<void> {
    const started = process.hrtime.bigint();
    const o = this.options;
    await mkdir(o.dir, { recursive: true });
    const names = (await readdir(o.dir)).filter((n) => SEGMENT_FILE.test(n)).sort();
    const damage: ScanDamage = { tornBytes: 0, corruptRegions: 0, corruptBytes: 0 };
    // Entries in scan order, which is sequence order (remove records find them by binary search).
    const found: Recovered[] = [];
    let ordered = true;
    const segments: Segment[] = [];
    const fields: EntryIndexFields = { seq: 0, rank: 0, enqueuedAt: 0, expiresAt: 0, deviceId: '' };
    let records = 0;
    let invalid = 0;
    let tornSegments = 0;
    let nextSeq = 0;
    let lastId = 0;
    const forget = (seq: number): void => {
      const at = ordered ? findSeq(found, seq) : found.findIndex((r) => r.seq === seq && !r.removed);
      if (at >= 0) (found[at] as Recovered).removed = true;
      if (seq >= nextSeq) nextSeq = seq + 1;
    };
    for (const name of names) {
      const id = Number((SEGMENT_FILE.exec(name) as RegExpExecArray)[1]);
      lastId = id;
      const path = join(o.dir, name);
      const buf = await readFile(path);
      const segment = new Segment(id, path, 0);
      const tornBefore = damage.tornBytes;
      const validEnd = scanSegment(
        buf,
        (type, p, length, offset) => {
          records++;
          if (type === RECORD_ENTRY && readEntryIndex(buf, p, length, fields)) {
            if (fields.seq < nextSeq) ordered = false; // never written so; tolerated, slowly
            found.push(new Recovered(fields.seq, fields.rank, RECORD_HEADER_BYTES + length, fields.enqueuedAt, fields.expiresAt, fields.deviceId, segment, offset));
            if (fields.seq >= nextSeq) nextSeq = fields.seq + 1;
          } else if (type === RECORD_REMOVE && readRemove(buf, p, length, forget)) {
            // entries removed
          } else if (type === RECORD_SEGMENT_START && readSegmentStart(buf, p, length) >= 0) {
            nextSeq = Math.max(nextSeq, readSegmentStart(buf, p, length));
          } else invalid++;
        },
        damage,
      );
      segment.size = validEnd;
      if (damage.tornBytes > tornBefore) {
        tornSegments++;
        await truncate(path, validEnd); // so the torn bytes can never be mistaken for records later
      }
      segments.push(segment);
    }
    if (!ordered) found.sort((a, b) => a.seq - b.seq);
    let restored = 0;
    for (let i = 0; i < found.length; i++) {
      const r = found[i] as Recovered;
      if (r.removed) continue;
      this.index.restore(r.seq, r.rank, r.size, r.enqueuedAt, r.expiresAt, r.deviceId, r.segment, r.offset);
      r.segment.live++;
      restored++;
    }
    found.length = 0;
    if (nextSeq > this.index.nextSeq) this.index.nextSeq = nextSeq;
    let deletedSegments = 0;
    while (segments.length > 0 && (segments[0] as Segment).live === 0) {
      await unlink((segments.shift() as Segment).path);
      deletedSegments++;
    }
    if (deletedSegments > 0 && o.fsync !== 'never') await syncDirectory(o.dir);
    this.log = new SegmentLog({ dir: o.dir, fsync: o.fsync, fsyncIntervalMs: o.fsyncIntervalMs, segmentBytes: o.segmentBytes, residentBytes: o.residentBytes, nextSeq: () => this.index.nextSeq }, segments, lastId + 1);
    await this.log.start();
    const shedOverBudget = this.index.enforceBudget();
    this.flushRemovals();
    this.recovery = Object.freeze({
      segments: names.length,
      records,
      entries: restored,
      tornBytes: damage.tornBytes,
      tornSegments,
      corruptRegions: damage.corruptRegions,
      corruptBytes: damage.corruptBytes,
      invalidRecords: invalid,
      shedOverBudget,
      deletedSegments,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
    });
    if (recoveredChannel.hasSubscribers) recoveredChannel.publish({ dir: o.dir, ...this.recovery });
  }

  private check(op: string): void {
    if (this.closed) throw new VigilError('VIGIL_E_SPOOL_CLOSED', `spool ${op}: the spool is closed`, { details: { dir: this.options.dir } });
    const failed = this.log.failed;
    if (failed !== null) throw failed;
  }

  /** @internal RemovalSink: an entry left the index; note it for the next remove record. */
  removed(item: SpoolItem<Segment>, reason: RemovalReason): void {
    const seg = item.home;
    if (seg !== null && --seg.live === 0) this.reclaimPending = true;
    const code = REMOVE_CODES[reason];
    (this.removals[code] as number[])[(this.removalCounts[code] as number)++] = item.seq;
  }

  private flushRemovals(): void {
    for (let code = 0; code < 4; code++) {
      const count = this.removalCounts[code] as number;
      if (count === 0) continue;
      this.log.appendRemove(code, this.removals[code] as number[], count);
      this.removalCounts[code] = 0;
    }
    if (this.reclaimPending) {
      this.reclaimPending = false;
      this.log.reclaimSoon();
    }
  }

  /** See `Spool.append`; resolves per the fsync policy. */
  append(entries: readonly SpoolEntry[]): Promise<void> {
    let items: Array<SpoolItem<Segment>>;
    try {
      this.check('append');
      items = this.index.admit(entries);
    } catch (err) {
      return Promise.reject(err);
    }
    let bytes = 0;
    for (let i = 0; i < items.length; i++) bytes += (items[i] as SpoolItem<Segment>).size;
    const done = this.log.appendEntries(items, bytes);
    this.flushRemovals();
    return done;
  }

  async peek(limits?: SpoolPeekLimits): Promise<SpoolBatch | null> {
    this.check('peek');
    const [maxEntries, maxBytes] = peekLimits(limits);
    const taken = this.index.take(maxEntries, maxBytes);
    this.flushRemovals(); // expired on the way
    if (taken === null) return null;
    const items = taken.items;
    const entries = new Array<SpoolEntry | null>(items.length);
    let toRead: number[] | null = null;
    for (let i = 0; i < items.length; i++) {
      const e = (items[i] as SpoolItem<Segment>).entry;
      if (e !== undefined) entries[i] = e;
      else (toRead ??= []).push(i);
    }
    let bytes = taken.bytes;
    if (toRead !== null) {
      try {
        await this.readBack(items, toRead, entries);
      } catch (err) {
        this.index.nack(taken.id);
        if (this.closed) throw new VigilError('VIGIL_E_SPOOL_CLOSED', 'spool peek: the spool was closed during the read', { details: { dir: this.options.dir } });
        throw new VigilError('VIGIL_E_SPOOL_IO', `spool ${this.options.dir}: read failed: ${(err as Error).message}`, { cause: err, details: { dir: this.options.dir } });
      }
      for (let i = 0; i < items.length; i++) {
        if (entries[i] !== null) continue;
        const item = items[i] as SpoolItem<Segment>;
        bytes -= item.size;
        this.index.dropCorrupt(item);
      }
      this.flushRemovals();
    }
    const out = toRead === null ? (entries as SpoolEntry[]) : (entries.filter((e) => e !== null) as SpoolEntry[]);
    if (out.length === 0) {
      this.index.ack(taken.id); // every entry was corrupt and is gone; nothing to hand out
      return this.peek(limits);
    }
    const batch: SpoolBatch = { id: taken.id, entries: out, bytes };
    this.issued.add(batch);
    return batch;
  }

  /**
   * Reads the records of `items[which]` from their segments, merging neighbours into one read,
   * and decodes them into `entries` (null where the record no longer checks out).
   */
  private async readBack(items: ReadonlyArray<SpoolItem<Segment>>, which: number[], entries: Array<SpoolEntry | null>): Promise<void> {
    which.sort((a, b) => {
      const x = items[a] as SpoolItem<Segment>;
      const y = items[b] as SpoolItem<Segment>;
      return (x.home as Segment).id - (y.home as Segment).id || x.offset - y.offset;
    });
    let i = 0;
    while (i < which.length) {
      const first = items[which[i] as number] as SpoolItem<Segment>;
      const seg = first.home as Segment;
      const start = first.offset;
      let end = start + first.size;
      let j = i + 1;
      for (; j < which.length; j++) {
        const x = items[which[j] as number] as SpoolItem<Segment>;
        if (x.home !== seg || x.offset - end > READ_GAP_BYTES || x.offset + x.size - start > READ_RUN_BYTES) break;
        end = Math.max(end, x.offset + x.size);
      }
      const fh = seg.fh ?? (seg.fh = await open(seg.path, 'r'));
      const buf = Buffer.allocUnsafe(end - start);
      await readFully(fh, buf, start);
      for (let k = i; k < j; k++) {
        const idx = which[k] as number;
        const x = items[idx] as SpoolItem<Segment>;
        const rel = x.offset - start;
        const length = checkRecord(buf, rel, rel + x.size);
        entries[idx] = length === x.size - RECORD_HEADER_BYTES ? decodeEntry(buf, rel + RECORD_HEADER_BYTES, length) : null;
      }
      i = j;
    }
  }

  private owned(batch: SpoolBatch, verb: string): void {
    if (!this.issued.has(batch)) {
      throw new VigilError('VIGIL_E_SPOOL_BATCH', `cannot ${verb} spool batch ${String(batch?.id)}: this spool did not hand it out`, { details: { batch: batch?.id } });
    }
  }

  ack(batch: SpoolBatch): void {
    this.check('ack');
    this.owned(batch, 'ack');
    this.index.ack(batch.id);
    this.flushRemovals();
  }

  nack(batch: SpoolBatch): void {
    this.check('nack');
    this.owned(batch, 'nack');
    this.index.nack(batch.id);
  }

  flush(): Promise<void> {
    try {
      this.check('flush');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.log.flush();
  }

  stats(): SpoolStats {
    return { ...this.index.stats(), diskBytes: this.log.diskBytes(), segments: this.log.segments.length, syncs: this.log.syncs };
  }

  close(): Promise<void> {
    if (this.closing === null) {
      this.closed = true;
      this.closing = this.log.close();
    }
    return this.closing;
  }
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of segment at ${position + done}`);
    done += bytesRead;
  }
}
