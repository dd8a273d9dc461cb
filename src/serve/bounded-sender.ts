import { VigilError } from '../errors';

/** The part of a WebSocket a `BoundedSender` uses (ws's `WebSocket` fits). */
export interface TextSocket {
  /** `cb` runs once the frame was handed to the operating system (or failed). */
  send(data: string, cb: (err?: Error) => void): void;
}

/** Options of `BoundedSender`. */
export interface BoundedSenderOptions {
  /** Messages held while the client is behind; beyond it the oldest are dropped. Default 1,000. */
  readonly maxQueued?: number;
  /** Bytes (UTF-16 code units) held likewise. Default 4 MiB. */
  readonly maxQueuedBytes?: number;
  /** Frames handed to the socket whose write has not completed. Default 64. */
  readonly maxInFlight?: number;
}

/** Counters of a `BoundedSender`. */
export interface BoundedSenderStats {
  readonly sent: number;
  readonly dropped: number;
  readonly queued: number;
  readonly queuedBytes: number;
  readonly inFlight: number;
}

/**
 * Sends text frames to one slow-or-fast client within a fixed memory budget. A live view
 * wants the newest data, so when the client falls behind (its socket stops completing
 * writes) the OLDEST queued messages are dropped and counted, and the client is told how
 * many before the next one: `{"type":"dropped","count":n,"total":t}`. Memory per client is
 * bounded by `maxInFlight` frames in the socket plus `maxQueued`/`maxQueuedBytes` here,
 * whatever the stream's rate.
 *
 * @example
 * const sender = new BoundedSender(ws, { maxQueued: 500 });
 * sender.push(JSON.stringify(tapRecordJson(record)));
 */
export class BoundedSender {
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly maxInFlight: number;
  // A ring buffer: dropping the oldest is O(1), no array shifting per message.
  private readonly ring: (string | undefined)[];
  private head = 0;
  private size = 0;
  private bytes = 0;
  private inFlight = 0;
  private sent = 0;
  private dropped = 0;
  private unreported = 0;
  private closed = false;
  private readonly roomWaiters: Array<() => void> = [];

  constructor(
    private readonly socket: TextSocket,
    options: BoundedSenderOptions = {},
  ) {
    this.maxQueued = positive(options.maxQueued, 1000, 'maxQueued');
    this.maxQueuedBytes = positive(options.maxQueuedBytes, 4 * 1024 * 1024, 'maxQueuedBytes');
    this.maxInFlight = positive(options.maxInFlight, 64, 'maxInFlight');
    this.ring = new Array<string | undefined>(this.maxQueued);
  }

  /** Queues a message and sends what the socket can take now. */
  push(text: string): void {
    if (this.closed) return;
    if (text.length > this.maxQueuedBytes) {
      // Larger than the whole budget: it can never be held, so it is dropped itself (not what is queued).
      this.dropped++;
      this.unreported++;
    } else {
      while (this.size > 0 && (this.size >= this.maxQueued || this.bytes + text.length > this.maxQueuedBytes)) this.dropOldest();
      this.ring[(this.head + this.size) % this.maxQueued] = text;
      this.size++;
      this.bytes += text.length;
    }
    this.pump();
  }

  /**
   * Whether a message pushed now would push out a queued one (the queue is at its message
   * or byte budget, or past half of it: `whenRoom` waits for the low-water mark).
   */
  full(): boolean {
    return this.size >= this.maxQueued / 2 || this.bytes >= this.maxQueuedBytes / 2;
  }

  /**
   * Resolves once the queue is below half its budget (or the sender is closed): a producer
   * that must not lose messages (a replay of history) waits here instead of pushing out older
   * ones. Memory stays within the budget either way.
   */
  whenRoom(): Promise<void> {
    if (!this.full() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Stops sending and releases the queue (the socket is closing). */
  close(): void {
    this.closed = true;
    for (const w of this.roomWaiters.splice(0)) w();
    this.ring.fill(undefined);
    this.size = 0;
    this.bytes = 0;
  }

  stats(): BoundedSenderStats {
    return { sent: this.sent, dropped: this.dropped, queued: this.size, queuedBytes: this.bytes, inFlight: this.inFlight };
  }

  private dropOldest(): void {
    const text = this.ring[this.head] as string;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.maxQueued;
    this.size--;
    this.bytes -= text.length;
    this.dropped++;
    this.unreported++;
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.maxInFlight && (this.size > 0 || this.unreported > 0)) {
      if (this.unreported > 0) {
        // The gap is reported in stream order: before the first message after it.
        const notice = JSON.stringify({ type: 'dropped', count: this.unreported, total: this.dropped });
        this.unreported = 0;
        this.write(notice);
        continue;
      }
      const text = this.ring[this.head] as string;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.maxQueued;
      this.size--;
      this.bytes -= text.length;
      this.write(text);
    }
  }

  private write(text: string): void {
    this.inFlight++;
    this.socket.send(text, (err) => {
      this.inFlight--;
      if (err !== undefined && err !== null) {
        // The socket failed; its close handler ends the client. Nothing more to send.
        this.close();
        return;
      }
      this.sent++;
      this.pump();
      if (this.roomWaiters.length > 0 && !this.full()) for (const w of this.roomWaiters.splice(0)) w();
    });
  }
}

function positive(v: number | undefined, fallback: number, option: string): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new VigilError('VIGIL_E_TAP_OPTIONS', `tap sender option ${option}: must be a positive integer, got ${String(v)}`, { details: { option } });
  }
  return v;
}
