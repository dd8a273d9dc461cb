import type { OperatorFunction } from 'rxjs';

/**
 * A record travelling through a pipeline together with the event time assigned to it
 * (milliseconds since the epoch, taken from the record, never from the wall clock).
 */
export interface RecordEvent<T> {
  readonly kind: 'record';
  /** Event time in ms. */
  readonly time: number;
  readonly value: T;
}

/**
 * A watermark with time `W` says event time has reached `W`: a record with `time < W`
 * arriving from now on is late. Watermarks never go backwards.
 */
export interface WatermarkEvent {
  readonly kind: 'watermark';
  readonly time: number;
}

/** What flows between the event-time operators: records and watermarks, in one stream. */
export type StreamEvent<T> = RecordEvent<T> | WatermarkEvent;

/** Plain JSON data: what snapshots are made of, so a runtime can store them anywhere. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [k: string]: JsonValue };

/** Keys of keyed state: strings or numbers, so that snapshots stay plain JSON. */
export type StreamKey = string | number;

/** The bounds of a window: `[start, end)` in event-time ms. */
export interface WindowBounds {
  readonly start: number;
  readonly end: number;
}

/**
 * A pipeable operator that owns state which can be saved and restored (for checkpoints).
 * One instance serves one subscription at a time; its state lives in the instance, so
 * `snapshot()` may be called between any two events and `restore()` before subscribing.
 */
export interface StatefulOperator<I, O, S extends JsonValue = JsonValue> extends OperatorFunction<I, O> {
  /** A deep, JSON-serialisable copy of the operator's state. */
  snapshot(): S;
  /** Replaces the operator's state with a snapshot taken from an operator built alike. */
  restore(state: S): void;
}

/** A record wrapper constructor kept in one place so every operator emits the same shape. */
export function recordEvent<T>(time: number, value: T): RecordEvent<T> {
  return { kind: 'record', time, value };
}

export function watermark(time: number): WatermarkEvent {
  return { kind: 'watermark', time };
}
