import { spoolEntrySize } from '../../../src/edge/spool';
import { FLASH } from '../../../src/edge/spool/priority';
import { RECORD_HEADER_BYTES, checkRecord, decodeEntry, encodeEntry, encodeRemove, readRemove, removeRecordSize } from '../../../src/edge/spool/record-codec';
import { scanSegment } from '../../../src/edge/spool/segment-scan';
import { entry } from './helpers';

describe('spool record codec', () => {
  it('encodes exactly spoolEntrySize bytes and decodes back to the entry', () => {
    const e = { ...entry('dévice', 3, 'flash'), headers: { a: 'b', bin: Buffer.from([0, 255]) }, expiresAt: 123 };
    const size = spoolEntrySize(e);
    const buf = Buffer.alloc(size + 10);
    expect(encodeEntry(buf, 5, e, 42, FLASH)).toBe(5 + size);
    const length = checkRecord(buf, 5, 5 + size);
    expect(length).toBe(size - RECORD_HEADER_BYTES);
    expect(decodeEntry(buf, 5 + RECORD_HEADER_BYTES, length)).toEqual(e);
  });

  it('detects any flipped byte of a record', () => {
    const e = entry('a', 1);
    const size = spoolEntrySize(e);
    const buf = Buffer.alloc(size);
    encodeEntry(buf, 0, e, 1, FLASH);
    for (let i = 0; i < size; i++) {
      buf[i] = (buf[i] as number) ^ 0x01;
      expect(checkRecord(buf, 0, size)).toBe(-1);
      buf[i] = (buf[i] as number) ^ 0x01;
    }
    expect(checkRecord(buf, 0, size)).toBe(size - RECORD_HEADER_BYTES);
    expect(checkRecord(buf, 0, size - 1)).toBe(-1); // cut short
  });

  it('round-trips remove records', () => {
    const seqs = [3, 9, 2 ** 40];
    const buf = Buffer.alloc(removeRecordSize(seqs.length));
    encodeRemove(buf, 0, 1, seqs, seqs.length);
    const length = checkRecord(buf, 0, buf.length);
    const got: number[] = [];
    expect(readRemove(buf, RECORD_HEADER_BYTES, length, (s) => got.push(s))).toBe(true);
    expect(got).toEqual(seqs);
  });

  it('scans past a damaged region to the next valid record and reports a torn tail', () => {
    const es = [entry('a', 1), entry('a', 2), entry('a', 3)];
    const sizes = es.map(spoolEntrySize);
    const buf = Buffer.alloc(sizes.reduce((a, b) => a + b, 0) + 7);
    let o = 0;
    es.forEach((e, i) => (o = encodeEntry(buf, o, e, i, FLASH)));
    buf.fill(0xab, o); // 7 bytes of garbage at the end
    buf[(sizes[0] as number) + 2] = 0; // break the second record's magic
    const offsets: number[] = [];
    const damage = { tornBytes: 0, corruptRegions: 0, corruptBytes: 0 };
    expect(scanSegment(buf, (_t, _p, _l, at) => offsets.push(at), damage)).toBe(o);
    expect(offsets).toEqual([0, (sizes[0] as number) + (sizes[1] as number)]);
    expect(damage).toEqual({ tornBytes: 7, corruptRegions: 1, corruptBytes: sizes[1] });
  });
});
