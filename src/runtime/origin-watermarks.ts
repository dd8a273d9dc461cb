import { Observable, type OperatorFunction } from 'rxjs';
import type { JsonValue, StreamEvent } from '../stream';
import type { SourceRecord } from './source-record';
import type { PipelineReading, RepartitionedReading } from './types';

/**
 * Event time of a second-stage chain (a partition of `vigil.repartition.<pipeline>`). Its
 * input interleaves the re-keyed results of many first-stage chains, each sent when that
 * chain's own watermark let it through, so a watermark taken from the records (the newest
 * minus a bound) would run ahead of a lagging chain and make its results late. Instead each
 * first-stage chain reports its watermark after the results it sent (a mark), and the
 * second stage's watermark is the least mark of the chains it has heard from, minus `lag`:
 * what a merge of per-partition results needs (Flink's rule). A chain whose mark trails
 * the newest mark by more than `idleAfter` (it stopped getting data) no longer holds the
 * others back; whatever it sends later is late, and windows publish revisions. Every
 * source partition is expected (`origins`): one that has not reported yet holds the
 * watermark back until the newest mark is `idleAfter` past the first mark this chain saw
 * (a source partition may have no devices at all). All of this is event time, read from
 * the topic in order, so a re-read after a restore repeats it.
 */
export class OriginWatermarks {
  private readonly marks = new Map<string, number>();
  private first = -Infinity;
  private current = -Infinity;

  constructor(
    private readonly lag: number,
    private readonly idleAfter: number,
    origins: readonly string[],
  ) {
    for (const o of origins) this.marks.set(o, -Infinity);
  }

  /** Records become record events at their event time; marks may advance the watermark. */
  operator(): OperatorFunction<SourceRecord, StreamEvent<PipelineReading<RepartitionedReading>>> {
    return (source) =>
      new Observable((subscriber) =>
        source.subscribe({
          next: (r) => {
            if (r.type !== 'repartitioned') return;
            if (r.mark !== undefined) {
              const w = this.advance(r.deviceId, r.mark);
              if (w !== null) subscriber.next({ kind: 'watermark', time: w });
              return;
            }
            for (const reading of r.readings) subscriber.next({ kind: 'record', time: r.eventTimeMs, value: { deviceId: r.deviceId, seq: r.seq, timeMs: r.eventTimeMs, gatewayId: r.gatewayId, label: r.label, reading } });
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
  }

  /** The new watermark after `origin` reported `mark`, or null when it did not move. */
  private advance(origin: string, mark: number): number | null {
    if (mark <= (this.marks.get(origin) ?? -Infinity)) return null;
    this.marks.set(origin, mark);
    if (this.first === -Infinity) this.first = mark;
    let newest = -Infinity;
    for (const m of this.marks.values()) if (m > newest) newest = m;
    const waitForSilent = newest - this.first <= this.idleAfter;
    let least = Infinity;
    for (const m of this.marks.values()) if (m === -Infinity ? waitForSilent : m >= newest - this.idleAfter) least = Math.min(least, m);
    const w = least - this.lag;
    if (!Number.isFinite(w) || !(w > this.current)) return null;
    this.current = w;
    return w;
  }

  watermark(): number {
    return this.current;
  }

  snapshot(): JsonValue {
    const marks = [...this.marks].filter(([, m]) => Number.isFinite(m)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { marks, first: Number.isFinite(this.first) ? this.first : null, watermark: Number.isFinite(this.current) ? this.current : null };
  }

  restore(json: JsonValue): void {
    const j = json as { marks?: unknown; watermark?: unknown } | null;
    if (typeof j !== 'object' || j === null || !Array.isArray(j.marks) || !(j.watermark === null || typeof j.watermark === 'number')) throw new Error('not the watermark state of a second-stage chain');
    for (const o of this.marks.keys()) this.marks.set(o, -Infinity);
    const first = (j as { first?: unknown }).first;
    this.first = typeof first === 'number' ? first : -Infinity;
    for (const m of j.marks as unknown[]) {
      if (!Array.isArray(m) || typeof m[0] !== 'string' || typeof m[1] !== 'number') throw new Error('not the watermark state of a second-stage chain');
      this.marks.set(m[0], m[1]);
    }
    this.current = j.watermark ?? -Infinity;
  }
}
