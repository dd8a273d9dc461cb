/**
 * The in-order acknowledgement buffer of one MQTT connection.
 *
 * MQTT requires a client to send PUBACKs in the order the QoS1 PUBLISHes arrived
 * (MQTT 5.0 §4.6, "Message ordering"), but the gateway makes frames durable in batches that
 * may complete out of order (a spool fsync can land before a Kafka produce). This buffer
 * takes the owner's acknowledgements in any order and releases packet ids strictly in
 * receive order: an acknowledgement that overtakes an earlier message waits here until every
 * earlier message is acknowledged too.
 *
 * It is a ring of `capacity` slots indexed by an ever-growing sequence number, so it never
 * allocates after construction and never holds more than `capacity` messages: `capacity` is
 * the Receive Maximum we advertise, which bounds what the broker may have in flight to us.
 * Sequence numbers are never reused, so an acknowledgement for a slot that was already
 * released (or abandoned by `clear()`) is recognised as stale and ignored.
 *
 * @example
 * const seq = new AckSequencer(1000);
 * const a = seq.push(17), b = seq.push(18);
 * seq.ack(b);                 // false: 17 is still pending, 18 waits
 * seq.ack(a);                 // true: 17 (and then 18) can be released
 * const out = new Uint16Array(1000);
 * seq.takeReady(out);         // 2; out = [17, 18]
 */
export class AckSequencer {
  private readonly ids: Uint16Array;
  private readonly acked: Uint8Array;
  /** Sequence number of the oldest message whose PUBACK has not been released. */
  private head = 0;
  /** Sequence number the next pushed message gets. */
  private tail = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 65535) {
      throw new RangeError(`AckSequencer capacity must be an integer in 1..65535, got ${capacity}`);
    }
    this.ids = new Uint16Array(capacity);
    this.acked = new Uint8Array(capacity);
  }

  /** Messages received whose PUBACK has not been released yet (acknowledged or not). */
  get pending(): number {
    return this.tail - this.head;
  }

  /**
   * Records a received QoS1 message with its packet id. Returns its sequence number, or -1
   * when `capacity` messages are already pending (the peer broke Receive Maximum).
   */
  push(packetId: number): number {
    if (this.tail - this.head >= this.capacity) return -1;
    const i = this.tail % this.capacity;
    this.ids[i] = packetId;
    this.acked[i] = 0;
    return this.tail++;
  }

  /**
   * Marks message `seq` as acknowledged by the owner. Returns true when the oldest pending
   * message is now acknowledged, i.e. `takeReady` has something to release. Stale sequence
   * numbers (already released, cleared, or never issued) and repeated acknowledgements are
   * ignored and return false.
   */
  ack(seq: number): boolean {
    if (seq < this.head || seq >= this.tail) return false;
    const i = seq % this.capacity;
    if (this.acked[i] === 1) return false;
    this.acked[i] = 1;
    return seq === this.head;
  }

  /** True when `seq` is pending and not yet acknowledged by the owner. */
  isUnacked(seq: number): boolean {
    return seq >= this.head && seq < this.tail && this.acked[seq % this.capacity] === 0;
  }

  /**
   * Moves the packet ids that may be acknowledged now (the acknowledged prefix, in receive
   * order) into `out` and returns how many. `out` must hold `capacity` entries.
   */
  takeReady(out: Uint16Array): number {
    let n = 0;
    while (this.head < this.tail) {
      const i = this.head % this.capacity;
      if (this.acked[i] === 0) break;
      out[n++] = this.ids[i] as number;
      this.head++;
    }
    return n;
  }

  /**
   * Forgets every pending message without releasing it (the connection is gone: the broker
   * will redeliver them). Later acknowledgements of their sequence numbers are stale.
   * Returns how many were dropped.
   */
  clear(): number {
    const dropped = this.tail - this.head;
    this.head = this.tail;
    return dropped;
  }
}
