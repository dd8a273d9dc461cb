import { randomBytes } from 'node:crypto';
import { nextOffset, type Bus, type BusBatch, type BusConsumer, type BusMessage, type TopicPartition } from '../bus';
import { RECORD_KEY_ID_HEADER, RecordCodec } from '../codec';
import type { StreamKeyring } from '../crypto';
import { isVigilError, VigilError, type VigilErrorCode } from '../errors';
import type { TapRecord } from './tap-record';

/** Kafka topic names: what a stream name may be. */
const STREAM_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;

/** A record of the stream that could not be opened: counted and reported, never shown. */
export interface TapUnreadable {
  readonly stream: string;
  readonly partition: number;
  readonly offset: string;
  /** The key id it names, or null when it has no `vigil-key-id` header. */
  readonly keyId: string | null;
  /** Why: `VIGIL_E_KEY_UNKNOWN` (a key you do not hold), `VIGIL_E_RECORD_AUTH`, `VIGIL_E_RECORD_INVALID`, … */
  readonly code: VigilErrorCode;
  readonly message: string;
}

/** Counters of a tap. */
export interface StreamTapStats {
  /** Records opened and handed out. */
  readonly records: number;
  /** Records that could not be opened, in all. */
  readonly unreadable: number;
  /** Unreadable records by error code. */
  readonly unreadableByCode: Readonly<Partial<Record<VigilErrorCode, number>>>;
  /** Tombstones (null values) skipped: a compacted reader's deletes, not records. */
  readonly tombstones: number;
  /** Times the consumer was rebuilt after a retriable bus failure (resuming where it was). */
  readonly restarts: number;
}

/** Options of `StreamTap.open`. */
export interface StreamTapOptions {
  readonly bus: Bus;
  /** The stream (topic) to read, e.g. `derived.vitals` or `telemetry.position`. */
  readonly stream: string;
  /** The analyst's stream keys; only records sealed under one of them are shown. */
  readonly keyring: StreamKeyring;
  /** Start at the oldest record the bus keeps instead of only records produced after `open` resolves. Default false. */
  readonly fromBeginning?: boolean;
  /**
   * Start at the first record produced at or after this time (ms since the epoch; the bus
   * timestamp), per partition: a bounded replay ("the last hour") that never reads what came
   * before. Takes precedence over `fromBeginning`.
   */
  readonly fromTimestampMs?: number;
  /**
   * Consumer group. Default `vigil.tap.<stream>.<random>`: a private group, so a tap never
   * takes partitions away from another reader (a pipeline, another analyst). A tap never commits.
   */
  readonly groupId?: string;
  /**
   * Receives each opened record, in order per partition. Awaited: a slow handler slows the
   * tap's reading (backpressure), it never piles records up in memory.
   */
  readonly onRecord: (record: TapRecord) => void | Promise<void>;
  /** Told about each record that cannot be opened (also counted in `stats()`). Default: ignored. */
  readonly onUnreadable?: (unreadable: TapUnreadable) => void;
  /**
   * The tap stopped on this error: `VIGIL_E_TAP_NO_KEY` when the stream's first records are
   * sealed under a key the analyst lacks, or a bus failure. `done()` rejects with it too.
   */
  readonly onError?: (err: VigilError) => void;
  /** Kafka: longest a fetch waits for new data. Default 500 ms (live reading). */
  readonly maxWaitMs?: number;
  /** Retriable bus failures survived in a row (each rebuilds the consumer, with backoff) before the tap stops. Default 8. */
  readonly maxRestarts?: number;
}

/**
 * A live reader of one sealed stream for an analyst: a private consumer group over the
 * stream, each record opened with the analyst's keyring (docs/wire-format.md §7) and handed
 * out decoded. Need-to-know by cryptography (docs/architecture.md §3): a record under a key id the
 * analyst does not hold is never shown; when the stream's first records name such a key the
 * tap stops with `VIGIL_E_TAP_NO_KEY` naming the stream, that key id and the ones held. A
 * record that fails to open (changed bytes, wrong key bytes under a held id, malformed) is
 * counted and reported, and reading goes on.
 *
 * @example
 * const tap = await StreamTap.open({
 *   bus, stream: 'derived.vitals', keyring: new StreamKeyring([await readStreamKeyFile('vitals.key.json')]),
 *   onRecord: (r) => console.log(r.record),
 * });
 * process.once('SIGINT', () => void tap.close());
 * await tap.done();
 */
export class StreamTap {
  private readonly codec = new RecordCodec();
  private readonly byCode: Partial<Record<VigilErrorCode, number>> = {};
  private records = 0;
  private unreadable = 0;
  private tombstones = 0;
  private restarts = 0;
  private failuresInRow = 0;
  /** Next offset per partition read so far: where a rebuilt consumer resumes. */
  private readonly positions = new Map<string, TopicPartition & { offset: string }>();
  private consumer!: BusConsumer;
  private readonly groupId: string;
  private failure: VigilError | undefined;
  private closing: Promise<void> | undefined;
  private settle!: { resolve: () => void; reject: (err: VigilError) => void };
  private readonly finished: Promise<void>;

  private constructor(private readonly options: StreamTapOptions) {
    this.groupId = options.groupId ?? `vigil.tap.${options.stream}.${randomBytes(6).toString('hex')}`;
    this.finished = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // done() may never be awaited (e.g. a WebSocket client's tap); onError reports instead.
    this.finished.catch(() => undefined);
  }

  /**
   * Joins the stream and starts reading; resolves once the tap is positioned, so a record
   * produced after this resolves is seen (also when starting from the latest record).
   *
   * @throws VigilError `VIGIL_E_TAP_OPTIONS`, `VIGIL_E_BUS_TOPIC_UNKNOWN` (no such stream), bus errors
   */
  static async open(options: StreamTapOptions): Promise<StreamTap> {
    checkOptions(options);
    const tap = new StreamTap(options);
    if (options.fromTimestampMs !== undefined) await tap.positionAt(options.fromTimestampMs);
    await tap.connect();
    return tap;
  }

  /** The stream this tap reads. */
  get stream(): string {
    return this.options.stream;
  }

  stats(): StreamTapStats {
    return { records: this.records, unreadable: this.unreadable, unreadableByCode: { ...this.byCode }, tombstones: this.tombstones, restarts: this.restarts };
  }

  /** Resolves when the tap is closed; rejects with the error that stopped it. */
  done(): Promise<void> {
    return this.finished;
  }

  /** Leaves the stream (the private group empties; nothing was committed). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.consumer.close().catch(() => undefined).finally(() => {
      if (this.failure === undefined) this.settle.resolve();
    });
    return this.closing;
  }

  /** Where each partition starts for `fromTimestampMs`: taken as the positions a rebuilt consumer resumes at. */
  private async positionAt(timestampMs: number): Promise<void> {
    const { bus, stream } = this.options;
    const admin = bus.admin();
    try {
      for (const p of await admin.offsetsAt(stream, timestampMs)) this.positions.set(`${stream}:${p.partition}`, { topic: stream, partition: p.partition, offset: p.offset });
    } catch (err) {
      if (isVigilError(err, 'VIGIL_E_BUS_TOPIC_UNKNOWN')) throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `stream ${stream} does not exist on the bus`, { details: { stream }, cause: err });
      throw err;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  /** Builds the consumer, joins, and resumes known partitions where they were (after a restart). */
  private async connect(): Promise<void> {
    const { bus, stream } = this.options;
    const consumer = bus.consumer({
      groupId: this.groupId,
      fromBeginning: this.options.fromBeginning === true || this.options.fromTimestampMs !== undefined,
      maxWaitMs: this.options.maxWaitMs ?? 500,
      // A tap holds no state: a short session lets an abandoned tap's group empty quickly.
      sessionTimeoutMs: 10_000,
    });
    this.consumer = consumer;
    try {
      await consumer.subscribe([stream]);
    } catch (err) {
      await consumer.close().catch(() => undefined);
      if (isVigilError(err, 'VIGIL_E_BUS_TOPIC_UNKNOWN')) {
        throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `stream ${stream} does not exist on the bus`, { details: { stream }, cause: err });
      }
      throw err;
    }
    try {
      await consumer.run({
        onAssign: (parts) => {
          for (const p of parts) {
            const at = this.positions.get(`${p.topic}:${p.partition}`);
            if (at !== undefined) consumer.seek(at);
          }
        },
        eachBatch: (batch) => this.eachBatch(batch),
        onError: (err) => this.crashed(consumer, toVigilError(err)),
      });
    } catch (err) {
      await consumer.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The consumer stopped. A retriable bus failure (a coordinator still loading, a broker
   * moving) rebuilds it after a backoff, resuming each partition at the next unread offset,
   * so an analyst's live view survives what a pipeline worker would be restarted for.
   */
  private crashed(consumer: BusConsumer, err: VigilError): void {
    if (consumer !== this.consumer || this.failure !== undefined || this.closing !== undefined) return;
    if (!err.retriable || err.code === 'VIGIL_E_TAP_NO_KEY' || this.failuresInRow >= (this.options.maxRestarts ?? 8)) {
      this.fail(err);
      return;
    }
    const delay = Math.min(250 * 2 ** this.failuresInRow++, 10_000);
    this.restarts++;
    setTimeout(() => {
      if (this.closing !== undefined || this.failure !== undefined) return;
      void consumer
        .close()
        .catch(() => undefined)
        .then(() => (this.closing === undefined ? this.connect() : undefined))
        .catch((again: unknown) => this.crashed(this.consumer, toVigilError(again)));
    }, delay).unref();
  }

  private async eachBatch(batch: BusBatch): Promise<void> {
    for (const m of batch.messages) {
      if (this.failure !== undefined || this.closing !== undefined) return;
      await this.handle(m);
      this.positions.set(`${m.topic}:${m.partition}`, { topic: m.topic, partition: m.partition, offset: nextOffset(m.offset) });
    }
    this.failuresInRow = 0;
  }

  private async handle(m: BusMessage): Promise<void> {
    if (m.value === null) {
      this.tombstones++;
      return;
    }
    const header = m.headers[RECORD_KEY_ID_HEADER];
    const keyId = header === undefined ? null : header.toString('utf8');
    if (keyId === null) {
      this.count(m, null, new VigilError('VIGIL_E_RECORD_INVALID', `no ${RECORD_KEY_ID_HEADER} header`, { details: { field: RECORD_KEY_ID_HEADER } }));
      return;
    }
    const { keyring, stream } = this.options;
    if (!keyring.has(keyId)) {
      if (this.records === 0) {
        // Nothing shown yet: the analyst tapped a stream whose key they lack. Say so at once
        // rather than wait silently on records they can never read.
        const held = keyring.ids();
        throw new VigilError(
          'VIGIL_E_TAP_NO_KEY',
          `stream ${stream} is sealed under key ${keyId}; your key files hold: ${held.length > 0 ? held.join(', ') : 'no keys'}`,
          { details: { stream, keyId, held } },
        );
      }
      this.count(m, keyId, new VigilError('VIGIL_E_KEY_UNKNOWN', `sealed under key ${keyId}, which you do not hold`, { details: { keyId } }));
      return;
    }
    let record;
    try {
      record = this.codec.open(m.value, keyring.get(keyId));
    } catch (err) {
      this.count(m, keyId, toVigilError(err));
      return;
    }
    this.records++;
    await this.options.onRecord({ stream: m.topic, partition: m.partition, offset: m.offset, keyId, timestamp: m.timestamp, record });
  }

  private count(m: BusMessage, keyId: string | null, err: VigilError): void {
    this.unreadable++;
    this.byCode[err.code] = (this.byCode[err.code] ?? 0) + 1;
    this.options.onUnreadable?.({ stream: m.topic, partition: m.partition, offset: m.offset, keyId, code: err.code, message: err.message });
  }

  private fail(err: VigilError): void {
    if (this.failure !== undefined || this.closing !== undefined) return;
    this.failure = err;
    this.options.onError?.(err);
    this.settle.reject(err);
    // Deferred: the consumer reports from inside the batch that failed, and closing waits for it.
    setImmediate(() => void this.close());
  }
}

function checkOptions(o: StreamTapOptions): void {
  const bad = (option: string, message: string): VigilError =>
    new VigilError('VIGIL_E_TAP_OPTIONS', `tap option ${option}: ${message}`, { details: { option } });
  if (typeof o !== 'object' || o === null) throw bad('options', 'must be an object');
  if (typeof o.stream !== 'string' || !STREAM_PATTERN.test(o.stream)) throw bad('stream', `must be a topic name (${String(STREAM_PATTERN)}), got ${JSON.stringify(o.stream)}`);
  if (typeof o.onRecord !== 'function') throw bad('onRecord', 'must be a function');
  if (o.fromTimestampMs !== undefined && !(Number.isSafeInteger(o.fromTimestampMs) && o.fromTimestampMs >= 0)) throw bad('fromTimestampMs', `must be ms since the epoch, got ${String(o.fromTimestampMs)}`);
  if (o.keyring === undefined || typeof o.keyring.has !== 'function') throw bad('keyring', 'must be a StreamKeyring');
  if (o.keyring.ids().length === 0) throw bad('keyring', 'holds no keys; give at least one stream key file');
}

function toVigilError(err: unknown): VigilError {
  if (isVigilError(err)) return err;
  return new VigilError('VIGIL_E_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}
