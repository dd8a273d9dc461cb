import { RECORD_KEY_ID_HEADER } from '../codec';
import type { BusMessage } from '../bus';
import type { SpoolEntry, SpoolPriority } from '../edge/spool';
import { RELAY_WITHHELD_REASONS } from '../instrument';
import { RELAY_ID_HEADER, type ReleaseOutcome } from './release';

/**
 * The relay's release thread and its main thread exchange records as one transferred buffer
 * each way (no structured clone of thousands of small objects):
 *
 * - request: `u32 count`, then per message `u32 value length` (0xffffffff: a tombstone),
 *   `u16 key id length` (0xffff: no key id header), the key id (UTF-8), the value;
 * - result: per outcome a kind byte. Released (0): `u8 priority`, `u8 alert`, the strings
 *   device id, key id and relay id, the Kafka key bytes, `u32 count` of redacted names and
 *   each, then the sealed value. Withheld (1): `u8 reason`, the detail string. Sampled (2):
 *   nothing. Strings, the key and the value are `u32` length + bytes (strings UTF-8).
 *
 * A released entry's key and value are views of the result buffer: no copy on the main thread.
 */

const TOMBSTONE = 0xffffffff;
const NO_KEY_ID = 0xffff;
const PRIORITIES: readonly SpoolPriority[] = ['flash', 'immediate', 'routine'];

/** What the release thread needs of one source message. */
export interface ReleaseInput {
  readonly value: Buffer | null;
  readonly keyId: string | undefined;
}

/** Packs `messages[from, to)` (value and key id header) into one buffer. */
export function packReleaseRequest(messages: readonly BusMessage[], from: number, to: number): ArrayBuffer {
  let size = 4;
  const keyIds: Array<Buffer | undefined> = [];
  for (let i = from; i < to; i++) {
    const m = messages[i] as BusMessage;
    const h = m.headers[RECORD_KEY_ID_HEADER];
    const id = h === undefined ? undefined : Buffer.isBuffer(h) ? h : Buffer.from(h, 'utf8');
    keyIds.push(id);
    size += 6 + (id?.length ?? 0) + (m.value?.length ?? 0);
  }
  const ab = new ArrayBuffer(size);
  const buf = Buffer.from(ab);
  buf.writeUInt32LE(to - from, 0);
  let p = 4;
  for (let i = from; i < to; i++) {
    const m = messages[i] as BusMessage;
    const id = keyIds[i - from];
    buf.writeUInt32LE(m.value === null ? TOMBSTONE : m.value.length, p);
    // A key id longer than 64 KiB - 2 cannot be a key id (they are short names): sent as absent.
    const idOk = id !== undefined && id.length < NO_KEY_ID;
    buf.writeUInt16LE(idOk ? id.length : NO_KEY_ID, p + 4);
    p += 6;
    if (idOk) p += id.copy(buf, p);
    if (m.value !== null) p += m.value.copy(buf, p);
  }
  return ab;
}

/** Reads a request back (the release thread's side). */
export function unpackReleaseRequest(ab: ArrayBuffer): ReleaseInput[] {
  const buf = Buffer.from(ab);
  const n = buf.readUInt32LE(0);
  const out: ReleaseInput[] = [];
  let p = 4;
  for (let i = 0; i < n; i++) {
    const len = buf.readUInt32LE(p);
    const idLen = buf.readUInt16LE(p + 4);
    p += 6;
    let keyId: string | undefined;
    if (idLen !== NO_KEY_ID) {
      keyId = buf.toString('utf8', p, p + idLen);
      p += idLen;
    }
    let value: Buffer | null = null;
    if (len !== TOMBSTONE) {
      value = buf.subarray(p, p + len);
      p += len;
    }
    out.push({ value, keyId });
  }
  return out;
}

function strBytes(s: string): number {
  return 4 + Buffer.byteLength(s, 'utf8');
}

/** Packs the outcomes of a request (the release thread's side). `enqueuedAt` is not sent: the main thread stamps it. */
export function packReleaseResult(outcomes: readonly ReleaseOutcome[]): ArrayBuffer {
  let size = 0;
  for (const o of outcomes) {
    size += 1;
    if (o.verdict === 'release') {
      const e = o.entry;
      size += 2 + strBytes(e.deviceId) + strBytes(header(e, RECORD_KEY_ID_HEADER)) + strBytes(header(e, RELAY_ID_HEADER)) + 4 + (e.key?.length ?? 0) + 4 + 4 + e.value.length;
      for (const r of o.redacted) size += strBytes(r);
    } else if (o.verdict === 'withheld') size += 1 + strBytes(o.detail);
  }
  const ab = new ArrayBuffer(size);
  const buf = Buffer.from(ab);
  let p = 0;
  const str = (s: string): void => {
    const n = buf.write(s, p + 4, 'utf8');
    buf.writeUInt32LE(n, p);
    p += 4 + n;
  };
  for (const o of outcomes) {
    if (o.verdict === 'release') {
      const e = o.entry;
      buf[p++] = 0;
      buf[p++] = PRIORITIES.indexOf(e.priority);
      buf[p++] = o.alert ? 1 : 0;
      str(e.deviceId);
      str(header(e, RECORD_KEY_ID_HEADER));
      str(header(e, RELAY_ID_HEADER));
      const key = e.key ?? Buffer.alloc(0);
      buf.writeUInt32LE(key.length, p);
      p += 4 + key.copy(buf, p + 4);
      buf.writeUInt32LE(o.redacted.length, p);
      p += 4;
      for (const r of o.redacted) str(r);
      buf.writeUInt32LE(e.value.length, p);
      p += 4 + e.value.copy(buf, p + 4);
    } else if (o.verdict === 'withheld') {
      buf[p++] = 1;
      buf[p++] = RELAY_WITHHELD_REASONS.indexOf(o.reason);
      str(o.detail);
    } else buf[p++] = 2;
  }
  return ab;
}

/** A header of a released entry as a string (the releaser sets both as strings). */
function header(e: SpoolEntry, name: string): string {
  return String(e.headers?.[name] ?? '');
}

/**
 * Reads the outcomes back (the main thread's side): released entries bound for `topic`,
 * stamped `enqueuedAt`, their key and value views of `ab`.
 */
export function unpackReleaseResult(ab: ArrayBuffer, count: number, topic: string, enqueuedAt: number): ReleaseOutcome[] {
  const buf = Buffer.from(ab);
  const out: ReleaseOutcome[] = [];
  let p = 0;
  const str = (): string => {
    const n = buf.readUInt32LE(p);
    const s = buf.toString('utf8', p + 4, p + 4 + n);
    p += 4 + n;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const kind = buf[p++];
    if (kind === 0) {
      const priority = PRIORITIES[buf[p++] as number] as SpoolPriority;
      const alert = buf[p++] === 1;
      const deviceId = str();
      const keyId = str();
      const relayId = str();
      const keyLen = buf.readUInt32LE(p);
      const key = buf.subarray(p + 4, p + 4 + keyLen);
      p += 4 + keyLen;
      const nRedacted = buf.readUInt32LE(p);
      p += 4;
      const redacted: string[] = [];
      for (let r = 0; r < nRedacted; r++) redacted.push(str());
      const len = buf.readUInt32LE(p);
      const value = buf.subarray(p + 4, p + 4 + len);
      p += 4 + len;
      out.push({ verdict: 'release', alert, redacted, entry: { deviceId, priority, topic, key, value, headers: { [RECORD_KEY_ID_HEADER]: keyId, [RELAY_ID_HEADER]: relayId }, enqueuedAt } });
    } else if (kind === 1) {
      const reason = RELAY_WITHHELD_REASONS[buf[p++] as number] ?? 'unreadable';
      out.push({ verdict: 'withheld', reason, detail: str() });
    } else out.push({ verdict: 'sampled' });
  }
  return out;
}
