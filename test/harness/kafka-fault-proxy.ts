import { connect, createServer, type Server, type Socket } from 'node:net';

/** Kafka's Produce API key (request header: int32 size, int16 api key, int16 version, int32 correlation id). */
const PRODUCE = 0;

/**
 * Splits a Kafka byte stream into its size-prefixed frames and hands each frame (without
 * the size) to `onFrame`, while passing the bytes on unchanged.
 */
class Framer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (frame: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (this.buf.length < 4 + size) return;
      this.onFrame(this.buf.subarray(4, 4 + size));
      this.buf = this.buf.subarray(4 + size);
    }
  }
}

/**
 * A loopback proxy in front of a Kafka broker (started with `advertisedPort` = this proxy's
 * port, so clients reach the broker only through it) that can lose Produce responses: the
 * broker gets the request and writes the batch, but the client never hears back — its
 * connection is cut when the response comes. That is what a broker crash or a link cut at
 * the wrong moment does, deterministically.
 */
export class KafkaFaultProxy {
  private readonly sockets = new Set<Socket>();
  private target: number | undefined;
  private losing = false;
  /** Produce responses lost so far. */
  lostResponses = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(): Promise<KafkaFaultProxy> {
    return new Promise((resolve, reject) => {
      let proxy: KafkaFaultProxy | undefined;
      const server = createServer((client) => {
        if (!proxy || proxy.target === undefined) {
          client.destroy();
          return;
        }
        proxy.link(client, proxy.target);
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        proxy = new KafkaFaultProxy(server, typeof addr === 'object' && addr ? addr.port : 0);
        resolve(proxy);
      });
    });
  }

  /** The broker's real listener port (known once the broker has started). */
  setTarget(port: number): void {
    this.target = port;
  }

  /** While on, every Produce response is swallowed and its connection cut. */
  loseProduceResponses(on: boolean): void {
    this.losing = on;
  }

  close(): Promise<void> {
    this.target = undefined;
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private link(client: Socket, port: number): void {
    const upstream = connect({ port, host: '127.0.0.1' });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const produceIds = new Set<number>();
    const requests = new Framer((f) => {
      if (f.length >= 8 && f.readInt16BE(0) === PRODUCE) produceIds.add(f.readInt32BE(4));
    });
    let cut = false;
    const responses = new Framer((f) => {
      const id = f.length >= 4 ? f.readInt32BE(0) : -1;
      if (!produceIds.delete(id) || !this.losing || cut) return;
      cut = true;
      this.lostResponses++;
      client.destroy();
      upstream.destroy();
    });
    client.on('data', (chunk: Buffer) => {
      requests.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      // Frames are examined before anything of this chunk reaches the client, so a lost
      // response is lost whole (a chunk may carry it with other responses; those go too,
      // as they would when a connection breaks).
      responses.push(chunk);
      if (!cut) client.write(chunk);
    });
  }
}
