import { MAX_RECEIPT_RANGES, receiptTopicOf, sealReceipt, type SeqRange } from '../../codec';
import { resolveCryptoBackend, type CryptoBackend, type CryptoBackendOption } from '../../crypto';

export interface ReceiptPublisherOptions {
  readonly gatewayId: string;
  /** The shared `box` key of a device at an epoch (the key its frames are sealed with); undefined: no receipt. */
  readonly keyOf: (deviceId: string, epoch: number) => Uint8Array | undefined;
  /**
   * Sends a receipt (MQTT QoS 0, best effort: a receipt lost on the way only costs the device
   * a resend). Returns false when it could not even be handed to the broker (no connection
   * past its CONNACK, a full write buffer): the publisher then keeps that device's ranges and
   * sends them with its next receipt, or at the next `flush()` (call it on every new
   * connection), since a frame whose receipt never goes out may be resent only once the
   * replay window has moved past it, and then nothing would ever tell its device.
   */
  readonly publish: (topic: string, payload: Uint8Array) => boolean | void;
  /** Longest a durable frame waits for its receipt, ms (default 200): receipts are coalesced per device over this interval. */
  readonly intervalMs?: number;
  readonly backend?: CryptoBackend | CryptoBackendOption;
}

/** One device's durable (and refused) sequence numbers since its last receipt, as sorted inclusive ranges (flat: from, to, from, to…). */
interface Pending {
  readonly topic: string;
  readonly deviceId: string;
  readonly epoch: number;
  readonly ranges: bigint[];
  readonly refused: bigint[];
}

/**
 * Tells devices which of their frames are durable (docs/wire-format.md §12), so that a device
 * keeps every frame until a gateway has it safe — past the broker's queue, which may drop
 * what a device's PUBACK already covered. The gateway calls `durable()` for every frame it
 * made durable (and for every replay of a frame it had made durable); sequence numbers are
 * collected per device into ranges and sent as one sealed receipt per device per interval.
 *
 * @example
 * const receipts = new ReceiptPublisher({ gatewayId: 'gw-1', keyOf: (d, e) => admission.sharedKey(d, e), publish: (t, p) => mqtt.publish(t, p) });
 * receipts.durable('vigil/v1/north/u1/uav-7/telemetry', 'uav-7', 1, 1234n);
 */
export class ReceiptPublisher {
  private readonly pending = new Map<string, Pending>();
  private readonly intervalMs: number;
  private readonly backend: CryptoBackend;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** `held`: receipts that could not be handed over, kept for the next try; `rangesDropped`: oldest ranges given up to keep a held receipt within `MAX_RECEIPT_RANGES`. */
  readonly counters = { receipts: 0, frames: 0, unkeyed: 0, held: 0, rangesDropped: 0 };

  constructor(private readonly o: ReceiptPublisherOptions) {
    this.intervalMs = o.intervalMs ?? 200;
    this.backend = resolveCryptoBackend(o.backend);
  }

  /** Frame `seq` of `deviceId` (sealed at `epoch`, received on `telemetryTopic`) is durable. */
  durable(telemetryTopic: string, deviceId: string, epoch: number, seq: bigint): void {
    this.add(telemetryTopic, deviceId, epoch, seq, false);
  }

  /** Frame `seq` was authenticated and refused for good (resending it cannot help). */
  refused(telemetryTopic: string, deviceId: string, epoch: number, seq: bigint): void {
    this.add(telemetryTopic, deviceId, epoch, seq, true);
  }

  private add(telemetryTopic: string, deviceId: string, epoch: number, seq: bigint, refused: boolean): void {
    if (this.closed) return;
    let p = this.pending.get(deviceId);
    if (p && (p.epoch !== epoch || p.topic !== telemetryTopic)) {
      this.send(p);
      p = undefined;
    }
    if (!p) this.pending.set(deviceId, (p = { topic: telemetryTopic, deviceId, epoch, ranges: [], refused: [] }));
    this.counters.frames++;
    const list = refused ? p.refused : p.ranges;
    if (insert(list, seq) && list.length / 2 >= MAX_RECEIPT_RANGES) this.send(p);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Sends every pending receipt now (held ones included): after a reconnect, and at stop. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // A copy: a receipt that cannot go out is put back into `pending`.
    for (const p of [...this.pending.values()]) this.send(p);
  }

  /** Sends what is pending and takes no more. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private send(p: Pending): void {
    this.pending.delete(p.deviceId);
    if (p.ranges.length + p.refused.length === 0) return;
    const key = this.o.keyOf(p.deviceId, p.epoch);
    if (!key) {
      this.counters.unkeyed++;
      return;
    }
    const sent = this.o.publish(receiptTopicOf(p.topic), sealReceipt({ deviceId: p.deviceId, epoch: p.epoch, gatewayId: this.o.gatewayId, ranges: pairs(p.ranges), refused: pairs(p.refused) }, key, { backend: this.backend }));
    if (sent === false) return this.hold(p);
    this.counters.receipts++;
  }

  /**
   * Keeps a receipt that could not be handed over: later frames of its device join it, and it
   * goes with the next receipt or `flush()`. No timer retries it (that would seal receipts
   * for every waiting device over and over while the broker is away); traffic and the owner's
   * `flush()` on reconnect do. Bounded: beyond `MAX_RECEIPT_RANGES - 1` ranges per list the
   * oldest are given up (their frames are resent and answered as replays).
   */
  private hold(p: Pending): void {
    if (this.closed || this.pending.has(p.deviceId)) return;
    this.counters.held++;
    for (const list of [p.ranges, p.refused]) {
      const extra = list.length / 2 - (MAX_RECEIPT_RANGES - 1);
      if (extra > 0) {
        list.splice(0, 2 * extra);
        this.counters.rangesDropped += extra;
      }
    }
    this.pending.set(p.deviceId, p);
  }
}

function pairs(flat: readonly bigint[]): SeqRange[] {
  const out: SeqRange[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as bigint, flat[i + 1] as bigint]);
  return out;
}

/**
 * Adds `seq` to sorted flat inclusive ranges, merging neighbours. Frames of a device mostly
 * arrive in order, so the common cases (extend or append at the end) take constant time.
 * Returns true when a range was added.
 */
export function insert(r: bigint[], seq: bigint): boolean {
  const n = r.length;
  if (n === 0 || seq > (r[n - 1] as bigint) + 1n) {
    r.push(seq, seq);
    return true;
  }
  if (seq === (r[n - 1] as bigint) + 1n) {
    r[n - 1] = seq;
    return false;
  }
  // Out of order: find the first range whose end is >= seq - 1.
  let i = 0;
  while (i < n && (r[i + 1] as bigint) + 1n < seq) i += 2;
  const from = r[i] as bigint;
  const to = r[i + 1] as bigint;
  if (seq >= from && seq <= to) return false;
  if (seq === to + 1n) {
    r[i + 1] = seq;
    if (i + 2 < n && (r[i + 2] as bigint) === seq + 1n) r.splice(i + 1, 2); // joins the next range
    return false;
  }
  if (seq === from - 1n) {
    r[i] = seq;
    return false;
  }
  r.splice(i, 0, seq, seq);
  return true;
}
