import { Subject, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { JsonValue, RecordEvent, StatefulOperator, WatermarkEvent } from '../../src/stream';

export const rec = <T>(time: number, value: T): RecordEvent<T> => ({ kind: 'record', time, value });
export const wm = (time: number): WatermarkEvent => ({ kind: 'watermark', time });

export function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Pushes inputs synchronously through an operator and returns what came out, in order. */
export function runSync<I, O>(op: OperatorFunction<I, O>, inputs: readonly I[], complete = true): O[] {
  const src = new Subject<I>();
  const out: O[] = [];
  const sub = src.pipe(op).subscribe({ next: (o) => out.push(o) });
  for (const i of inputs) src.next(i);
  if (complete) src.complete();
  sub.unsubscribe();
  return out;
}

/**
 * Runs `inputs` through one operator uninterrupted, and again through an operator that
 * is snapshotted after `cut` inputs, serialised to JSON text, restored into a fresh
 * instance and fed the rest. Returns both outputs for comparison.
 */
export function checkpointRun<I, O, S extends JsonValue>(
  make: () => StatefulOperator<I, O, S>,
  inputs: readonly I[],
  cut: number,
): { uninterrupted: O[]; restored: O[]; snapshot: S } {
  const uninterrupted = runSync(make(), inputs);
  const first = make();
  const before = runSync(first, inputs.slice(0, cut), false);
  const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as S;
  const second = make();
  second.restore(snapshot);
  const after = runSync(second, inputs.slice(cut));
  return { uninterrupted, restored: [...before, ...after], snapshot };
}
