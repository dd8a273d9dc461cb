import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import { lz4FrameSize, type Bus, type BusBatch, type BusConsumer, type BusMessage, type BusProducer, type OutgoingMessage } from '../bus';
import { RecordCodec } from '../codec';
import type { Spool, SpoolBatch, SpoolEntry, SpoolPriority } from '../edge/spool';
import { isVigilError, VigilError } from '../errors';
import { DeliveredLedger } from './delivered-ledger';
import { readDestinationTail } from './destination-tail';
import type { RelayPolicy } from './policy';
import type { RelayStreamKeys } from './relay-keys';
import type { RelayAuditSink } from './release-audit';
import { RELAY_WITHHELD_REASONS, type RelayLinkState, type RelayStats, type RelayWithheldReason } from '../instrument';
import { RELAY_ID_HEADER, StreamReleaser, type ReleaseOutcome } from './release';
import { ReleaseThread, type ReleaseLease } from './release-thread';
import { unpackReleaseResult } from './release-wire';
import { TokenBucket } from './token-bucket';

/** Options of `Relay`. Defaults beside each. */
export interface RelayOptions {
  readonly policy: RelayPolicy;
  /** Keys per source stream (`loadRelayKeys`). */
  readonly keys: ReadonlyMap<string, RelayStreamKeys>;
  /** The theatre's bus: source streams are read from it. */
  readonly source: Bus;
  /** The destination's (command) bus: released records are written to it. */
  readonly destination: Bus;
  /** The durable queue between the two (a `FileSpool` in production; shedding as it was opened with). */
  readonly spool: Spool;
  /** `kafka.topicPrefix` of the theatre: sources are `<prefix><source>`, the consumer group `<prefix>vigil.relay.<name>`. Default ''. */
  readonly topicPrefix?: string;
  /** Link budget, bytes per second after compression; 0 = unlimited. Default 0. */
  readonly maxBytesPerSecond?: number;
  /** `deflate`: released records are compressed before sealing (record version 2: every reader at the destination must read it). Default 'none'. */
  readonly recordCompression?: 'none' | 'deflate';
  /** What the destination producer compresses with (for the byte accounting and budget). Default 'none'. */
  readonly compression?: 'none' | 'gzip' | 'lz4';
  /** Most records per batch sent. Default 2000 without a budget (`maxBytesPerSecond` 0), 500 with one. */
  readonly batchMaxRecords?: number;
  /** Most record bytes per batch sent. Default 900 KiB without a budget, 256 KiB with one. */
  readonly batchMaxBytes?: number;
  /** Partitions of destination topics the relay creates. Default 1. */
  readonly destinationPartitions?: number;
  /** Retry delays after a failed send or read-back, ms. Defaults 200 and 5,000. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Clock, ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Told every decision, shed and delivery (the signed release summaries, `ReleaseAudit`). */
  readonly audit?: RelayAuditSink;
  /** Operational events (link changes, failures), for the log. */
  readonly onEvent?: (event: RelayEvent) => void;
  /**
   * Open, judge and re-seal records on a `worker_threads` thread of their own while this one
   * fetches, queues and sends (`ReleaseThread`): worth it with a spare core. Default false.
   */
  readonly releaseThread?: boolean;
}

/** What the relay tells its log. */
export interface RelayEvent {
  readonly event: 'link' | 'send-failed' | 'reconciled' | 'source-failed' | 'release-thread-failed';
  readonly link: RelayLinkState;
  readonly message?: string;
  /** The error code of a failure (`VIGIL_E_BUS_DENIED`: the destination's ACLs refuse the relay). */
  readonly code?: string;
  readonly records?: number;
}

interface Counters {
  relayed: number;
  queued: number;
  withheld: Record<RelayWithheldReason, number>;
  sampled: number;
  redactedFields: number;
  duplicatesSkipped: number;
  shed: Record<SpoolPriority, number>;
  bytesBeforeCompression: number;
  bytesAfterCompression: number;
  sendFailures: number;
  reconciliations: number;
}

const gzipAsync = promisify(gzip);

/** How far before a failed send the read-back looks by time: a wall clock stepped back by less is covered. */
const TIMESTAMP_MARGIN_MS = 1000;

function positiveInt(name: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new VigilError('VIGIL_E_RELAY_OPTIONS', `relay option ${name} must be an integer ≥ ${min}, got ${String(v)}`, { details: { option: name } });
  return v;
}

/**
 * `vigil relay`'s engine: reads the policy's source streams from the theatre, releases what
 * the policy allows (label within the destination ceiling, sampled, redacted, re-sealed
 * under the relay key) into a durable queue, commits the source offsets once the queue holds
 * them, and drains the queue to the destination, flash first, within the bandwidth budget.
 * A send whose outcome is unknown (cut link, restart) is followed by reading back the
 * destination's tail, so what the destination acknowledged or holds is not sent again
 * (docs/relay.md: guarantees).
 */
export class Relay {
  private readonly codec = new RecordCodec();
  private readonly releasers = new Map<string, StreamReleaser>();
  /** Index of each source topic's stream in the policy (the release thread's numbering). */
  private readonly streamIndex = new Map<string, number>();
  private thread: ReleaseLease | undefined;
  private threadFailureTold = false;
  private readonly ledger = new DeliveredLedger();
  private readonly bucket: TokenBucket;
  private readonly now: () => number;
  private readonly c: Counters;
  private readonly batchMaxRecords: number;
  private readonly batchMaxBytes: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly destinations: string[];
  private consumer: BusConsumer | undefined;
  private producer: BusProducer | undefined;
  private linkState: RelayLinkState = 'starting';
  private stopped = false;
  private readonly quit = new AbortController();
  private wake: (() => void) | undefined;
  private sender: Promise<void> | undefined;
  private sourceError: Error | undefined;
  private sourceRestart: Promise<void> | undefined;
  private topicsEnsured = false;
  /** The destination topics keep the timestamps their writer sets (CreateTime, Kafka's default). */
  private ownTimestamps = true;
  private readonly budgeted: boolean;

  constructor(private readonly o: RelayOptions) {
    this.now = o.now ?? Date.now;
    // A fast link (no budget) takes big batches: the destination's cost per request is then shared
    // by more records. A budgeted (slow) link smaller ones: each is a read-back's worth after a cut.
    const budget = positiveInt('maxBytesPerSecond', o.maxBytesPerSecond, 0, 0);
    this.batchMaxRecords = positiveInt('batchMaxRecords', o.batchMaxRecords, budget > 0 ? 500 : 2000, 1);
    this.batchMaxBytes = positiveInt('batchMaxBytes', o.batchMaxBytes, (budget > 0 ? 256 : 900) * 1024, 1);
    this.retryMinMs = positiveInt('retryMinMs', o.retryMinMs, 200, 1);
    this.retryMaxMs = positiveInt('retryMaxMs', o.retryMaxMs, 5000, this.retryMinMs);
    this.bucket = new TokenBucket(budget, this.now);
    this.budgeted = budget > 0;
    for (const s of o.policy.streams) {
      const keys = o.keys.get(s.source);
      if (keys === undefined) throw new VigilError('VIGIL_E_RELAY_OPTIONS', `relay option keys has no keys for stream ${s.source}`, { details: { option: 'keys' } });
      this.releasers.set((o.topicPrefix ?? '') + s.source, new StreamReleaser(s, keys, o.policy.destination.ceiling, this.codec, this.now, o.recordCompression ?? 'none'));
      this.streamIndex.set((o.topicPrefix ?? '') + s.source, this.streamIndex.size);
    }
    this.destinations = o.policy.streams.map((s) => s.destination);
    this.c = {
      relayed: 0,
      queued: 0,
      withheld: Object.fromEntries(RELAY_WITHHELD_REASONS.map((r) => [r, 0])) as Record<RelayWithheldReason, number>,
      sampled: 0,
      redactedFields: 0,
      duplicatesSkipped: 0,
      shed: { flash: 0, immediate: 0, routine: 0 },
      bytesBeforeCompression: 0,
      bytesAfterCompression: 0,
      sendFailures: 0,
      reconciliations: 0,
    };
  }

  /** Counts an entry the queue shed (pass as the spool's `onDrop`). */
  readonly onShed = (e: { reason: string; priority: SpoolPriority; deviceId: string }): void => {
    if (e.reason !== 'shed') return;
    this.c.shed[e.priority]++;
    // A queued record's deviceId is `<destination topic>/<key>` (StreamReleaser).
    this.o.audit?.shed(e.deviceId.slice(0, e.deviceId.indexOf('/')), e.priority);
  };

  /**
   * Starts the sender (it first reads back the destination's tail: the queue may hold
   * records sent before a restart) and joins the theatre consumer group.
   *
   * @throws VigilError `VIGIL_E_RELAY_POLICY` when a source stream does not exist on the theatre
   */
  async start(): Promise<void> {
    if (this.o.releaseThread === true) {
      this.thread = await ReleaseThread.open({
        streams: this.o.policy.streams.map((s) => {
          const keys = this.o.keys.get(s.source) as RelayStreamKeys;
          return { policy: s, sourceKeys: keys.source.ids().map((id) => keys.source.get(id)), relayKey: keys.relay };
        }),
        ceiling: this.o.policy.destination.ceiling,
        recordCompression: this.o.recordCompression ?? 'none',
      });
    }
    this.producer = this.o.destination.producer({ maxBatchMessages: this.batchMaxRecords, maxBatchBytes: Math.max(this.batchMaxBytes * 2, 1024 * 1024) });
    // A queue that fails (disk I/O) stops the sender for good: reported like a stopped source, never an unhandled rejection.
    this.sender = this.sendLoop().catch((err: unknown) => {
      if (this.stopped) return;
      this.sourceError ??= err instanceof Error ? err : new Error(String(err));
      this.setLink('down', `the relay queue failed: ${this.sourceError.message}`);
    });
    await this.startSource();
  }

  /** Joins the theatre consumer group and starts reading. A retriable failure of the consumer later restarts it (`sourceFailed`). */
  private async startSource(): Promise<void> {
    const prefix = this.o.topicPrefix ?? '';
    const consumer = this.o.source.consumer({ groupId: `${prefix}vigil.relay.${this.o.policy.name}`, fromBeginning: true });
    this.consumer = consumer;
    try {
      await consumer.subscribe([...this.releasers.keys()]);
    } catch (err) {
      if (isVigilError(err) && err.code === 'VIGIL_E_BUS_TOPIC_UNKNOWN') {
        throw new VigilError('VIGIL_E_RELAY_POLICY', `relay policy: a source stream does not exist on the theatre: ${err.message}`, { cause: err });
      }
      throw err;
    }
    await consumer.run({
      eachBatch: (batch) => this.admit(batch, consumer),
      onError: (err) => this.sourceFailed(consumer, err),
    });
  }

  /**
   * The theatre consumer stopped. A retriable cause (the group coordinator still loading on a
   * fresh broker, a broker away) restarts it from the last commit after a backoff: what was
   * read and not committed is read again, and the queue or the ledger drops what it already
   * holds. Anything else stops the relay's intake for good (readiness reports it).
   */
  private sourceFailed(consumer: BusConsumer, err: Error): void {
    this.o.onEvent?.({ event: 'source-failed', link: this.linkState, message: err.message });
    if (this.stopped || consumer !== this.consumer || this.sourceRestart !== undefined) return;
    if (!isVigilError(err) || !err.retriable) {
      this.sourceError = err;
      return;
    }
    this.sourceRestart = (async () => {
      await consumer.close().catch(() => undefined);
      for (let delay = this.retryMinMs; !this.stopped; delay = Math.min(delay * 2, this.retryMaxMs)) {
        await this.sleep(delay);
        if (this.stopped) return;
        try {
          await this.startSource();
          return;
        } catch (e) {
          await this.consumer?.close().catch(() => undefined);
          const error = e instanceof Error ? e : new Error(String(e));
          this.o.onEvent?.({ event: 'source-failed', link: this.linkState, message: error.message });
          if (!isVigilError(e) || !e.retriable) {
            this.sourceError = error;
            return;
          }
        }
      }
    })().finally(() => (this.sourceRestart = undefined));
  }

  /** The error the theatre consumer or the sender stopped on, if one did: the relay no longer moves records. */
  get failure(): Error | undefined {
    return this.sourceError;
  }

  stats(): RelayStats {
    const s = this.o.spool.stats();
    return {
      link: this.linkState,
      ...this.c,
      withheld: { ...this.c.withheld },
      shed: { ...this.c.shed },
      backlogRecords: s.entries,
      backlogBytes: s.bytes,
      backlogOldestAgeMs: s.oldestAgeMs,
    };
  }

  /** Stops reading, lets the batch in flight finish, stops the sender. The queue keeps what was not delivered. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.consumer?.close().catch(() => undefined);
    this.quit.abort();
    this.wake?.();
    await this.sourceRestart;
    await this.consumer?.close().catch(() => undefined);
    await this.sender;
    await this.producer?.close().catch(() => undefined);
    this.thread?.close();
  }

  /** One source batch: decide each record, queue the released ones durably, then commit. */
  private async admit(batch: BusBatch, consumer: BusConsumer): Promise<void> {
    const releaser = this.releasers.get(batch.topic);
    if (releaser === undefined) return;
    // A fetch brings up to a MiB per partition (thousands of records). Taken a send batch at a
    // time, queued, and the event loop let go between chunks, the sender's acknowledgements
    // and next sends interleave with the work instead of waiting for the whole fetch. With a
    // release thread, every chunk is handed to it at once and this thread queues each as it comes back.
    const messages = batch.messages;
    const chunks: Array<Promise<ReleaseOutcome[]> | undefined> = [];
    for (let from = 0; from < messages.length; from += this.batchMaxRecords) chunks.push(this.releaseOnThread(releaser, batch.topic, messages, from, Math.min(messages.length, from + this.batchMaxRecords)));
    for (let k = 0; k < chunks.length; k++) {
      const from = k * this.batchMaxRecords;
      const to = Math.min(messages.length, from + this.batchMaxRecords);
      let outcomes: readonly ReleaseOutcome[];
      const onThread = chunks[k];
      if (onThread !== undefined) outcomes = await onThread;
      else {
        if (k > 0) await yieldToLoop();
        outcomes = this.releaseHere(releaser, messages, from, to);
      }
      const entries: SpoolEntry[] = [];
      for (const out of outcomes) {
        this.o.audit?.decided(releaser.stream.source, out);
        if (out.verdict === 'release') {
          entries.push(out.entry);
          this.c.redactedFields += out.redacted.length;
        } else if (out.verdict === 'withheld') this.c.withheld[out.reason]++;
        else this.c.sampled++;
      }
      if (entries.length > 0) {
        await this.appendDurably(entries);
        this.c.queued += entries.length;
        this.wake?.();
      }
    }
    // Only now: what was consumed is either in the durable queue or deliberately not relayed.
    await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }]);
  }

  private releaseHere(releaser: StreamReleaser, messages: readonly BusMessage[], from: number, to: number): ReleaseOutcome[] {
    const out: ReleaseOutcome[] = [];
    for (let i = from; i < to; i++) out.push(releaser.release(messages[i] as BusMessage));
    return out;
  }

  /** The chunk's outcomes from the release thread, or undefined without one; a thread that fails hands its work back to this one for good. */
  private releaseOnThread(releaser: StreamReleaser, topic: string, messages: readonly BusMessage[], from: number, to: number): Promise<ReleaseOutcome[]> | undefined {
    const thread = this.thread;
    if (thread === undefined) return undefined;
    if (thread.failure !== undefined) {
      this.threadFailed(thread.failure);
      return undefined;
    }
    return thread.release(this.streamIndex.get(topic) as number, messages, from, to).then(
      (result) => unpackReleaseResult(result, to - from, releaser.stream.destination, this.now()),
      (err: unknown) => {
        this.threadFailed(err as Error);
        return this.releaseHere(releaser, messages, from, to);
      },
    );
  }

  private threadFailed(err: Error): void {
    if (this.threadFailureTold || this.stopped) return;
    this.threadFailureTold = true;
    this.o.onEvent?.({ event: 'release-thread-failed', link: this.linkState, message: `${err.message}; releasing on the relay's own thread` });
  }

  /** A full queue that cannot shed (flash only) holds the source back: nothing is committed until it takes the records. */
  private async appendDurably(entries: readonly SpoolEntry[]): Promise<void> {
    for (;;) {
      try {
        await this.o.spool.append(entries);
        return;
      } catch (err) {
        if (!isVigilError(err) || !err.retriable || this.stopped) throw err;
        await this.sleep(this.retryMinMs);
      }
    }
  }

  private setLink(state: RelayLinkState, message?: string): void {
    if (state === this.linkState) return;
    this.linkState = state;
    this.o.onEvent?.({ event: 'link', link: state, ...(message === undefined ? {} : { message }) });
  }

  /** Waits `ms`, or less when stopped. */
  private async sleep(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.quit.signal }).catch(() => undefined);
  }

  /** The sender's wait: `ms` at most, less when new records are queued or the relay stops. */
  private idle(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async sendLoop(): Promise<void> {
    // At start the queue may hold records sent before a crash whose acknowledgement was lost.
    let uncertain = true;
    // How far back to read: at start, any batch of a previous run (at most batchMaxRecords); after
    // a failed send, that batch only. Twice that, for margin. On a slow link the read-back is
    // paid in download time before the backlog can drain.
    let lookback = this.batchMaxRecords * 2;
    // After a failed send: when it started. Its records, if any landed, carry later timestamps,
    // so the read-back needs only what is that recent (often nothing: no consumer group to join).
    let failedSince: number | undefined;
    let delay = this.retryMinMs;
    const fail = async (what: string, err: unknown): Promise<void> => {
      this.setLink('down', `${what}: ${(err as Error).message}`);
      this.o.onEvent?.({ event: 'send-failed', link: 'down', message: `${what}: ${(err as Error).message}`, ...(isVigilError(err) ? { code: err.code } : {}) });
      await this.sleep(delay);
      delay = Math.min(delay * 2, this.retryMaxMs);
    };
    while (!this.stopped) {
      if (uncertain) {
        this.setLink('reconciling');
        // The producer connects while the destination is read back: over a slow link each costs round trips.
        void this.producer?.connect?.().catch(() => undefined);
        try {
          await this.reconcile(lookback, failedSince);
          uncertain = false;
          failedSince = undefined;
          delay = this.retryMinMs;
          this.setLink('up');
        } catch (err) {
          await fail('reading back the destination', err);
          continue;
        }
      }
      let batch: SpoolBatch | null;
      try {
        batch = await this.o.spool.peek({ maxEntries: this.batchMaxRecords, maxBytes: this.batchMaxBytes });
      } catch (err) {
        if (this.stopped) return;
        throw err;
      }
      if (batch === null) {
        await this.idle(1000);
        continue;
      }
      // The producer stamps records with this clock (CreateTime); a margin for a clock stepped back.
      const sendStartedAt = Date.now() - TIMESTAMP_MARGIN_MS;
      try {
        await this.deliver(batch);
      } catch (err) {
        this.o.spool.nack(batch);
        this.c.sendFailures++;
        uncertain = true;
        lookback = batch.entries.length * 2;
        failedSince = sendStartedAt;
        if (this.stopped) return;
        await fail('send', err);
        continue;
      }
      this.o.spool.ack(batch);
      // The removal is durable before the next send: a restart then re-reads at most one batch's worth.
      await this.o.spool.flush();
      delay = this.retryMinMs;
      this.setLink('up');
    }
  }

  /** Sends the batch's entries the destination does not hold yet, within the budget. */
  private async deliver(batch: SpoolBatch): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    const ids: string[] = [];
    const inBatch = new Set<string>();
    const chunks: Buffer[] = [];
    // Without a budget, a bus that counts its bytes needs no estimate (the sockets measure what was sent).
    const compressed = this.o.compression === 'gzip' || this.o.compression === 'lz4';
    const estimating = compressed && (this.budgeted || this.o.destination.bytesSent === undefined);
    let raw = 0;
    for (const e of batch.entries) {
      const id = e.headers?.[RELAY_ID_HEADER]?.toString() ?? '';
      // A record queued twice (read again after a source restart) may sit twice in one batch.
      if (id !== '' && (this.ledger.has(id) || inBatch.has(id))) {
        this.c.duplicatesSkipped++;
        continue;
      }
      ids.push(id);
      if (id !== '') inBatch.add(id);
      let list = byTopic.get(e.topic);
      if (list === undefined) byTopic.set(e.topic, (list = []));
      list.push({ key: e.key ?? null, value: e.value, ...(e.headers === undefined ? {} : { headers: e.headers }) });
      const headerBytes = Object.entries(e.headers ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
      raw += e.value.length + (e.key?.length ?? 0) + headerBytes;
      if (estimating) {
        chunks.push(e.value);
        if (e.key !== undefined) chunks.push(e.key);
      }
    }
    if (ids.length === 0) return;
    // A budget needs the compressed size before sending. The metric counts what the
    // destination's connections carried during the send (framing included) when the bus
    // can tell; otherwise its estimate (gzip: made on the thread pool while the batch is on its way).
    const estimate = estimating ? Buffer.concat(chunks) : undefined;
    const uncompressed = raw - (estimate?.length ?? 0);
    const sizeNow = (b: Buffer): number => (this.o.compression === 'lz4' ? lz4FrameSize(b) : gzipSync(b).length);
    let wire = !compressed ? raw : estimate !== undefined && this.budgeted ? sizeNow(estimate) + uncompressed : 0;
    const measuring = estimate === undefined || this.budgeted ? undefined : this.o.compression === 'lz4' ? Promise.resolve(lz4FrameSize(estimate) + uncompressed) : gzipAsync(estimate).then((z) => z.length + uncompressed);
    const waitMs = this.bucket.take(wire);
    if (waitMs > 0) await this.sleep(waitMs);
    if (this.stopped) throw new VigilError('VIGIL_E_BUS_CLOSED', 'the relay is stopping');
    const producer = this.producer as BusProducer;
    const sentBefore = this.o.destination.bytesSent?.();
    await Promise.all([...byTopic].map(([topic, messages]) => producer.send(topic, messages)));
    if (measuring !== undefined) wire = await measuring;
    if (sentBefore !== undefined) wire = (this.o.destination.bytesSent?.() ?? sentBefore) - sentBefore;
    for (const id of ids) if (id !== '') this.ledger.add(id);
    for (const [topic, messages] of byTopic) this.o.audit?.delivered(topic, messages.length);
    this.c.relayed += ids.length;
    this.c.bytesBeforeCompression += raw;
    this.c.bytesAfterCompression += wire;
  }

  /**
   * After a send whose outcome is unknown: wait until no send of ours is in flight, make
   * sure the destination topics exist, and learn which records the destination holds from
   * the last `lookback` records of each partition. A single relay writes each destination
   * topic, and at most one batch is ever unacknowledged, so twice its records cover it.
   */
  private async reconcile(lookback: number, sinceMs: number | undefined): Promise<void> {
    await this.producer?.flush();
    // Once per run: over a 600 ms round trip a fresh admin's ensureTopics costs ~7 s, after every cut.
    if (!this.topicsEnsured) {
      const admin = this.o.destination.admin();
      try {
        await admin.ensureTopics(this.destinations.map((topic) => ({ topic, partitions: this.o.destinationPartitions ?? 1 })));
        // A topic the broker stamps (LogAppendTime) has timestamps from another clock: read back by count only.
        for (const topic of this.destinations) {
          try {
            if ((await admin.describeTopic(topic))?.config['message.timestamp.type'] === 'LogAppendTime') this.ownTimestamps = false;
          } catch (err) {
            // A user without the right to read the topic's settings (an older grant): by count only.
            if (!isVigilError(err) || err.code !== 'VIGIL_E_BUS_DENIED') throw err;
            this.ownTimestamps = false;
          }
        }
      } finally {
        await admin.close().catch(() => undefined);
      }
      this.topicsEnsured = true;
    }
    const since = this.ownTimestamps ? sinceMs : undefined;
    const ids = await readDestinationTail({ bus: this.o.destination, topics: this.destinations, lookback, groupPrefix: `vigil.relay.${this.o.policy.name}`, ...(since === undefined ? {} : { sinceMs: since }) });
    for (const id of ids) this.ledger.add(id);
    this.c.reconciliations++;
    this.o.onEvent?.({ event: 'reconciled', link: this.linkState, records: ids.length });
  }
}
