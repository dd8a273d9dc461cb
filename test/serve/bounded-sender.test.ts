import { BoundedSender, type TextSocket } from '../../src/serve';

/** A socket whose writes complete only when the test says so: a client as slow as wanted. */
class ManualSocket implements TextSocket {
  readonly frames: string[] = [];
  private readonly pending: Array<(err?: Error) => void> = [];
  send(data: string, cb: (err?: Error) => void): void {
    this.frames.push(data);
    this.pending.push(cb);
  }
  /** Completes the oldest n writes. */
  complete(n = Infinity, err?: Error): void {
    for (let i = 0; i < n && this.pending.length > 0; i++) (this.pending.shift() as (err?: Error) => void)(err);
  }
  get waiting(): number {
    return this.pending.length;
  }
}

describe('BoundedSender', () => {
  it('sends straight through while the client keeps up', () => {
    const socket = new ManualSocket();
    const sender = new BoundedSender(socket, { maxInFlight: 2 });
    for (let i = 0; i < 5; i++) {
      sender.push(`m${i}`);
      socket.complete();
    }
    expect(socket.frames).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(sender.stats()).toEqual({ sent: 5, dropped: 0, queued: 0, queuedBytes: 0, inFlight: 0 });
  });

  it('drops the oldest when a slow client falls behind, counts them and says so before the next message', () => {
    const socket = new ManualSocket();
    const sender = new BoundedSender(socket, { maxInFlight: 2, maxQueued: 3 });
    for (let i = 0; i < 10; i++) sender.push(`m${i}`);
    expect(socket.frames).toEqual(['m0', 'm1']);
    expect(sender.stats()).toMatchObject({ dropped: 5, queued: 3, inFlight: 2 });
    socket.complete();
    socket.complete();
    expect(socket.frames).toEqual(['m0', 'm1', '{"type":"dropped","count":5,"total":5}', 'm7', 'm8', 'm9']);
    expect(sender.stats()).toEqual({ sent: 6, dropped: 5, queued: 0, queuedBytes: 0, inFlight: 0 });
  });

  it('bounds the queue in bytes too, and drops a message larger than the whole budget', () => {
    const socket = new ManualSocket();
    const sender = new BoundedSender(socket, { maxInFlight: 1, maxQueued: 100, maxQueuedBytes: 10 });
    sender.push('first');
    for (const m of ['aaaa', 'bbbb', 'cccc']) sender.push(m);
    expect(sender.stats()).toMatchObject({ queued: 2, queuedBytes: 8, dropped: 1 });
    sender.push('x'.repeat(11));
    expect(sender.stats()).toMatchObject({ queued: 2, dropped: 2 });
    socket.complete(Infinity);
    socket.complete(Infinity);
    socket.complete(Infinity);
    expect(socket.frames).toEqual(['first', '{"type":"dropped","count":2,"total":2}', 'bbbb', 'cccc']);
  });

  it('holds at most maxInFlight + maxQueued messages whatever the rate', () => {
    const socket = new ManualSocket();
    const sender = new BoundedSender(socket, { maxInFlight: 4, maxQueued: 16 });
    for (let i = 0; i < 100_000; i++) sender.push(String(i));
    expect(socket.waiting).toBe(4);
    expect(sender.stats()).toMatchObject({ queued: 16, dropped: 100_000 - 20 });
  });

  it('stops on a failed write and after close', () => {
    const socket = new ManualSocket();
    const sender = new BoundedSender(socket, { maxInFlight: 1 });
    sender.push('a');
    sender.push('b');
    socket.complete(1, new Error('EPIPE'));
    sender.push('c');
    expect(socket.frames).toEqual(['a']);
    expect(sender.stats()).toMatchObject({ queued: 0, inFlight: 0 });
    expect(() => new BoundedSender(socket, { maxQueued: 0 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_TAP_OPTIONS' }));
  });
  it('lets a producer that must not lose messages wait for room instead of pushing out older ones', async () => {
    const socket = new ManualSocket();
    const sender = new BoundedSender(socket, { maxInFlight: 1, maxQueued: 4 });
    const produced: string[] = [];
    // A replay: each message waits while the queue is at half its budget or more.
    const replay = (async () => {
      for (let i = 0; i < 12; i++) {
        if (sender.full()) await sender.whenRoom();
        sender.push(`h${i}`);
        produced.push(`h${i}`);
      }
    })();
    for (let round = 0; round < 40 && produced.length < 12; round++) {
      expect(sender.stats().queued).toBeLessThanOrEqual(2);
      socket.complete();
      await new Promise((r) => setImmediate(r));
    }
    await replay;
    socket.complete();
    socket.complete();
    socket.complete();
    expect(sender.stats().dropped).toBe(0);
    expect(socket.frames).toEqual(produced);
    // Closing releases a waiter (the client left).
    const s2 = new BoundedSender(new ManualSocket(), { maxInFlight: 1, maxQueued: 2 });
    s2.push('a');
    s2.push('b');
    const waiting = s2.whenRoom();
    s2.close();
    await expect(waiting).resolves.toBeUndefined();
  });
});
