import { randomUUID } from 'node:crypto';
import { parseOffset, type Bus, type BusConsumerOptions, type BusMessage } from '../bus';
import { VigilError } from '../errors';

/** A range of one changelog partition to read: [from, to). */
export interface PartitionRange {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

export interface ReadRangesOptions {
  readonly bus: Bus;
  readonly topic: string;
  readonly ranges: readonly PartitionRange[];
  /** Prefix of the private consumer group the reader joins (alone). */
  readonly groupPrefix: string;
  /** Fail when no message arrives for this long while a range is unfinished. */
  readonly stallTimeoutMs: number;
  readonly consumer?: Partial<BusConsumerOptions>;
  /** Called for every message in a range, in offset order per partition. */
  readonly onMessage: (m: BusMessage) => void;
}

/**
 * Reads chosen partitions of a topic between two offsets, through the `Bus` contract: a
 * consumer alone in a private group gets every partition, seeks the wanted ones to their
 * start and pauses the others. Empty ranges cost nothing (no consumer at all), which is
 * what makes a clean restart with no changelog tail fast.
 */
export async function readRanges(o: ReadRangesOptions): Promise<void> {
  const wanted = new Map<number, PartitionRange>();
  for (const r of o.ranges) if (parseOffset(r.to) > parseOffset(r.from)) wanted.set(r.partition, r);
  if (wanted.size === 0) return;
  const consumer = o.bus.consumer({ ...o.consumer, groupId: `${o.groupPrefix}.restore.${randomUUID()}`, fromBeginning: true, partitionsConsumedConcurrently: 1 });
  const remaining = new Set(wanted.keys());
  let finish: (err?: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = (err?: Error) => (err === undefined ? resolve() : reject(err));
  });
  let last = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - last > o.stallTimeoutMs) {
      finish(new VigilError('VIGIL_E_PIPELINE_FAILED', `changelog ${o.topic}: restore read made no progress for ${o.stallTimeoutMs} ms (partitions ${[...remaining].join(', ')} unfinished)`, { retriable: true, details: { topic: o.topic } }));
    }
  }, Math.min(1000, o.stallTimeoutMs));
  try {
    await consumer.subscribe([o.topic]);
    await consumer.run({
      onAssign: (parts) => {
        const pause = [];
        for (const p of parts) {
          const r = wanted.get(p.partition);
          if (r === undefined || !remaining.has(p.partition)) pause.push(p);
          else consumer.seek({ topic: o.topic, partition: p.partition, offset: r.from });
        }
        if (pause.length > 0) consumer.pause(pause);
      },
      eachBatch: (batch) => {
        const r = wanted.get(batch.partition);
        if (r === undefined || !remaining.has(batch.partition)) return;
        last = Date.now();
        const from = parseOffset(r.from);
        const to = parseOffset(r.to);
        for (const m of batch.messages) {
          const off = parseOffset(m.offset);
          if (off < from) continue;
          if (off >= to) break;
          o.onMessage(m);
        }
        if (parseOffset(batch.nextOffset) >= to) {
          remaining.delete(batch.partition);
          consumer.pause([{ topic: o.topic, partition: batch.partition }]);
          if (remaining.size === 0) finish();
        }
      },
      onError: (err) => finish(err),
    });
    await done;
  } finally {
    clearInterval(timer);
    await consumer.close().catch(() => undefined);
  }
}
