import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { VigilError } from '../../errors';
import type { FsyncPolicy } from './options';
import { SEGMENT_START_RECORD_BYTES, encodeEntry, encodeRemove, encodeSegmentStart, removeRecordSize } from './record-codec';
import { DEAD, type SpoolItem } from './spool-index';

/** `seg-<12-digit id>.log`: ids grow, so the name order is the log order. */
export const SEGMENT_FILE = /^seg-(\d{12})\.log$/;

export function segmentFileName(id: number): string {
  return `seg-${String(id).padStart(12, '0')}.log`;
}

/** One segment file of the log. */
export class Segment {
  /** Entries in this segment still in the spool; at 0 (and not the active segment) the file can go. */
  live = 0;
  /** Open handle: read/write for the active segment, read-only (opened on first read) for older ones. */
  fh: FileHandle | null = null;

  constructor(
    readonly id: number,
    readonly path: string,
    /** Bytes of valid records. */
    public size: number,
  ) {}
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Records waiting for the next write. Two stages alternate: appends fill one while the other is
 * being written and synced, which is what makes group commit work — every append that arrives
 * during a sync rides on the next one. Records are encoded straight into the stage's buffer,
 * so a group commit is one `write` of one buffer, with no per-entry buffers or copies.
 */
class Stage {
  buf: Buffer;
  len = 0;
  readonly items: Array<SpoolItem<Segment>> = [];
  readonly waiters: Waiter[] = [];
  /** Entry records staged (remove records alone need no sync under the append policies). */
  entries = 0;
  /** A `flush()` asked for a sync whatever the policy. */
  forceSync = false;

  constructor(bytes: number) {
    this.buf = Buffer.allocUnsafe(bytes);
  }

  reserve(bytes: number): void {
    if (this.len + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + bytes));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  reset(): void {
    this.len = 0;
    this.items.length = 0;
    this.waiters.length = 0;
    this.entries = 0;
    this.forceSync = false;
    // Do not keep a buffer that one huge flush grew, forever.
    if (this.buf.length > INITIAL_STAGE_BYTES * 16) this.buf = Buffer.allocUnsafe(INITIAL_STAGE_BYTES);
  }
}

const INITIAL_STAGE_BYTES = 256 * 1024;

export interface SegmentLogOptions {
  readonly dir: string;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly segmentBytes: number;
  /** Budget bytes of written entries kept in memory as well (newest), so a prompt drain does not read the disk. */
  readonly residentBytes: number;
  /** The first sequence number not yet assigned (written at the start of each new segment). */
  readonly nextSeq: () => number;
}

/**
 * The append side of the spool's segment files: group commit, the fsync policy, rolling to a
 * new segment, and deleting the oldest segments once none of their entries is live.
 *
 * One write-and-sync runs at a time (`run`); everything else only stages. After any I/O error
 * the log is failed for good (fail-stop): after a failed fsync the kernel may have dropped the
 * dirty pages, so nothing more can be promised until the spool is reopened and recovers.
 */
export class SegmentLog {
  private stage = new Stage(INITIAL_STAGE_BYTES);
  private spare = new Stage(INITIAL_STAGE_BYTES);
  private running = false;
  private dirty = false;
  private reclaimWanted = false;
  /** The 'interval' timer asks for a sync. */
  private syncDue = false;
  private timer: NodeJS.Timeout | null = null;
  private failure: VigilError | null = null;
  private active!: Segment;
  /** fdatasync calls made (observability, and tests prove the policy). */
  syncs = 0;
  /** Written items whose entry is still held in memory (or was, until acked), oldest first from `residentHead`. */
  private resident: Array<SpoolItem<Segment>> = [];
  private residentHead = 0;
  private residentSize = 0;

  constructor(
    private readonly options: SegmentLogOptions,
    /** Segments found at recovery, oldest first; the new active segment is added after them. */
    readonly segments: Segment[],
    private nextSegmentId: number,
  ) {}

  /** Starts a fresh active segment (never appending to a recovered one, whose tail may have been torn). */
  async start(): Promise<void> {
    await this.guard('create segment', () => this.roll());
    if (this.options.fsync === 'interval') {
      this.timer = setInterval(() => {
        if (!this.dirty) return;
        this.syncDue = true;
        this.kick();
      }, this.options.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  /** The error that failed the log, if any. */
  get failed(): VigilError | null {
    return this.failure;
  }

  /**
   * Stages entry records for `items` (whose `entry` is set) and returns a promise settled by
   * the append policy: after the sync (`always`) or the write (`interval`, `never`).
   */
  appendEntries(items: ReadonlyArray<SpoolItem<Segment>>, bytes: number): Promise<void> {
    const s = this.stage;
    s.reserve(bytes);
    let o = s.len;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as SpoolItem<Segment>;
      item.offset = o; // relative to the stage until written
      o = encodeEntry(s.buf, o, item.entry as NonNullable<typeof item.entry>, item.seq, item.rank);
      s.items.push(item);
    }
    s.len = o;
    s.entries += items.length;
    return this.wait(s, false);
  }

  /** Stages a remove record for `seqs[0..count)`. Not awaited: losing it in a crash only means redelivery. */
  appendRemove(reason: number, seqs: readonly number[], count: number): void {
    const s = this.stage;
    s.reserve(removeRecordSize(count));
    s.len = encodeRemove(s.buf, s.len, reason, seqs, count);
    this.kick();
  }

  /** Resolves once everything staged so far is written and synced (whatever the policy). */
  flush(): Promise<void> {
    return this.wait(this.stage, true);
  }

  /** Asks for the dead oldest segments to be deleted at the next pass. */
  reclaimSoon(): void {
    this.reclaimWanted = true;
    this.kick();
  }

  private wait(s: Stage, sync: boolean): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (sync) s.forceSync = true;
    const p = new Promise<void>((resolve, reject) => {
      s.waiters.push({ resolve, reject });
    });
    this.kick();
    return p;
  }

  private kick(): void {
    if (this.running || this.failure !== null) return;
    this.running = true;
    // A microtask, not a write right now: appends made in the same tick share one write.
    queueMicrotask(() => void this.run());
  }

  private async run(): Promise<void> {
    const policy = this.options.fsync;
    try {
      for (;;) {
        const s = this.stage;
        if (s.len === 0 && s.waiters.length === 0 && !this.reclaimWanted && !(this.syncDue && this.dirty)) break;
        this.stage = this.spare;
        this.spare = s;
        if (s.len > 0) await this.writeStage(s);
        if (this.dirty && (s.forceSync || (policy === 'always' && s.entries > 0))) await this.sync(this.active);
        // Before resolving, so that a resolved flush() has also deleted what became dead.
        if (this.reclaimWanted) await this.reclaim();
        for (const w of s.waiters) w.resolve();
        s.reset();
        // 'interval': appends resolved after their write above; the timer's sync comes after.
        if (this.syncDue && this.dirty) await this.sync(this.active);
        this.syncDue = false;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.running = false;
    }
  }

  private async writeStage(s: Stage): Promise<void> {
    let seg = this.active;
    if (seg.size > SEGMENT_START_RECORD_BYTES && seg.size + s.len > this.options.segmentBytes) {
      await this.roll();
      seg = this.active;
    }
    const position = seg.size;
    let done = 0;
    while (done < s.len) done += (await (seg.fh as FileHandle).write(s.buf, done, s.len - done, position + done)).bytesWritten;
    seg.size += s.len;
    this.dirty = true;
    for (const item of s.items) {
      item.offset += position;
      if (item.state === DEAD) continue; // acked or shed before its write landed
      item.home = seg;
      seg.live++;
      // The payload now lives on disk. The newest `residentBytes` of it stay in memory as well,
      // for a drain that comes soon; beyond that memory holds the index only and a drain reads back.
      this.resident.push(item);
      this.residentSize += item.size;
    }
    this.trimResident();
  }

  /** Drops the entries of the oldest written items until the resident ones fit `residentBytes`. */
  private trimResident(): void {
    const items = this.resident;
    let h = this.residentHead;
    // Items acked or shed meanwhile count until they reach the head: the bound errs on the small side.
    while (this.residentSize > this.options.residentBytes && h < items.length) {
      const item = items[h++] as SpoolItem<Segment>;
      this.residentSize -= item.size;
      item.entry = undefined;
    }
    if (h === items.length) {
      this.resident = [];
      h = 0;
    } else if (h > 1024 && h * 2 > items.length) {
      this.resident = items.slice(h);
      h = 0;
    }
    this.residentHead = h;
  }

  private async sync(seg: Segment): Promise<void> {
    await (seg.fh as FileHandle).datasync();
    this.syncs++;
    if (seg === this.active) this.dirty = false;
  }

  /** Closes the active segment (synced unless the policy is 'never') and starts the next. */
  private async roll(): Promise<void> {
    const previous = this.active as Segment | undefined;
    if (previous !== undefined && this.dirty && this.options.fsync !== 'never') await this.sync(previous);
    const id = this.nextSegmentId++;
    const path = join(this.options.dir, segmentFileName(id));
    const fh = await open(path, 'wx+');
    const seg = new Segment(id, path, 0);
    seg.fh = fh;
    const header = Buffer.allocUnsafe(SEGMENT_START_RECORD_BYTES);
    encodeSegmentStart(header, 0, this.options.nextSeq());
    await fh.write(header, 0, header.length, 0);
    seg.size = header.length;
    if (this.options.fsync !== 'never') {
      await fh.datasync();
      this.syncs++;
      await syncDirectory(this.options.dir); // the new file's name must survive a power loss too
    }
    this.segments.push(seg);
    this.active = seg;
    this.dirty = false;
    if (previous !== undefined && previous.live === 0) this.reclaimWanted = true;
  }

  /**
   * Deletes the oldest segments while none of their entries is live. Only a prefix of the log
   * goes: a remove record names entries of its own or older segments, so deleting in order
   * never drops a remove record that a surviving entry still needs.
   */
  private async reclaim(): Promise<void> {
    this.reclaimWanted = false;
    while (this.segments.length > 1) {
      const seg = this.segments[0] as Segment;
      if (seg === this.active || seg.live > 0) break;
      this.segments.shift();
      if (seg.fh !== null) await seg.fh.close();
      seg.fh = null;
      await unlink(seg.path);
    }
  }

  private fail(err: unknown): void {
    const e =
      err instanceof VigilError
        ? err
        : new VigilError('VIGIL_E_SPOOL_IO', `spool ${this.options.dir}: write failed: ${(err as Error).message}`, {
            cause: err,
            details: { dir: this.options.dir },
          });
    this.failure = e;
    for (const s of [this.spare, this.stage]) {
      for (const w of s.waiters) w.reject(e);
      s.waiters.length = 0;
    }
  }

  private async guard(op: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.fail(new VigilError('VIGIL_E_SPOOL_IO', `spool ${this.options.dir}: ${op} failed: ${(err as Error).message}`, { cause: err, details: { dir: this.options.dir } }));
      throw this.failure;
    }
  }

  /** Bytes of all segment files. */
  diskBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.size;
    return n;
  }

  /** Writes and syncs what is staged (unless the policy is 'never'), then closes every file. */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.failure === null) {
      if (this.options.fsync === 'never') await this.wait(this.stage, false);
      else await this.flush();
    }
    for (const seg of this.segments) {
      if (seg.fh !== null) await seg.fh.close().catch(() => undefined);
      seg.fh = null;
    }
  }
}

/** fsync of a directory, so that a created file's name is as durable as its data. */
export async function syncDirectory(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
