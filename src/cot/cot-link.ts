import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { VigilError } from '../errors';

/** Where CoT goes: a TAK server's streaming input over TCP or TLS, or UDP (multicast SA on a LAN). */
export interface CotLinkOptions {
  /** `tcp://host:port`, `tls://host:port` or `udp://group-or-host:port` (TAK's SA multicast: udp://239.2.3.1:6969). */
  readonly url: string;
  /** TLS: CA, client certificate and key (TAK servers require client certificates on 8089). */
  readonly tls?: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'servername' | 'rejectUnauthorized'>;
  /** Events held while the link is down (oldest dropped first, counted). Default 10,000. */
  readonly backlog?: number;
  /** Reconnect backoff bounds, ms. Default 500 … 30,000. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Told when the link goes up or down (with the reason). */
  readonly onState?: (up: boolean, reason?: string) => void;
}

export interface CotLinkStats {
  readonly up: boolean;
  readonly sent: number;
  readonly backlog: number;
  /** Events dropped from a full backlog (oldest first). */
  readonly dropped: number;
  readonly reconnects: number;
}

/**
 * The link to TAK. TCP and TLS: one connection, events written as they come; while it is
 * down they wait in a bounded backlog (oldest dropped and counted when full) and the link
 * reconnects with backoff, sending the backlog first. UDP: one datagram per event, nothing
 * held (SA is best effort by nature).
 */
export class CotLink {
  private readonly proto: 'tcp' | 'tls' | 'udp';
  private readonly host: string;
  private readonly port: number;
  private socket: Socket | undefined;
  private udp: UdpSocket | undefined;
  private connected = false;
  private closed = false;
  private readonly queue: string[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private readonly counters = { sent: 0, dropped: 0, reconnects: 0 };

  constructor(private readonly o: CotLinkOptions) {
    const m = /^(tcp|tls|udp):\/\/(\[[^\]]+\]|[^:/]+):([0-9]{1,5})\/?$/.exec(o.url);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) throw new VigilError('VIGIL_E_CONFIG_INVALID', `CoT destination "${o.url}": expected tcp://host:port, tls://host:port or udp://host:port`, { details: { key: 'cot.url' } });
    this.proto = m[1] as 'tcp' | 'tls' | 'udp';
    this.host = (m[2] as string).replace(/^\[|\]$/g, '');
    this.port = port;
    this.delay = o.retryMinMs ?? 500;
    if (this.proto === 'udp') {
      this.udp = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
      this.udp.on('error', (err) => this.o.onState?.(false, err.message));
      this.connected = true;
    } else this.connect();
  }

  stats(): CotLinkStats {
    return { up: this.connected, sent: this.counters.sent, backlog: this.queue.length - this.head, dropped: this.counters.dropped, reconnects: this.counters.reconnects };
  }

  /** Sends one event (XML), or holds it until the link is up. */
  send(xml: string): void {
    if (this.closed) return;
    if (this.udp !== undefined) {
      this.udp.send(xml, this.port, this.host);
      this.counters.sent++;
      return;
    }
    const max = this.o.backlog ?? 10_000;
    if (this.queue.length - this.head >= max) {
      this.head++;
      this.counters.dropped++;
    }
    this.queue.push(xml);
    if (this.connected) this.flush();
  }

  private flush(): void {
    const s = this.socket;
    while (s !== undefined && this.connected && this.head < this.queue.length) {
      const xml = this.queue[this.head] as string;
      this.queue[this.head++] = '';
      this.counters.sent++;
      if (!s.write(xml + '\n')) break; // the kernel buffer is full: continue on 'drain'
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private connect(): void {
    if (this.closed) return;
    const onUp = (): void => {
      this.connected = true;
      this.delay = this.o.retryMinMs ?? 500;
      this.o.onState?.(true);
      this.flush();
    };
    const s = this.proto === 'tls' ? tlsConnect({ host: this.host, port: this.port, ...this.o.tls }, onUp) : netConnect({ host: this.host, port: this.port }, onUp);
    s.setNoDelay(true);
    s.setKeepAlive(true, 10_000);
    this.socket = s;
    s.on('drain', () => this.flush());
    s.on('data', () => undefined); // a TAK server may talk back (pings); not needed here
    s.on('error', (err) => this.down(err.message));
    s.on('close', () => this.down('connection closed'));
  }

  private down(reason: string): void {
    if (this.socket === undefined) return;
    const wasUp = this.connected;
    this.socket.destroy();
    this.socket = undefined;
    this.connected = false;
    if (wasUp || this.counters.reconnects === 0) this.o.onState?.(false, reason);
    if (this.closed) return;
    this.counters.reconnects++;
    const wait = this.delay;
    this.delay = Math.min(this.o.retryMaxMs ?? 30_000, this.delay * 2);
    this.timer = setTimeout(() => this.connect(), wait);
    this.timer.unref();
  }

  /** Sends what it can of the backlog (bounded wait), then closes. */
  async close(waitMs = 2000): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (this.connected && this.head < this.queue.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    clearTimeout(this.timer);
    const s = this.socket;
    this.socket = undefined;
    if (s !== undefined) await new Promise<void>((r) => s.end(() => r()));
    this.udp?.close();
    this.connected = false;
  }
}
