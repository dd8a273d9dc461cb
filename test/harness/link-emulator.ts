import { connect, createServer, type Server, type Socket } from 'node:net';

/** How the emulated link behaves. Each direction is shaped on its own. */
export interface LinkShape {
  /** Added one-way delay, ms (each direction; RTT grows by twice this). Default 0. */
  readonly latencyMs?: number;
  /** Capacity of each direction, bytes per second; 0 = unlimited. Default 0. */
  readonly bytesPerSecond?: number;
}

/** A blackout of a schedule: `atMs` after `schedule()` is called, for `forMs`. */
export interface Blackout {
  readonly atMs: number;
  readonly forMs: number;
}

/** `up`: client → target (what the client sends); `down`: target → client. */
export type LinkDirection = 'up' | 'down';

/** Bytes that left the link (were delivered to the far side) at one time. */
interface Delivery {
  readonly at: number;
  readonly bytes: number;
}

/** Largest piece a chunk is cut into, so a capped link delivers smoothly instead of in 64 KiB lumps. */
const MAX_PIECE = 1024;
/** Bytes queued in one direction of one connection before the sending side is paused (honest queueing: TCP backpressure, never a drop). */
const HIGH_WATER = 256 * 1024;

/**
 * One direction of one connection: a serialising queue (capacity `bytesPerSecond`) followed
 * by a fixed propagation delay (`latencyMs`), like a real point-to-point link. A chunk's
 * bytes leave the queue no faster than the capacity allows and arrive `latencyMs` later.
 * Nothing is dropped: when too much is queued the source socket is paused.
 */
class Pipe {
  private readonly queue: Array<{ due: number; data: Buffer }> = [];
  private queued = 0;
  /** When the serialiser is free again (ms, `Date.now()` clock). */
  private freeAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly shape: () => Required<LinkShape>,
    private readonly delivered: (bytes: number) => void,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.whenEmpty(() => to.end()));
  }

  private push(chunk: Buffer): void {
    const { latencyMs, bytesPerSecond } = this.shape();
    const now = Date.now();
    for (let at = 0; at < chunk.length; at += MAX_PIECE) {
      const data = chunk.subarray(at, Math.min(chunk.length, at + MAX_PIECE));
      const start = Math.max(now, this.freeAt);
      this.freeAt = bytesPerSecond > 0 ? start + (data.length * 1000) / bytesPerSecond : start;
      this.queue.push({ due: this.freeAt + latencyMs, data });
      this.queued += data.length;
    }
    if (this.queued > HIGH_WATER) this.from.pause();
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const head = this.queue[0] as { due: number };
    this.timer = setTimeout(() => this.drain(), Math.max(0, Math.ceil(head.due - Date.now())));
  }

  private drain(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length > 0 && (this.queue[0] as { due: number }).due <= now) {
      const { data } = this.queue.shift() as { data: Buffer };
      this.queued -= data.length;
      if (this.to.destroyed) continue;
      this.to.write(data);
      this.delivered(data.length);
    }
    if (this.queued <= HIGH_WATER / 2 && this.from.isPaused()) this.from.resume();
    if (this.queue.length === 0) for (const fn of this.emptied.splice(0)) fn();
    this.arm();
  }

  private readonly emptied: Array<() => void> = [];

  /** Runs `fn` once what is on the link has arrived (at once when nothing is). */
  whenEmpty(fn: () => void): void {
    if (this.queue.length === 0) fn();
    else this.emptied.push(fn);
  }

  /** The link was cut: what was on it is gone with the connection. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queued = 0;
    this.emptied.length = 0;
  }
}

/**
 * A userspace TCP link between a client and a target on loopback, for degraded-link tests
 * (DDIL): added one-way latency, a bandwidth cap per direction (a serialising queue: chunks
 * are delayed, never dropped), and blackouts — `cut()` destroys every connection and, until
 * `restore()`, new connections are refused (`'refuse'`: accepted and reset at once) or left
 * hanging (`'hang'`: accepted, nothing forwarded, destroyed when the link returns, as when
 * SYNs vanish). It counts the bytes it delivers each way, with their times, so a test can
 * measure what went over the link.
 *
 * @example
 * const link = await LinkEmulator.start(0, { latencyMs: 300, bytesPerSecond: 32_000 });
 * const kafka = await startKafka({ advertisedPort: link.port });
 * link.setTarget(kafka.port);
 * link.schedule([{ atMs: 20_000, forMs: 60_000 }]);
 */
export class LinkEmulator {
  private readonly sockets = new Set<Socket>();
  private readonly pipes = new Set<Pipe>();
  private readonly hanging = new Set<Socket>();
  private readonly log: Record<LinkDirection, Delivery[]> = { up: [], down: [] };
  private readonly totals: Record<LinkDirection, number> = { up: 0, down: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private shape: Required<LinkShape>;
  private up = true;
  private cuts = 0;
  private connections = 0;
  private refused = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private targetPort: number,
    private readonly targetHost: string,
    shape: LinkShape,
    private readonly whileDown: 'refuse' | 'hang',
  ) {
    this.shape = { latencyMs: shape.latencyMs ?? 0, bytesPerSecond: shape.bytesPerSecond ?? 0 };
  }

  /**
   * Listens on a free loopback port. `targetPort` 0: connections are refused until
   * `setTarget` names it (for a broker that must advertise this port, so starts after it).
   */
  static start(targetPort: number, shape: LinkShape = {}, options: { targetHost?: string; whileDown?: 'refuse' | 'hang' } = {}): Promise<LinkEmulator> {
    return new Promise((resolve, reject) => {
      let link: LinkEmulator | undefined;
      const server = createServer((client) => {
        if (link === undefined) client.destroy();
        else link.accept(client);
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        link = new LinkEmulator(server, typeof addr === 'object' && addr ? addr.port : 0, targetPort, options.targetHost ?? '127.0.0.1', shape, options.whileDown ?? 'refuse');
        resolve(link);
      });
    });
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (!this.up && this.whileDown === 'hang') {
      this.hanging.add(client);
      client.on('close', () => this.hanging.delete(client));
      return;
    }
    if (!this.up || this.targetPort === 0) {
      this.refused++;
      client.destroy();
      return;
    }
    this.connections++;
    client.setNoDelay(true);
    const upstream = connect({ port: this.targetPort, host: this.targetHost });
    upstream.setNoDelay(true);
    upstream.on('error', () => undefined);
    const shape = (): Required<LinkShape> => this.shape;
    const upPipe = new Pipe(client, upstream, shape, (n) => this.count('up', n));
    const downPipe = new Pipe(upstream, client, shape, (n) => this.count('down', n));
    const ends: Array<[Socket, Socket, Pipe, Pipe]> = [
      [client, upstream, upPipe, downPipe],
      [upstream, client, downPipe, upPipe],
    ];
    for (const [s, peer, fromS, toS] of ends) {
      this.pipes.add(fromS);
      this.sockets.add(s);
      // What `s` sent before it closed still crosses the link; what was on its way to it is gone.
      s.on('close', () => {
        this.sockets.delete(s);
        toS.stop();
        this.pipes.delete(toS);
        fromS.whenEmpty(() => peer.destroy());
      });
    }
  }

  private count(dir: LinkDirection, bytes: number): void {
    this.totals[dir] += bytes;
    this.log[dir].push({ at: Date.now(), bytes });
  }

  setTarget(port: number): void {
    this.targetPort = port;
  }

  /** Changes latency and/or capacity for what is sent from now on. */
  reshape(shape: LinkShape): void {
    this.shape = { ...this.shape, ...shape };
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Connections forwarded, refused, and cuts so far. */
  get stats(): { connections: number; refused: number; cuts: number; open: number } {
    return { connections: this.connections, refused: this.refused, cuts: this.cuts, open: this.sockets.size / 2 };
  }

  /** A blackout starts: every connection is destroyed, bytes on the link with it. */
  cut(): void {
    if (this.up) this.cuts++;
    this.up = false;
    for (const p of this.pipes) p.stop();
    for (const s of this.sockets) s.destroy();
  }

  /** The link is back; connections left hanging during the blackout are dropped (their client never got through). */
  restore(): void {
    this.up = true;
    for (const s of this.hanging) s.destroy();
  }

  /** Cuts now and restores after `ms`; resolves once restored. */
  blackout(ms: number): Promise<void> {
    this.cut();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.restore();
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** Schedules blackouts relative to now; resolves when the last one is over. */
  schedule(blackouts: readonly Blackout[]): Promise<void> {
    return Promise.all(
      blackouts.map(
        (b) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              this.timers.delete(t);
              void this.blackout(b.forMs).then(resolve);
            }, b.atMs);
            this.timers.add(t);
          }),
      ),
    ).then(() => undefined);
  }

  /** Bytes delivered in `dir` since start, or within [from, to) (ms, `Date.now()` clock). */
  bytes(dir: LinkDirection, from = -Infinity, to = Infinity): number {
    if (from === -Infinity && to === Infinity) return this.totals[dir];
    let n = 0;
    for (const d of this.log[dir]) if (d.at >= from && d.at < to) n += d.bytes;
    return n;
  }

  /** The most bytes delivered in `dir` within any window of `windowMs` between `from` and `to`. */
  peakBytes(dir: LinkDirection, windowMs: number, from = -Infinity, to = Infinity): number {
    const log = this.log[dir].filter((d) => d.at >= from && d.at < to);
    let best = 0;
    let sum = 0;
    let tail = 0;
    for (const d of log) {
      sum += d.bytes;
      while ((log[tail] as Delivery).at <= d.at - windowMs) sum -= (log[tail++] as Delivery).bytes;
      best = Math.max(best, sum);
    }
    return best;
  }

  /** Cuts everything, cancels the schedule, stops listening. */
  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.cut();
    for (const s of this.hanging) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
