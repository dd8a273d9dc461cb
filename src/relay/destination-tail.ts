import { randomBytes } from 'node:crypto';
import { parseOffset, type Bus, type BusMessage } from '../bus';
import { VigilError } from '../errors';
import { RELAY_ID_HEADER } from './release';

/** Options of `readDestinationTail`. */
export interface DestinationTailOptions {
  readonly bus: Bus;
  readonly topics: readonly string[];
  /** Messages read back from the end of each partition. */
  readonly lookback: number;
  /** Prefix of the throw-away consumer group. */
  readonly groupPrefix: string;
  /** Fails (retriably) after this long without progress. Default 30,000 ms. */
  readonly stallTimeoutMs?: number;
  /**
   * Reads only the messages timestamped at or after this time (Kafka ListOffsets by time), at
   * most `lookback` of them per partition: a partition with none is not read at all, and when
   * no partition has any, no consumer (and no group join) is needed. Only for topics whose
   * timestamps the writer sets (CreateTime) from the same clock.
   */
  readonly sinceMs?: number;
}

/**
 * The relay ids of the last `lookback` messages of every partition of `topics` at the
 * destination, read up to the end offsets taken at the start. The relay reads this after a
 * send whose outcome it does not know (a cut link, a restart with records in its queue) so
 * that it does not send again what the destination already holds.
 *
 * @throws VigilError `VIGIL_E_BUS_UNAVAILABLE` (retriable) when the destination cannot be read
 */
export async function readDestinationTail(o: DestinationTailOptions): Promise<string[]> {
  const ids: string[] = [];
  for (const m of await readPartitionTails(o)) {
    const id = m.headers[RELAY_ID_HEADER];
    if (id !== undefined) ids.push(id.toString('utf8'));
  }
  return ids;
}

/**
 * The last `lookback` messages of every partition of `topics` (all of them with
 * `lookback: Infinity`), read up to the end offsets taken at the start, in partition order.
 * The relay's read-back of the destination and of its audit topic.
 *
 * @throws VigilError `VIGIL_E_BUS_UNAVAILABLE` (retriable) when the topics cannot be read
 */
export async function readPartitionTails(o: DestinationTailOptions): Promise<BusMessage[]> {
  const admin = o.bus.admin();
  const todo = new Map<string, { topic: string; partition: number; from: number; end: number; at: number }>();
  try {
    for (const topic of o.topics) {
      const since = o.sinceMs === undefined ? undefined : new Map((await admin.offsetsAt(topic, o.sinceMs)).map((p) => [p.partition, parseOffset(p.offset)]));
      for (const p of await admin.offsets(topic)) {
        const start = parseOffset(p.start);
        const end = parseOffset(p.end);
        const from = Math.max(start, end - o.lookback, since?.get(p.partition) ?? start);
        if (end > from) todo.set(`${topic}\u0000${p.partition}`, { topic, partition: p.partition, from, end, at: from });
      }
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
  const got: BusMessage[] = [];
  if (todo.size === 0) return got;
  const consumer = o.bus.consumer({ groupId: `${o.groupPrefix}.reconcile.${randomBytes(6).toString('hex')}`, fromBeginning: false, maxWaitMs: 200 });
  let settle!: (err?: Error) => void;
  const finished = new Promise<void>((resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))));
  const stallMs = o.stallTimeoutMs ?? 30_000;
  let lastProgress = Date.now();
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > stallMs) settle(new VigilError('VIGIL_E_BUS_UNAVAILABLE', `reading back the tail of ${o.topics.join(', ')} made no progress for ${stallMs} ms (${todo.size} partition(s) left)`));
  }, Math.min(1000, stallMs));
  try {
    // The watchdog also bounds joining the group: a join over a cut link must not hang the relay.
    await Promise.race([consumer.subscribe([...new Set([...todo.values()].map((p) => p.topic))]), finished]);
    const running = consumer.run({
      onAssign: (parts) => {
        for (const tp of parts) {
          const p = todo.get(`${tp.topic}\u0000${tp.partition}`);
          if (p !== undefined) consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(p.from) });
        }
      },
      eachBatch: (batch) => {
        const k = `${batch.topic}\u0000${batch.partition}`;
        const p = todo.get(k);
        if (p === undefined) return;
        for (const m of batch.messages) {
          if (parseOffset(m.offset) >= p.end) break;
          got.push(m);
        }
        p.at = Math.max(p.at, parseOffset(batch.nextOffset));
        lastProgress = Date.now();
        if (p.at >= p.end) {
          todo.delete(k);
          if (todo.size === 0) settle();
        }
      },
      onError: (err) => settle(new VigilError('VIGIL_E_BUS_UNAVAILABLE', `reading back the tail of ${o.topics.join(', ')} stopped: ${err.message}`, { cause: err })),
    });
    running.catch((err: unknown) => settle(err instanceof Error ? err : new Error(String(err))));
    await finished;
  } finally {
    clearInterval(watchdog);
    await consumer.close().catch(() => undefined);
  }
  return got;
}
