import { DEVICE_ID_PATTERN, MAX_SEQ } from '../codec';
import { VigilError } from '../errors';
import { SeqList, sortedUnique } from './seq-list';

const SEQ_PATTERN = /^(0|[1-9][0-9]{0,19})$/;

/** One line of an acked log: a frame its device was told is durable. */
export interface AckedFrame {
  readonly deviceId: string;
  readonly seq: bigint;
  /** The device sent it more than once before a receipt covered it (`"resent":true`). */
  readonly resent: boolean;
}

/**
 * Parses one line of an acked log (`vigil simulate --acked-log`, `DeviceClient` `onDurable`):
 * `{"deviceId":"…","seq":"<decimal u64>"}`, optionally `"resent":true`. Other fields are ignored.
 *
 * @throws VigilError `VIGIL_E_AUDIT_ACKED_LOG` naming `source:line` and what is wrong
 */
export function parseAckedLine(line: string, source: string, lineNo: number): AckedFrame {
  const bad = (what: string): VigilError =>
    new VigilError('VIGIL_E_AUDIT_ACKED_LOG', `${source}:${lineNo}: ${what}; expected {"deviceId":"…","seq":"<decimal u64>"}`, { details: { source, line: lineNo } });
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw bad(`not JSON (${JSON.stringify(line.length > 60 ? line.slice(0, 60) + '…' : line)})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(o.deviceId)) throw bad(`deviceId must be 1-64 characters of [A-Za-z0-9._:-], got ${JSON.stringify(o.deviceId) ?? 'nothing'}`);
  // A string: a JSON number loses precision beyond 2^53, and sequence numbers are u64.
  if (typeof o.seq !== 'string' || !SEQ_PATTERN.test(o.seq)) throw bad(`seq must be a decimal string, got ${JSON.stringify(o.seq) ?? 'nothing'}`);
  const seq = BigInt(o.seq);
  if (seq > MAX_SEQ) throw bad(`seq ${o.seq} is above 2^64-1`);
  if (o.resent !== undefined && typeof o.resent !== 'boolean') throw bad(`resent must be true or false, got ${JSON.stringify(o.resent)}`);
  return { deviceId: o.deviceId, seq, resent: o.resent === true };
}

/**
 * What devices were told is durable, per device: the reference an audit holds Kafka to.
 * Sequence numbers are kept in typed arrays (8 bytes each); repeats are harmless.
 *
 * @example
 * const acked = await AckedLog.fromLines(readline.createInterface({ input: createReadStream(file) }), file);
 * acked.deviceIds(); // ['uav-0042', …]
 */
export class AckedLog {
  private readonly byDevice = new Map<string, SeqList>();
  private readonly resentByDevice = new Map<string, SeqList>();
  private lines = 0;

  /** Reads an acked log line by line; blank lines are skipped. */
  static async fromLines(lines: AsyncIterable<string> | Iterable<string>, source: string): Promise<AckedLog> {
    const log = new AckedLog();
    let n = 0;
    for await (const line of lines) {
      n++;
      if (line.trim().length === 0) continue;
      const f = parseAckedLine(line, source, n);
      log.add(f.deviceId, f.seq, f.resent);
    }
    return log;
  }

  add(deviceId: string, seq: bigint, resent = false): void {
    let list = this.byDevice.get(deviceId);
    if (list === undefined) this.byDevice.set(deviceId, (list = new SeqList()));
    list.push(seq);
    if (resent) {
      let r = this.resentByDevice.get(deviceId);
      if (r === undefined) this.resentByDevice.set(deviceId, (r = new SeqList(16)));
      r.push(seq);
    }
    this.lines++;
  }

  /** Entries added, repeats included. */
  get size(): number {
    return this.lines;
  }

  deviceIds(): string[] {
    return [...this.byDevice.keys()];
  }

  /** The device's distinct acknowledged sequence numbers, ascending (empty when none). */
  sorted(deviceId: string): BigUint64Array {
    const list = this.byDevice.get(deviceId);
    return list === undefined ? new BigUint64Array(0) : sortedUnique(list.view());
  }

  /** The device's acknowledged frames that were sent more than once, ascending. */
  resent(deviceId: string): BigUint64Array {
    const list = this.resentByDevice.get(deviceId);
    return list === undefined ? new BigUint64Array(0) : sortedUnique(list.view());
  }
}
