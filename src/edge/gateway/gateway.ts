import type { BusProducer, OutgoingMessage } from '../../bus';
import { RECORD_KEY_ID_HEADER } from '../../codec';
import type { StreamDataKey } from '../../crypto';
import { errorLogFields } from '../../errors';
import { channels, type FrameAdmissionEvent } from '../../instrument';
import type { ReplayStore } from '../../replay';
import { rejectionRecord, type Admission, type Admitted } from '../admission';
import type { Spool, SpoolBatch, SpoolEntry, SpoolPriority } from '../spool';

/**
 * Where the gateway reports what it does; pino's logger fits. With `child`, its spool,
 * Kafka, admission and replay lines go through children bound to `component` (`spool`,
 * `kafka`, `admission`, `replay`): give it the process's logger, not one already bound to
 * a component (docs/operations.md, "Log fields").
 */
export interface GatewayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: { component: string }): GatewayLogger;
}

export interface GatewayOptions {
  readonly gatewayId: string;
  /** What the producer writes to, for the durability metrics' `sink` label: `kafka` (default) or `memory` (the in-process bus). */
  readonly busSink?: 'kafka' | 'memory';
  readonly admission: Admission;
  /**
   * The Kafka lanes: one producer per lane, each with one batch in flight (an idempotent
   * producer keeps one request in flight per broker). A device always uses the same lane
   * (`laneOf`), so its frames stay in order while the lanes' batches overlap; several
   * lanes keep one slow acknowledgement from holding every device behind it.
   */
  readonly producer: BusProducer | readonly BusProducer[];
  readonly spool: Spool;
  readonly replay: ReplayStore;
  /** The telemetry stream key that authenticates rejection records (read per rejection, so a rotation applies at once). */
  readonly rejectionKey: () => StreamDataKey;
  /** Gateway clock (default `Date.now`). */
  readonly clock?: () => number;
  readonly logger?: GatewayLogger;
  /** Prefix of the Kafka topics written (`<prefix>telemetry.<kind>`); default none. */
  readonly topicPrefix?: string;
  /**
   * Spool drain: entries and bytes per Kafka request (default 500 entries, and at most an
   * eighth of the spool budget up to 1 MiB, so a batch held by a failing send never holds
   * much of the spool), and retry backoff bounds (250 ms … 10 s).
   */
  /**
   * Told of every frame once it is durable (and of every replay of a frame made durable
   * before): the gateway's durable receipts to devices (`ReceiptPublisher`). Optional.
   */
  readonly receipts?: DurableListener;
  /**
   * A lane's batch waits until its first frame is this old before it is written (unless it
   * holds LINGER_MAX_FRAMES already, or a flash frame): fewer, larger Kafka requests and
   * replay fsyncs, so less CPU per frame at low rates, for at most this much added latency.
   * Default 0 here; `gateway.lingerMs` in the configuration defaults to 5.
   */
  readonly lingerMs?: number;
  readonly drain?: { readonly maxEntries?: number; readonly maxBytes?: number; readonly retryMinMs?: number; readonly retryMaxMs?: number; readonly pollMs?: number };
}

/** What the gateway tells of each frame it made durable: the topic it came on, its device, key epoch and sequence number. */
export interface DurableListener {
  durable(telemetryTopic: string, deviceId: string, epoch: number, seq: bigint): void;
  /** The frame was authenticated and refused for good (the admission's `final` rejections): its device should stop resending it. */
  refused(telemetryTopic: string, deviceId: string, epoch: number, seq: bigint): void;
}

/** Counters of one gateway since start. */
export interface GatewayStats {
  framesIn: number;
  accepted: number;
  rejected: number;
  acked: number;
  batches: number;
  spooledFrames: number;
  drainedEntries: number;
  mode: 'direct' | 'spool';
  pendingFrames: number;
}

const silent: GatewayLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Sleeps up to `ms`, or less when `signal` aborts (the gateway is closing). */
const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });

interface PendingMessage {
  readonly topic: string;
  readonly msg: OutgoingMessage;
  readonly deviceId: string;
  readonly priority: SpoolPriority;
}

/** A lingering batch is written at once when it holds this many frames. */
const LINGER_MAX_FRAMES = 256;

/** The lane of a device: FNV-1a of its id, modulo the lane count (stable across restarts). */
export function laneOf(deviceId: string, lanes: number): number {
  if (lanes <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % lanes;
}

/** One Kafka lane: its producer, the batch being formed and whether a batch is in flight. */
interface Lane {
  readonly producer: BusProducer;
  pending: Batch;
  flushing: boolean;
  /** Ends the lane's linger early (its batch filled up, or took a flash frame). */
  wake: (() => void) | undefined;
}

/** Frames [batch.released, upTo) of a batch, durable and waiting for their release. */
interface PendingRelease {
  readonly batch: Batch;
  readonly upTo: number;
  /** The batch's last release (counted in `batches`). */
  readonly wholeBatch: boolean;
  readonly done: () => void;
}

/** Frames of one lane received while its previous batch was being made durable. */
class Batch {
  readonly acks: Array<() => void> = [];
  /** Per frame, in receive order: the MQTT topic, the admitted frame (null for a rejection) and its messages. */
  readonly topics: string[] = [];
  readonly admitted: Array<Admitted | null> = [];
  readonly messages: PendingMessage[][] = [];
  readonly byTopic = new Map<string, OutgoingMessage[]>();
  frames = 0;
  firstAt = 0;
  /** Holds a flash frame: written at once, whatever the linger. */
  urgent = false;
  /** Frames [0, released) are already durable and acknowledged (spool-full fallback). */
  released = 0;

  add(topic: string, ack: () => void, admitted: Admitted | null, messages: PendingMessage[]): void {
    this.topics.push(topic);
    this.acks.push(ack);
    this.admitted.push(admitted);
    this.messages.push(messages);
    this.frames++;
    for (const m of messages) {
      let list = this.byTopic.get(m.topic);
      if (!list) this.byTopic.set(m.topic, (list = []));
      list.push(m.msg);
    }
  }
}

/**
 * The gateway's delivery core (docs/architecture.md §4): admits frames, makes them durable in batches
 * (group commit), and only then acknowledges them, in receive order.
 *
 * - While Kafka takes writes (`direct`), a batch goes to the bus producer; the acks follow
 *   its acknowledgement. Each lane (one producer, `laneOf(deviceId)`) has one batch in
 *   flight at a time; frames arriving meanwhile form its next batch, so the batch size
 *   follows the load and an idle gateway sends at once. Lanes overlap, a device never
 *   changes lane, so its frames stay in order; PUBACKs still leave in receive order
 *   (the connection's AckSequencer holds an acknowledgement that overtakes an earlier one).
 * - A gateway that starts with a non-empty spool starts in `spool` mode and drains it first.
 * - When a write fails, the gateway switches to `spool`: this batch and every later one is
 *   fsynced into the spool, and a drainer moves the spool to Kafka, flash first and in order
 *   per device, while new frames keep arriving. Only when the spool is empty does the
 *   gateway go back to writing directly, so a device's newer frames never pass older ones.
 * - When the spool refuses (full of flash), the batch is retried after a pause and nothing
 *   is acknowledged meanwhile: MQTT flow control (receive maximum) then holds the senders.
 * - The replay window is committed after durability and fsynced before the acks, so a frame
 *   acknowledged before a crash is a replay after it.
 * - Rejected frames leave a record in `telemetry.rejected` (no plaintext) and are
 *   acknowledged once that record is durable too.
 */
export class Gateway {
  private readonly lanes: Lane[];
  private mode: 'direct' | 'spool' = 'direct';
  private draining: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  private spoolAppends = 0;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly clock: () => number;
  private readonly log: GatewayLogger;
  /** Per component (`child` of the logger given, or that logger itself). */
  private readonly logs: Readonly<Record<'spool' | 'kafka' | 'admission' | 'replay', GatewayLogger>>;
  private readonly drainMax: number;
  private readonly lingerMs: number;
  private readonly drainMaxBytes: number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly pollMs: number;
  /** Reused for every frame: subscribers read it synchronously (src/instrument). */
  private readonly event: FrameAdmissionEvent = { result: 'accepted', reason: null, readings: 0, bytes: 0 };
  private readonly topicNames = new Map<string, string>();
  /** Durable frames waiting for their release (replay flush, then PUBACKs), in durability order. */
  private releaseQueue: PendingRelease[] = [];
  private releasing = false;
  private readonly headersByKeyId = new Map<string, Readonly<Record<string, string>>>();
  /** Reused for `framesDurable` events (instrumentation only). */
  private readonly eventTimes: number[] = [];
  private readonly counters = { framesIn: 0, accepted: 0, rejected: 0, acked: 0, batches: 0, spooledFrames: 0, drainedEntries: 0 };

  constructor(private readonly o: GatewayOptions) {
    const producers = Array.isArray(o.producer) ? (o.producer as readonly BusProducer[]) : [o.producer as BusProducer];
    if (producers.length === 0) throw new RangeError('a gateway needs at least one producer (lane)');
    this.lanes = producers.map((producer) => ({ producer, pending: new Batch(), flushing: false, wake: undefined }));
    this.clock = o.clock ?? Date.now;
    this.log = o.logger ?? silent;
    const part = (component: string): GatewayLogger => this.log.child?.({ component }) ?? this.log;
    this.logs = { spool: part('spool'), kafka: part('kafka'), admission: part('admission'), replay: part('replay') };
    this.drainMax = o.drain?.maxEntries ?? 500;
    this.lingerMs = o.lingerMs ?? 0;
    if (!Number.isInteger(this.lingerMs) || this.lingerMs < 0 || this.lingerMs > 60_000) throw new RangeError(`gateway lingerMs must be an integer 0..60000, got ${String(o.lingerMs)}`);
    this.drainMaxBytes = o.drain?.maxBytes ?? Math.max(1, Math.min(1024 * 1024, Math.floor(o.spool.stats().budgetBytes / 8)));
    this.retryMin = o.drain?.retryMinMs ?? 250;
    this.retryMax = o.drain?.retryMaxMs ?? 10_000;
    this.pollMs = o.drain?.pollMs ?? 50;
    // A spool that holds entries at start (a restart during an outage, a crash mid-drain)
    // holds frames that were acknowledged: drain them before any newer frame goes to Kafka,
    // or the newer frames would overtake them and nothing would ever drain them.
    const held = o.spool.stats().entries;
    if (held > 0) {
      this.mode = 'spool';
      this.logs.spool.info({ entries: held, bytes: o.spool.stats().bytes }, 'spool holds frames from before the start; spooling new frames behind them and draining to kafka');
      this.startDrainer();
    }
  }

  /**
   * Takes one frame as it arrived on `topic`; `ack` is called once it is durable (or its
   * rejection is). Never throws for any input.
   */
  handle(topic: string, payload: Uint8Array, ack: () => void): void {
    this.counters.framesIn++;
    const r = this.o.admission.admit(payload, topic);
    const ev = this.event;
    ev.bytes = payload.length;
    let lane: Lane;
    if (r.ok) {
      this.counters.accepted++;
      lane = this.laneFor(r.deviceId);
      const b = lane.pending;
      if (b.frames === 0) b.firstAt = this.clock();
      b.add(
        topic,
        ack,
        r,
        r.records.map((rec) => ({
          topic: this.topic(rec.topic),
          msg: { key: rec.key, value: Buffer.isBuffer(rec.value) ? rec.value : Buffer.from(rec.value.buffer, rec.value.byteOffset, rec.value.byteLength), headers: this.keyIdHeaders(rec.keyId) },
          deviceId: r.deviceId,
          priority: r.priority,
        })),
      );
      if (r.priority === 'flash') b.urgent = true;
      ev.result = 'accepted';
      ev.reason = null;
      ev.readings = r.readings;
    } else {
      this.counters.rejected++;
      const rec = rejectionRecord(r, this.o.gatewayId, this.clock(), this.o.rejectionKey());
      // A replay of a frame made durable before: tell the device again (its receipt was lost).
      if (r.header && this.o.receipts) {
        if (r.code === 'VIGIL_E_REPLAY') this.o.receipts.durable(topic, r.header.deviceId, r.header.epoch, BigInt(r.header.seq));
        else if (r.final) this.o.receipts.refused(topic, r.header.deviceId, r.header.epoch, BigInt(r.header.seq));
      }
      const deviceId = r.header?.deviceId ?? rec.key;
      lane = this.laneFor(deviceId);
      const b = lane.pending;
      if (b.frames === 0) b.firstAt = this.clock();
      b.add(topic, ack, null, [{ topic: this.topic(rec.topic), msg: { key: rec.key, value: Buffer.from(rec.value), headers: rec.headers }, deviceId, priority: 'routine' }]);
      ev.result = 'rejected';
      ev.reason = r.code;
      ev.readings = 0;
      if (r.code === 'VIGIL_E_INTERNAL') this.logs.admission.error({ code: r.code, err: r.message, sha256: r.sha256 }, 'frame rejected by an internal error');
    }
    if (channels.frameAdmission.hasSubscribers) channels.frameAdmission.publish(ev);
    if (!lane.flushing) void this.flush(lane);
    else if (lane.wake !== undefined && (lane.pending.urgent || lane.pending.frames >= LINGER_MAX_FRAMES)) lane.wake();
  }

  private laneFor(deviceId: string): Lane {
    const lanes = this.lanes;
    return lanes.length === 1 ? (lanes[0] as Lane) : (lanes[laneOf(deviceId, lanes.length)] as Lane);
  }

  private get busy(): boolean {
    return this.releasing || this.releaseQueue.length > 0 || this.lanes.some((l) => l.flushing || l.pending.frames > 0);
  }

  /** The record's key id header, one shared (never mutated) object per key id rather than one per record. */
  private keyIdHeaders(keyId: string): Readonly<Record<string, string>> {
    let h = this.headersByKeyId.get(keyId);
    if (h === undefined) {
      if (this.headersByKeyId.size >= 64) this.headersByKeyId.clear(); // rotated keys: a handful at most
      this.headersByKeyId.set(keyId, (h = Object.freeze({ [RECORD_KEY_ID_HEADER]: keyId })));
    }
    return h;
  }

  /** The prefixed topic name, built once per topic rather than per frame. */
  private topic(name: string): string {
    const prefix = this.o.topicPrefix;
    if (!prefix) return name;
    let t = this.topicNames.get(name);
    if (t === undefined) this.topicNames.set(name, (t = prefix + name));
    return t;
  }

  stats(): GatewayStats {
    return { ...this.counters, mode: this.mode, pendingFrames: this.lanes.reduce((n, l) => n + l.pending.frames, 0) };
  }

  /** Resolves when everything received so far is durable and acknowledged. */
  drained(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** Waits for what was received to be durable and acknowledged, then stops the drainer. */
  async close(): Promise<void> {
    await this.drained();
    this.closed = true;
    // Let a drain request in flight finish (so what Kafka took is released from the spool,
    // not sent again after the next start); its own send timeout bounds the wait.
    this.stopping.abort();
    await this.draining;
  }

  /** One lane's loop: one batch in flight; frames that arrive meanwhile form its next batch. */
  private async flush(lane: Lane): Promise<void> {
    lane.flushing = true;
    try {
      while (lane.pending.frames > 0) {
        const p = lane.pending;
        const linger = this.lingerMs > 0 && !p.urgent && p.frames < LINGER_MAX_FRAMES ? p.firstAt + this.lingerMs - this.clock() : 0;
        if (linger > 0) await this.linger(lane, Math.ceil(linger));
        const batch = lane.pending;
        lane.pending = new Batch();
        await this.makeDurable(lane, batch);
        // The replay flush and the PUBACKs follow in durability order on the releaser: the
        // lane's next batch goes to Kafka meanwhile instead of waiting for an fsync (its frames
        // stay unacknowledged until their own release, so MQTT's receive maximum still bounds
        // them), and one replay flush serves every batch that became durable meanwhile.
        this.queueRelease(batch, batch.frames, true);
      }
    } finally {
      lane.flushing = false;
      this.wakeIdle();
    }
  }

  /** Waits `ms`, or less if the lane's batch fills up or takes a flash frame meanwhile. */
  private linger(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        lane.wake = undefined;
        resolve();
      }
      lane.wake = done;
    });
  }

  /**
   * Queues the release of frames [batch.released, upTo) of `batch`, after every release queued
   * before it; resolves once they are acknowledged.
   */
  private queueRelease(batch: Batch, upTo: number, wholeBatch: boolean): Promise<void> {
    return new Promise((done) => {
      this.releaseQueue.push({ batch, upTo, wholeBatch, done });
      if (!this.releasing) void this.releaseLoop();
    });
  }

  /**
   * The releaser: takes every release queued so far, commits their replay entries and
   * receipts, makes the replay store durable once for all of them, then acknowledges their
   * frames in the order they became durable; repeats while more were queued meanwhile. The
   * fsyncs thus follow the load (one per cycle, however many batches a cycle holds) instead
   * of queueing one per batch behind each other.
   */
  private async releaseLoop(): Promise<void> {
    this.releasing = true;
    try {
      while (this.releaseQueue.length > 0) {
        const cycle = this.releaseQueue;
        this.releaseQueue = [];
        try {
          await this.release(cycle);
        } catch (err) {
          this.log.error(errorLogFields(err), 'releasing durable frames failed');
        }
        for (const r of cycle) r.done();
      }
    } finally {
      this.releasing = false;
      this.wakeIdle();
    }
  }

  private wakeIdle(): void {
    if (this.busy) return;
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }

  /**
   * Each release's frames [batch.released, upTo) are durable: commit their replay entries,
   * make those durable (one flush for the whole cycle), then acknowledge them in receive order.
   */
  private async release(cycle: readonly PendingRelease[]): Promise<void> {
    const receipts = this.o.receipts;
    let frames = 0;
    for (const { batch, upTo } of cycle) {
      for (let i = batch.released; i < upTo; i++) {
        const a = batch.admitted[i];
        if (a) {
          this.o.admission.commit(a);
          if (receipts) receipts.durable(batch.topics[i] as string, a.deviceId, a.epoch, a.seq);
        }
      }
      if (upTo > batch.released) frames += upTo - batch.released;
    }
    if (frames > 0) {
      const flushAt = this.clock();
      try {
        await this.o.replay.flush();
      } catch (err) {
        // The frames are durable; a lost replay entry can at worst admit one duplicate.
        this.logs.replay.error(errorLogFields(err), 'replay store flush failed');
      }
      if (channels.release.hasSubscribers) channels.release.publish({ frames, replayFlushSeconds: (this.clock() - flushAt) / 1000 });
    }
    for (const r of cycle) {
      const { batch, upTo } = r;
      for (let i = batch.released; i < upTo; i++) (batch.acks[i] as () => void)();
      if (upTo > batch.released) {
        this.counters.acked += upTo - batch.released;
        batch.released = upTo;
      }
      if (r.wholeBatch) this.counters.batches++;
    }
  }

  private async makeDurable(lane: Lane, batch: Batch): Promise<void> {
    if (this.mode === 'direct') {
      const sentAt = this.clock();
      try {
        await Promise.all([...batch.byTopic].map(([topic, msgs]) => lane.producer.send(topic, msgs)));
        this.durable(this.o.busSink ?? 'kafka', batch, sentAt);
        return;
      } catch (err) {
        this.logs.kafka.warn({ ...errorLogFields(err), frames: batch.frames }, 'kafka write failed; spooling');
        this.mode = 'spool';
        this.startDrainer();
      }
    }
    this.spoolAppends++;
    const appendAt = this.clock();
    try {
      await this.o.spool.append(this.toSpoolEntries(batch, 0, batch.frames));
      this.counters.spooledFrames += batch.frames;
      this.durable('spool', batch, appendAt);
      return;
    } catch (err) {
      this.logs.spool.warn({ ...errorLogFields(err), frames: batch.frames }, 'spool refused a whole batch; spooling frame by frame');
    } finally {
      this.spoolAppends--;
    }
    // The spool is full: land what fits, frame by frame in receive order, acknowledging each
    // as it lands; the rest waits, unacknowledged, so MQTT flow control holds the senders.
    let attempt = 0;
    while (batch.released < batch.frames) {
      const i = batch.released;
      this.spoolAppends++;
      try {
        await this.o.spool.append(this.toSpoolEntries(batch, i, i + 1));
        this.counters.spooledFrames++;
        await this.queueRelease(batch, i + 1, false);
        attempt = 0;
      } catch (err) {
        if (attempt === 0) this.logs.spool.error({ ...errorLogFields(err), waiting: batch.frames - i }, 'spool full; holding acknowledgements');
        await sleep(Math.min(this.retryMax, this.retryMin * 2 ** Math.min(attempt++, 6)));
      } finally {
        this.spoolAppends--;
      }
    }
    this.durable('spool', batch, appendAt);
  }

  private durable(sink: 'kafka' | 'memory' | 'spool', batch: Batch, writeAt: number): void {
    if (channels.framesDurable.hasSubscribers) this.framesDurable(sink, batch);
    if (!channels.durability.hasSubscribers) return;
    const now = this.clock();
    channels.durability.publish({ sink, frames: batch.frames, seconds: (now - batch.firstAt) / 1000, writeSeconds: (now - writeAt) / 1000 });
  }

  private framesDurable(sink: 'kafka' | 'memory' | 'spool', batch: Batch): void {
    const times = this.eventTimes;
    let n = 0;
    for (const a of batch.admitted) if (a) times[n++] = a.eventTimeMs;
    channels.framesDurable.publish({ sink, atMs: this.clock(), eventTimesMs: times, count: n });
  }

  private toSpoolEntries(batch: Batch, from: number, to: number): SpoolEntry[] {
    const now = this.clock();
    const out: SpoolEntry[] = [];
    for (let i = from; i < to; i++) {
      for (const m of batch.messages[i] as PendingMessage[]) {
        const key = m.msg.key;
        out.push({
          deviceId: m.deviceId,
          priority: m.priority,
          topic: m.topic,
          ...(key === null || key === undefined ? {} : { key: typeof key === 'string' ? Buffer.from(key) : key }),
          value: m.msg.value as Buffer,
          ...(m.msg.headers ? { headers: m.msg.headers } : {}),
          enqueuedAt: now,
        });
      }
    }
    return out;
  }

  private startDrainer(): void {
    if (this.draining) return;
    this.draining = this.drainLoop().finally(() => {
      this.draining = undefined;
    });
  }

  /**
   * Moves the spool to Kafka, flash first and in order per device, until it is empty; then
   * the gateway writes directly again. It never gives up while the gateway runs: a Kafka
   * failure, or a spool that fails to read, is logged and retried with backoff, since a
   * drainer that stopped would leave the gateway spooling for ever.
   */
  private async drainLoop(): Promise<void> {
    let backoff = this.retryMin;
    const retry = async (): Promise<void> => {
      await pause(backoff, this.stopping.signal);
      backoff = Math.min(this.retryMax, backoff * 2);
    };
    while (!this.closed) {
      let batch: SpoolBatch | null;
      try {
        batch = await this.o.spool.peek({ maxEntries: this.drainMax, maxBytes: this.drainMaxBytes });
      } catch (err) {
        this.logs.spool.error({ ...errorLogFields(err), retryInMs: backoff }, 'spool drain: cannot read the spool; retrying');
        await retry();
        continue;
      }
      if (!batch) {
        if (this.spoolAppends === 0 && this.o.spool.stats().entries === 0) {
          this.mode = 'direct';
          this.logs.spool.info({ drained: this.counters.drainedEntries }, 'spool drained; writing to kafka directly again');
          return;
        }
        await pause(this.pollMs, this.stopping.signal);
        continue;
      }
      const byTopic = new Map<string, OutgoingMessage[]>();
      for (const e of batch.entries) {
        let list = byTopic.get(e.topic);
        if (!list) byTopic.set(e.topic, (list = []));
        list.push({ key: e.key ?? null, value: e.value, ...(e.headers ? { headers: e.headers } : {}) });
      }
      try {
        await Promise.all([...byTopic].map(([topic, msgs]) => (this.lanes[0] as Lane).producer.send(topic, msgs)));
      } catch (err) {
        this.handBack(batch);
        this.logs.spool.warn({ ...errorLogFields(err), retryInMs: backoff }, 'spool drain: kafka still unreachable');
        await retry();
        continue;
      }
      try {
        this.o.spool.ack(batch);
      } catch (err) {
        // Sent but not released: hand them back so they go to Kafka again (at-least-once).
        this.handBack(batch);
        this.logs.spool.error({ ...errorLogFields(err), retryInMs: backoff }, 'spool drain: cannot release sent entries; retrying');
        await retry();
        continue;
      }
      this.counters.drainedEntries += batch.entries.length;
      backoff = this.retryMin;
    }
  }

  /** Returns a batch to the spool; a spool that cannot take it back (closing, failing) keeps it on disk for the next start. */
  private handBack(batch: SpoolBatch): void {
    try {
      this.o.spool.nack(batch);
    } catch (err) {
      this.logs.spool.warn(errorLogFields(err), 'spool drain: cannot hand a batch back to the spool');
    }
  }
}
