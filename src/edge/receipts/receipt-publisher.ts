import { MAX_RECEIPT_RANGES, receiptTopicOf, sealReceipt, type SeqRange } from '../../codec';
import { resolveCryptoBackend, type CryptoBackend, type CryptoBackendOption } from '../../crypto';

export interface ReceiptPublisherOptions {
  readonly gatewayId: string;
  /** The shared `box` key of a device at an epoch (the key its frames are sealed with); undefined: no receipt. */
  readonly keyOf: (deviceId: string, epoch: number) => Uint8Array | undefined;
  /** Sends a receipt (MQTT QoS 0, best effort): a lost receipt only costs the device a resend. */
  readonly publish: (topic: string, payload: Uint8Array) => void;
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
  readonly counters = { receipts: 0, frames: 0, unkeyed: 0 };

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

  /** Sends every pending receipt now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of this.pending.values()) this.send(p);
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
    this.o.publish(receiptTopicOf(p.topic), sealReceipt({ deviceId: p.deviceId, epoch: p.epoch, gatewayId: this.o.gatewayId, ranges: pairs(p.ranges), refused: pairs(p.refused) }, key, { backend: this.backend }));
    this.counters.receipts++;
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
