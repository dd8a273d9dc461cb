import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy whose link can be cut and restored, to play a DDIL outage between a
 * client and a real broker deterministically: `cut()` drops every connection and refuses
 * new ones until `restore()`.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private up = true;
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private targetPort: number,
  ) {}

  /**
   * `targetPort` 0: connections are refused until `setTarget` names it — for a broker that
   * must advertise this proxy's port, so it can only start once the proxy listens.
   */
  static start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      let proxy: TcpProxy | undefined;
      const server = createServer((client) => {
        if (!proxy || !proxy.up || proxy.targetPort === 0) {
          client.destroy();
          return;
        }
        const upstream = connect({ port: proxy.targetPort, host: targetHost });
        const p = proxy;
        for (const s of [client, upstream]) {
          p.sockets.add(s);
          s.on('close', () => p.sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        proxy = new TcpProxy(server, typeof addr === 'object' && addr ? addr.port : 0, targetPort);
        resolve(proxy);
      });
    });
  }

  setTarget(port: number): void {
    this.targetPort = port;
  }

  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}
