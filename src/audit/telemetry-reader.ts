import { randomBytes } from 'node:crypto';
import { parseOffset, type Bus, type BusMessage, type PartitionOffsets } from '../bus';
import { RECORD_KEY_ID_HEADER, RecordCodec, type TelemetryRecord } from '../codec';
import type { StreamKeyring } from '../crypto';
import { isVigilError, VigilError, type VigilErrorCode } from '../errors';

/** What `readTelemetry` hands out for each message below the snapshot's end. */
export interface TelemetryVisitor {
  /** An opened telemetry record, in partition order. */
  record(m: BusMessage, record: TelemetryRecord): void;
  /** A message that could not be opened as a telemetry record, and why. */
  unreadable(m: BusMessage, code: VigilErrorCode, message: string): void;
  tombstone(m: BusMessage): void;
}

/** Options of `readTelemetry`. */
export interface ReadTelemetryOptions {
  readonly bus: Bus;
  readonly keyring: StreamKeyring;
  /** `kafka.topicPrefix` of the deployment: topics `<prefix>telemetry.<kind>` are read. Default ''. */
  readonly topicPrefix?: string;
  /** Reading fails with `VIGIL_E_AUDIT_INCOMPLETE` after this long without progress. Default 60,000 ms. */
  readonly stallTimeoutMs?: number;
  /** Progress lines (topics found, partitions done). Default: none. */
  readonly log?: (line: string) => void;
  /** Read these topics (full names) instead of the deployment's telemetry topics. */
  readonly topics?: readonly string[];
}

/** The telemetry topics of a deployment: `<prefix>telemetry.<kind>`, `telemetry.rejected` (not sealed) left out. */
export function telemetryTopics(all: readonly string[], prefix: string): string[] {
  const head = `${prefix}telemetry.`;
  return all.filter((t) => t.startsWith(head) && t !== `${head}rejected` && !t.slice(head.length).includes('.')).sort();
}

/**
 * Reads every telemetry topic from its oldest record up to the end offsets taken when the
 * read starts (so it ends however fast gateways write meanwhile), opening each record with
 * `keyring`. Resolves with the snapshot read; a partition that stops advancing before its
 * end fails the read with `VIGIL_E_AUDIT_INCOMPLETE` rather than return a partial picture.
 *
 * @throws VigilError `VIGIL_E_AUDIT_INCOMPLETE`, `VIGIL_E_BUS_UNAVAILABLE`
 */
export async function readTelemetry(o: ReadTelemetryOptions, visit: TelemetryVisitor): Promise<PartitionOffsets[]> {
  const prefix = o.topicPrefix ?? '';
  const log = o.log ?? (() => undefined);
  const admin = o.bus.admin();
  let snapshot: PartitionOffsets[];
  try {
    const all = await admin.listTopics();
    const topics = o.topics === undefined ? telemetryTopics(all, prefix) : o.topics.filter((t) => all.includes(t));
    snapshot = (await Promise.all(topics.map((t) => admin.offsets(t)))).flat();
  } finally {
    await admin.close();
  }
  const topics = [...new Set(snapshot.map((p) => p.topic))];
  const todo = new Map<string, { end: number; at: number; topic: string; partition: number }>();
  for (const p of snapshot) {
    const end = parseOffset(p.end);
    if (end > parseOffset(p.start)) todo.set(`${p.topic}\u0000${p.partition}`, { end, at: parseOffset(p.start), topic: p.topic, partition: p.partition });
  }
  const total = [...todo.values()].reduce((n, p) => n + p.end - p.at, 0);
  log(`audit: ${topics.length} telemetry topic${topics.length === 1 ? '' : 's'} (${topics.join(', ') || 'none'}), about ${total} records up to the current end offsets`);
  if (todo.size === 0) return snapshot;

  const codec = new RecordCodec();
  const open = (m: BusMessage): void => {
    if (m.value === null) return visit.tombstone(m);
    const keyId = m.headers[RECORD_KEY_ID_HEADER]?.toString('utf8');
    if (keyId === undefined) return visit.unreadable(m, 'VIGIL_E_RECORD_INVALID', `no ${RECORD_KEY_ID_HEADER} header`);
    if (!o.keyring.has(keyId)) return visit.unreadable(m, 'VIGIL_E_KEY_UNKNOWN', `sealed under key ${keyId}, not given`);
    let r;
    try {
      r = codec.open(m.value, o.keyring.get(keyId));
    } catch (err) {
      return isVigilError(err) ? visit.unreadable(m, err.code, err.message) : visit.unreadable(m, 'VIGIL_E_INTERNAL', String(err));
    }
    if (r.type !== 'telemetry') return visit.unreadable(m, 'VIGIL_E_RECORD_INVALID', `a ${r.type} record in a telemetry topic`);
    visit.record(m, r);
  };

  const consumer = o.bus.consumer({ groupId: `${prefix}vigil.audit.${randomBytes(6).toString('hex')}`, fromBeginning: true, maxWaitMs: 500, sessionTimeoutMs: 30_000 });
  let lastProgress = Date.now();
  let settle!: (err?: Error) => void;
  const finished = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
  const stallMs = o.stallTimeoutMs ?? 60_000;
  const behind = (): string =>
    [...todo.values()]
      .slice(0, 10)
      .map((p) => `${p.topic}[${p.partition}] at ${p.at} of ${p.end}`)
      .join(', ');
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > stallMs) {
      settle(new VigilError('VIGIL_E_AUDIT_INCOMPLETE', `no progress for ${stallMs} ms; ${todo.size} partition(s) not read to their end: ${behind()}`, { details: { partitions: todo.size } }));
    }
  }, Math.min(1000, stallMs));
  try {
    await consumer.subscribe(topics.filter((t) => [...todo.values()].some((p) => p.topic === t)));
    await consumer.run({
      eachBatch: (batch) => {
        const k = `${batch.topic}\u0000${batch.partition}`;
        const p = todo.get(k);
        if (p === undefined) return;
        for (const m of batch.messages) {
          const off = parseOffset(m.offset);
          if (off >= p.end) break;
          open(m);
        }
        p.at = Math.max(p.at, parseOffset(batch.nextOffset));
        lastProgress = Date.now();
        if (p.at >= p.end) {
          todo.delete(k);
          if (todo.size === 0) settle();
        }
      },
      onError: (err) =>
        settle(new VigilError('VIGIL_E_AUDIT_INCOMPLETE', `reading stopped: ${err.message}; ${todo.size} partition(s) not read to their end: ${behind()}`, { cause: err, details: { partitions: todo.size } })),
    });
    await finished;
  } catch (err) {
    if (isVigilError(err) && err.code !== 'VIGIL_E_AUDIT_INCOMPLETE' && err.retriable) {
      throw new VigilError('VIGIL_E_AUDIT_INCOMPLETE', `reading the telemetry topics failed: ${err.message}`, { cause: err });
    }
    throw err;
  } finally {
    clearInterval(watchdog);
    await consumer.close().catch(() => undefined);
  }
  return snapshot;
}
