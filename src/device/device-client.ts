import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { FrameSealer, MAX_READING_OFFSET_MS, openReceipt, receiptTopicOf, type Reading, type SeqRange } from '../codec';
import { boxSharedKey, getCryptoBackend, type CryptoBackendOption, type DeviceKeys, type Signer } from '../crypto';
import { mqttTlsError, VigilError } from '../errors';
import { ClockSequence, type SequenceSource } from './sequence';
import { telemetryTopic } from './topic';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A reading as a device hands it over: its time is given separately, the SDK computes the offset. */
export type ReadingInput = DistributiveOmit<Reading, 'offsetMs'>;

export interface DeviceClientOptions {
  readonly keys: DeviceKeys;
  /** The gateways' ingest X25519 public key (32 bytes, or base64). */
  readonly ingestPublicKey: Uint8Array | string;
  readonly theatre: string;
  readonly unit: string;
  /** MQTT broker, e.g. `mqtt://127.0.0.1:1883`. */
  readonly mqttUrl: string;
  /** Readings per frame before a frame is sealed (default 16, at most 256). */
  readonly maxReadingsPerFrame?: number;
  /** Longest a reading waits for others to share its frame, ms (default 100; 0 seals every reading alone). */
  readonly lingerMs?: number;
  /** Sign frames with the device's Ed25519 key (default false; required by some device classes). */
  readonly sign?: boolean;
  /** Frames kept while the broker is unreachable (default 10 000); beyond it the oldest are dropped and counted. */
  readonly maxQueuedFrames?: number;
  /** Frames handed to MQTT and not yet acknowledged (default 100; the broker's receive maximum may lower it). */
  readonly maxInflight?: number;
  /** Where sequence numbers come from (default `ClockSequence`). */
  readonly sequence?: SequenceSource;
  readonly backend?: CryptoBackendOption;
  /** Event-time clock (default `Date.now`); tests inject one. */
  readonly clock?: () => number;
  /** Extra mqtt.js options (reconnect period, TLS, credentials). */
  readonly mqtt?: Partial<IClientOptions>;
  /**
   * Called once per frame when the SDK knows it is durable: its sequence number, reading
   * count, and whether it had to be sent more than once. This is the device's record of what
   * it may forget (an audit log, `--acked-log`).
   */
  readonly onDurable?: (seq: bigint, readings: number, resent: boolean) => void;
  /**
   * Keep each frame until a gateway's durable receipt covers it (docs/wire-format.md §12),
   * resending it when none comes (default true). false: a frame counts as delivered on the
   * broker's PUBACK, and whatever the broker then drops (a full queue for an absent gateway,
   * a broker crash) is lost without the device knowing.
   */
  readonly receipts?: boolean;
  /** Frames sent and not yet covered by a receipt, at most (default 512, at most 1000: resends must stay inside the gateway's 1024-frame replay window). */
  readonly sendWindow?: number;
  /** A frame the broker acknowledged but no receipt covered after this long is sent again, ms (default 10 000; doubles per resend up to 8×). */
  readonly receiptTimeoutMs?: number;
}

/** A device's own counters. */
export interface DeviceStats {
  readingsQueued: number;
  framesSealed: number;
  /** Frames known durable: covered by a receipt (or, with `receipts: false`, acknowledged by the broker). */
  framesAcked: number;
  readingsAcked: number;
  bytesAcked: number;
  framesDropped: number;
  framesQueued: number;
  framesInflight: number;
  /** Frames sent and waiting for a receipt (receipts on). */
  framesUnconfirmed: number;
  /** Frames sent again because no receipt covered them in time. */
  framesResent: number;
  /** Frames a gateway refused for good (see the `refused` event): not durable, not resent. */
  framesRefused: number;
  /** Receipts that opened, and those refused (`VIGIL_E_RECEIPT_INVALID`: ignored, nothing forgotten). */
  receipts: number;
  receiptsInvalid: number;
  reconnects: number;
  connected: boolean;
}

interface DeviceEvents {
  connect: [];
  offline: [];
  error: [Error];
  /** A frame was dropped because the queue was full while offline. */
  drop: [{ seq: bigint; readings: number }];
  /** A gateway authenticated the frame and refused it for good (an invalid reading, a kind not allowed): it is not resent. */
  refused: [{ seq: bigint; readings: number }];
}

interface QueuedFrame {
  readonly seq: bigint;
  readonly bytes: Buffer;
  readonly readings: number;
  /** Times handed to MQTT. */
  sends: number;
  /** When last handed to MQTT (device clock). */
  sentAt: number;
  /** Handed to MQTT, no PUBACK yet. */
  inflight: boolean;
  /** Waiting in the queue (first send or resend). */
  queued: boolean;
  /** Covered by a receipt: done (a queued copy is skipped). */
  done: boolean;
}

/**
 * The device SDK: batches readings into frames, seals them with the device's keys, and
 * publishes them with MQTT 5 QoS 1 to `vigil/v1/<theatre>/<unit>/<device>/telemetry`.
 * Frames stay queued (bounded) while the broker is unreachable and are sent in order when
 * it returns; frames handed to MQTT but not acknowledged are resent by mqtt.js after a
 * reconnect.
 *
 * @example
 * const device = await DeviceClient.connect({ keys, ingestPublicKey, theatre: 'north', unit: 'recon-3', mqttUrl });
 * device.send({ kind: 'power', batteryPct: 81, voltageV: 24.1 });
 * await device.close(); // seals what is pending and waits for every acknowledgement
 */
export class DeviceClient extends EventEmitter<DeviceEvents> {
  readonly topic: string;
  private readonly sealer: FrameSealer;
  private readonly sharedKey: Uint8Array;
  private readonly signer: Signer | undefined;
  private readonly sequence: SequenceSource;
  private readonly clock: () => number;
  private readonly maxReadings: number;
  private readonly lingerMs: number;
  private readonly maxQueued: number;
  private readonly maxInflight: number;
  private readonly receipts: boolean;
  private readonly sendWindow: number;
  private readonly receiptTimeoutMs: number;
  readonly receiptTopic: string;
  /** Sent, not yet covered by a receipt, in first-send order (receipts on). */
  private readonly unconfirmed = new Map<bigint, QueuedFrame>();
  private resendTimer: NodeJS.Timeout | undefined;
  private everConnected = false;
  private pending: Reading[] = [];
  private pendingStart = 0;
  private linger: NodeJS.Timeout | undefined;
  private readonly queue: QueuedFrame[] = [];
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private closing = false;
  private readonly counters: Omit<DeviceStats, 'framesQueued' | 'framesInflight' | 'framesUnconfirmed' | 'connected'> = {
    readingsQueued: 0,
    framesSealed: 0,
    framesAcked: 0,
    readingsAcked: 0,
    bytesAcked: 0,
    framesDropped: 0,
    framesResent: 0,
    framesRefused: 0,
    receipts: 0,
    receiptsInvalid: 0,
    reconnects: 0,
  };

  private constructor(
    private readonly options: DeviceClientOptions,
    private readonly client: MqttClient,
  ) {
    super();
    const o = options;
    this.topic = telemetryTopic(o.theatre, o.unit, o.keys.deviceId);
    const backend = getCryptoBackend(o.backend ?? 'auto');
    this.sealer = new FrameSealer({ backend });
    const ingest = typeof o.ingestPublicKey === 'string' ? new Uint8Array(Buffer.from(o.ingestPublicKey, 'base64')) : o.ingestPublicKey;
    this.sharedKey = boxSharedKey(ingest, o.keys.box.secretKey, backend);
    this.signer = o.sign ? backend.createSigner(o.keys.sign.seed) : undefined;
    this.sequence = o.sequence ?? new ClockSequence((o.clock ?? Date.now)());
    this.clock = o.clock ?? Date.now;
    this.maxReadings = intOption('maxReadingsPerFrame', o.maxReadingsPerFrame ?? 16, 1, 256);
    this.lingerMs = intOption('lingerMs', o.lingerMs ?? 100, 0, 60_000);
    this.maxQueued = intOption('maxQueuedFrames', o.maxQueuedFrames ?? 10_000, 1, 10_000_000);
    this.maxInflight = intOption('maxInflight', o.maxInflight ?? 100, 1, 65_535);
    this.receipts = o.receipts ?? true;
    this.sendWindow = intOption('sendWindow', o.sendWindow ?? 512, 1, 1000);
    this.receiptTimeoutMs = intOption('receiptTimeoutMs', o.receiptTimeoutMs ?? 10_000, 100, 3_600_000);
    this.receiptTopic = receiptTopicOf(this.topic);
    const keyOfEpoch = (epoch: number): Uint8Array | undefined => (epoch === o.keys.epoch ? this.sharedKey : undefined);

    client.on('connect', () => {
      // Clean sessions: subscribe on every connection. A receipt sent while we were away is
      // lost; the frames it covered are resent and covered again (as replays).
      if (this.receipts) client.subscribe(this.receiptTopic, { qos: 0 }, () => undefined);
      // A new connection (the broker restarted, or our link dropped): the broker may have lost
      // what it acknowledged, so send every unconfirmed frame again first, oldest first — a
      // lost frame then goes out before newer ones instead of a receipt timeout later.
      if (this.receipts && this.everConnected) this.requeue(() => true);
      this.everConnected = true;
      this.emit('connect');
      this.pump();
    });
    if (this.receipts) {
      client.on('message', (topic, payload) => {
        if (topic !== this.receiptTopic) return;
        try {
          this.onReceipt(openReceipt(payload, o.keys.deviceId, keyOfEpoch, backend));
        } catch {
          this.counters.receiptsInvalid++;
        }
      });
      this.resendTimer = setInterval(() => this.resendOverdue(), Math.min(1000, Math.max(50, Math.floor(this.receiptTimeoutMs / 4))));
      this.resendTimer.unref();
    }
    client.on('reconnect', () => {
      this.counters.reconnects++;
    });
    client.on('offline', () => this.emit('offline'));
    client.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /**
   * Creates the device and connects; resolves on the first CONNACK. Later disconnects are
   * survived (reconnect with backoff); frames wait in the queue meanwhile.
   */
  static connect(options: DeviceClientOptions): Promise<DeviceClient> {
    const client = mqtt.connect(options.mqttUrl, {
      protocolVersion: 5,
      clientId: `vigil-dev-${options.keys.deviceId}`,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // In-flight frames are resent by mqtt.js on reconnect, so nothing acknowledged by
      // nobody is forgotten.
      clean: true,
      ...options.mqtt,
    });
    const device = new DeviceClient(options, client);
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        client.end(true);
        // A certificate problem says which certificate and what is wrong with it.
        let host = options.mqttUrl;
        let port = 0;
        try {
          const u = new URL(options.mqttUrl);
          host = u.hostname;
          port = Number(u.port);
        } catch {
          /* the URL was accepted by mqtt.js; keep it whole */
        }
        const tls = mqttTlsError(err as NodeJS.ErrnoException, host, port);
        reject(tls ?? new VigilError('VIGIL_E_SERVICE_START', `device ${options.keys.deviceId} cannot reach MQTT broker ${options.mqttUrl}: ${err.message}`, { cause: err, retriable: true }));
      };
      client.once('error', fail);
      client.once('connect', () => {
        client.off('error', fail);
        resolve(device);
      });
    });
  }

  /** Queues one reading taken at `atMs` (default now). Sealed into a frame when the batch is full or the linger time passes. */
  send(reading: ReadingInput, atMs: number = this.clock()): void {
    if (this.closing) throw new VigilError('VIGIL_E_DEVICE_CLOSED', `device ${this.options.keys.deviceId} is closed`);
    const t = Math.floor(atMs);
    if (this.pending.length > 0 && (t < this.pendingStart || t - this.pendingStart > MAX_READING_OFFSET_MS)) this.sealPending();
    if (this.pending.length === 0) this.pendingStart = t;
    this.pending.push({ ...reading, offsetMs: t - this.pendingStart } as Reading);
    this.counters.readingsQueued++;
    if (this.pending.length >= this.maxReadings) {
      this.sealPending();
    } else if (this.lingerMs === 0) {
      this.sealPending();
    } else if (this.linger === undefined) {
      this.linger = setTimeout(() => this.sealPending(), this.lingerMs);
    }
  }

  /** Seals what is pending and resolves once every frame so far is known durable (receipts), or acknowledged by the broker (`receipts: false`). */
  flush(): Promise<void> {
    this.sealPending();
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): DeviceStats {
    return { ...this.counters, framesQueued: this.queue.length, framesInflight: this.inflight, framesUnconfirmed: this.unconfirmed.size, connected: this.client.connected };
  }

  /** Flushes (waits for acknowledgements up to `timeoutMs`, default 10 s), then disconnects. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closing) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.closing = true;
    clearTimeout(this.linger);
    clearInterval(this.resendTimer);
    await this.client.endAsync(this.queue.length > 0 || this.inflight > 0);
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.inflight === 0 && this.pending.length === 0 && this.unconfirmed.size === 0;
  }

  private wakeIdle(): void {
    if (!this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** The frame is durable: forget it. */
  private confirm(frame: QueuedFrame): void {
    if (frame.done) return;
    frame.done = true;
    this.unconfirmed.delete(frame.seq);
    this.counters.framesAcked++;
    this.counters.readingsAcked += frame.readings;
    this.counters.bytesAcked += frame.bytes.length;
    this.options.onDurable?.(frame.seq, frame.readings, frame.sends > 1);
  }

  private onReceipt(receipt: { readonly ranges: readonly SeqRange[]; readonly refused: readonly SeqRange[] }): void {
    this.counters.receipts++;
    // Ranges are few and sorted; frames awaiting a receipt are at most sendWindow.
    for (const frame of this.unconfirmed.values()) {
      if (covers(receipt.ranges, frame.seq)) this.confirm(frame);
      else if (covers(receipt.refused, frame.seq)) this.refuse(frame);
    }
    this.pump();
    this.wakeIdle();
  }

  private refuse(frame: QueuedFrame): void {
    frame.done = true;
    this.unconfirmed.delete(frame.seq);
    this.counters.framesRefused++;
    this.emit('refused', { seq: frame.seq, readings: frame.readings });
  }

  /** Frames the broker took but no receipt covered in time go to the front of the queue, oldest first. */
  private resendOverdue(): void {
    if (!this.client.connected) return;
    const now = Date.now();
    this.requeue((f) => now - f.sentAt >= this.receiptTimeoutMs * Math.min(8, 2 ** (f.sends - 1)));
  }

  /** Puts the unconfirmed frames that `due` picks (and that are neither in flight nor queued) at the front of the queue, in first-send order. */
  private requeue(due: (f: QueuedFrame) => boolean): void {
    const picked: QueuedFrame[] = [];
    for (const f of this.unconfirmed.values()) if (!f.inflight && !f.queued && due(f)) picked.push(f);
    if (picked.length === 0) return;
    for (const f of picked) f.queued = true;
    this.queue.unshift(...picked);
    this.pump();
  }

  private sealPending(): void {
    clearTimeout(this.linger);
    this.linger = undefined;
    if (this.pending.length === 0) return;
    const readings = this.pending;
    this.pending = [];
    const seq = this.sequence.next();
    const bytes = this.sealer.seal(
      { deviceId: this.options.keys.deviceId, epoch: this.options.keys.epoch, seq, eventTimeMs: this.pendingStart, readings },
      this.sharedKey,
      this.signer ? { signer: this.signer } : {},
    );
    this.counters.framesSealed++;
    // The sealer reuses its buffer; the queue needs its own copy.
    this.queue.push({ seq, bytes: Buffer.from(bytes), readings: readings.length, sends: 0, sentAt: 0, inflight: false, queued: true, done: false });
    // Over the bound: drop the oldest frame never sent (resends keep their place: they may be lost already).
    while (this.queue.length > this.maxQueued) {
      const at = this.queue.findIndex((f) => f.sends === 0);
      const dropped = this.queue.splice(at < 0 ? 0 : at, 1)[0] as QueuedFrame;
      dropped.queued = false;
      if (dropped.sends > 0) continue; // a resend copy: the frame stays awaited
      this.counters.framesDropped++;
      this.emit('drop', { seq: dropped.seq, readings: dropped.readings });
    }
    this.pump();
  }

  private pump(): void {
    while (this.client.connected && this.inflight < this.maxInflight && this.queue.length > 0) {
      const frame = this.queue[0] as QueuedFrame;
      if (frame.done) {
        this.queue.shift();
        frame.queued = false;
        continue;
      }
      // Flow control: at most sendWindow frames out without a receipt; resends are among them already.
      if (this.receipts && frame.sends === 0 && this.unconfirmed.size >= this.sendWindow) break;
      this.queue.shift();
      frame.queued = false;
      frame.inflight = true;
      frame.sentAt = Date.now(); // timeouts run on the wall clock, whatever the event-time clock does
      if (frame.sends++ > 0) this.counters.framesResent++;
      if (this.receipts) this.unconfirmed.set(frame.seq, frame);
      this.inflight++;
      this.client.publish(this.topic, frame.bytes, { qos: 1 }, (err) => {
        this.inflight--;
        frame.inflight = false;
        if (err) {
          // Only when the client is being ended with frames unsent; they are lost to this session.
          if (!this.closing && !frame.done && !frame.queued) {
            frame.queued = true;
            this.queue.unshift(frame);
          }
        } else if (!this.receipts) {
          this.confirm(frame);
        } else {
          // The broker has it; the receipt timeout runs from now.
          frame.sentAt = Date.now();
        }
        this.pump();
        this.wakeIdle();
      });
    }
  }
}

function covers(ranges: readonly SeqRange[], seq: bigint): boolean {
  for (const [from, to] of ranges) {
    if (seq < from) return false;
    if (seq <= to) return true;
  }
  return false;
}

function intOption(key: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', `device option ${key} must be an integer in ${min}..${max}, got ${String(value)}`, { details: { key } });
  }
  return value;
}
