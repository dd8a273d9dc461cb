/** Limits of one group-commit batch. */
export interface GroupCommitOptions {
  /** Most items' `count` in one write (at least one item is always taken). */
  readonly maxCount: number;
  /** Most items' `bytes` in one write (at least one item is always taken). */
  readonly maxBytes: number;
  /**
   * Callers waiting longer than this for their write are rejected with `onTimeout()`. The
   * write itself is still awaited before the next one starts, so writes never overlap
   * (an idempotent Kafka producer must not have two sends in flight).
   */
  readonly timeoutMs: number;
  readonly onTimeout: () => Error;
}

interface Pending<T> {
  readonly item: T;
  readonly count: number;
  readonly bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Group commit: callers `submit` items at any rate; one `write` is in flight at a time, and
 * everything submitted meanwhile goes out together in the next one, in submit order. Each
 * caller's promise settles with the write that carried its item.
 *
 * Why: a durable write (Kafka acks=all, an fsync) costs a round trip whatever its size, so
 * merging waiting callers turns N round trips into one without adding latency when idle.
 *
 * @example
 * const gc = new GroupCommit<Msg>((items) => producer.sendBatch(items), (m) => [1, m.value.length], opts);
 * await Promise.all(msgs.map((m) => gc.submit(m))); // one or a few writes, not msgs.length
 */
export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private head = 0;
  private running = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    /**
     * Writes items; resolves with nothing when all landed, or with one entry per item
     * (`undefined` = landed, else that item's error) when only some did. Rejecting fails all.
     */
    private readonly write: (items: T[]) => Promise<ReadonlyArray<unknown> | void>,
    private readonly sizeOf: (item: T) => readonly [count: number, bytes: number],
    private readonly options: GroupCommitOptions,
  ) {}

  /** Items waiting for a write (not counting the one in flight). */
  get size(): number {
    return this.pending.length - this.head;
  }

  submit(item: T): Promise<void> {
    const [count, bytes] = this.sizeOf(item);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, count, bytes, resolve, reject });
      if (!this.running) {
        this.running = true;
        // A microtask, not a timer: every caller of the current tick joins the first write.
        queueMicrotask(() => void this.loop());
      }
    });
  }

  /** Resolves once nothing is waiting or in flight. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private take(): Pending<T>[] {
    const { maxCount, maxBytes } = this.options;
    const out: Pending<T>[] = [];
    let count = 0;
    let bytes = 0;
    while (this.head < this.pending.length) {
      const p = this.pending[this.head] as Pending<T>;
      if (out.length > 0 && (count + p.count > maxCount || bytes + p.bytes > maxBytes)) break;
      out.push(p);
      count += p.count;
      bytes += p.bytes;
      this.head++;
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    }
    return out;
  }

  private async loop(): Promise<void> {
    while (this.head < this.pending.length) {
      const batch = this.take();
      const items = batch.map((p) => p.item);
      let timer: NodeJS.Timeout | undefined;
      let timedOut = false;
      const written = (async () => this.write(items))();
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          const err = this.options.onTimeout();
          for (const p of batch) p.reject(err);
          resolve();
        }, this.options.timeoutMs);
      });
      try {
        await Promise.race([written.then(() => undefined, () => undefined), timeout]);
        if (!timedOut) {
          clearTimeout(timer);
          try {
            const outcome = await written;
            for (let i = 0; i < batch.length; i++) {
              const p = batch[i] as Pending<T>;
              const err = outcome === undefined ? undefined : outcome[i];
              if (err === undefined) p.resolve();
              else p.reject(err);
            }
          } catch (err) {
            for (const p of batch) p.reject(err);
          }
        } else {
          // The callers are told; the write may still land. Wait for it so writes stay serial.
          await written.catch(() => undefined);
        }
      } finally {
        clearTimeout(timer);
      }
    }
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
