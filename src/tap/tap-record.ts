import type { VigilRecord } from '../codec';

/** One opened record of a tapped stream, with where it came from on the bus. */
export interface TapRecord {
  /** The stream (topic) it was read from. */
  readonly stream: string;
  readonly partition: number;
  /** Offset in its partition, a decimal string (Kafka offsets are 64-bit). */
  readonly offset: string;
  /** The stream key id that sealed it (the `vigil-key-id` header). */
  readonly keyId: string;
  /** Bus timestamp (producer time), ms since the epoch. */
  readonly timestamp: number;
  readonly record: VigilRecord;
}

/** `T` as `JSON.stringify` of `tapRecordJson` writes it: bigints (sequence numbers) become decimal strings. */
export type Jsonified<T> = T extends bigint
  ? string
  : T extends readonly (infer U)[]
    ? Jsonified<U>[]
    : T extends object
      ? { -readonly [K in keyof T]: Jsonified<T[K]> }
      : T;

/**
 * What the WebSocket tap sends and `vigil tap --json` prints, one per record: the same shape
 * in both places, so a client written against one works against the other.
 */
export interface TapRecordJson {
  readonly type: 'record';
  readonly stream: string;
  readonly partition: number;
  readonly offset: string;
  readonly keyId: string;
  readonly timestamp: number;
  readonly record: Jsonified<VigilRecord>;
}

/**
 * A tapped record as plain JSON data (sequence numbers as decimal strings, since JSON numbers
 * lose u64 precision).
 *
 * @example
 * socket.send(JSON.stringify(tapRecordJson(r)));
 */
export function tapRecordJson(r: TapRecord): TapRecordJson {
  return { type: 'record', stream: r.stream, partition: r.partition, offset: r.offset, keyId: r.keyId, timestamp: r.timestamp, record: jsonify(r.record) };
}

function jsonify<T>(value: T): Jsonified<T> {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Jsonified<T>;
}
