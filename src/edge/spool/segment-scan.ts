import { RECORD_HEADER_BYTES, RECORD_MAGIC, checkRecord } from './record-codec';

/** What a scan found wrong in one segment. */
export interface ScanDamage {
  /** Bytes after the last valid record with no valid record after them: a torn (or garbage) tail. */
  tornBytes: number;
  /** Damaged regions followed by valid records again, skipped. */
  corruptRegions: number;
  corruptBytes: number;
}

/** Called for each valid record: its type, payload offset and length, and the record's own offset. */
export type RecordVisitor = (type: number, payload: number, length: number, recordOffset: number) => void;

const MAGIC = Buffer.alloc(4);
MAGIC.writeUInt32LE(RECORD_MAGIC, 0);

/** The offset of the next valid record at or after `from`, or -1. */
function resync(buf: Buffer, from: number, end: number): number {
  let at = buf.indexOf(MAGIC, from);
  while (at >= 0 && at < end) {
    if (checkRecord(buf, at, end) >= 0) return at;
    at = buf.indexOf(MAGIC, at + 1);
  }
  return -1;
}

/**
 * Walks the records of a segment's bytes. A record that fails its checks (magic, length,
 * checksum) starts a damaged region that lasts until the next valid record (found by its
 * magic and checksum): with one after it, the region is skipped and counted as corrupt;
 * with none, it is the torn tail of an interrupted write and ends the valid part. Returns the
 * end of the last valid record, where a torn tail is cut off.
 *
 * Why skip rather than stop: the records after a damaged one are intact, were acknowledged,
 * and losing them because of one bad sector would turn a small loss into a big one. A false
 * match inside damaged bytes needs the magic and a matching CRC-32 over a plausible length.
 */
export function scanSegment(buf: Buffer, visit: RecordVisitor, damage: ScanDamage): number {
  const end = buf.length;
  let off = 0;
  let validEnd = 0;
  while (off < end) {
    const length = checkRecord(buf, off, end);
    if (length < 0) {
      const next = resync(buf, off + 1, end);
      if (next < 0) {
        damage.tornBytes += end - off;
        break;
      }
      damage.corruptRegions++;
      damage.corruptBytes += next - off;
      off = next;
      continue;
    }
    const payload = off + RECORD_HEADER_BYTES;
    visit(buf[payload] as number, payload, length, off);
    off = payload + length;
    validEnd = off;
  }
  return validEnd;
}
