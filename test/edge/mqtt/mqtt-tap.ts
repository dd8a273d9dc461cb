import { connect, createServer, type Server, type Socket } from 'node:net';
import { parser as createParser, type Packet } from 'mqtt-packet';

/**
 * A loopback TCP proxy that also parses the MQTT traffic passing through it, so a test can
 * check on the wire what a client sent and received: e.g. that its PUBACKs left in exactly
 * the order the broker's PUBLISHes arrived.
 */
export class MqttTap {
  /** Packet ids of QoS1 PUBLISHes the broker sent the client, in wire order. */
  readonly publishIds: number[] = [];
  /** Packet ids of PUBACKs the client sent the broker, in wire order. */
  readonly pubackIds: number[] = [];
  /** Number of TCP chunks that carried at least one PUBACK from the client. */
  pubackChunks = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static start(targetPort: number): Promise<MqttTap> {
    return new Promise((resolve, reject) => {
      let tap: MqttTap | undefined;
      const server = createServer((client) => {
        const t = tap as MqttTap;
        const upstream = connect({ port: targetPort, host: '127.0.0.1' });
        for (const s of [client, upstream]) {
          t.sockets.add(s);
          s.on('close', () => t.sockets.delete(s));
          s.on('error', () => undefined);
        }
        const fromClient = createParser();
        const fromBroker = createParser({ protocolVersion: 5 });
        let chunkHadPuback = false;
        fromClient.on('packet', (p: Packet) => {
          if (p.cmd === 'puback') {
            t.pubackIds.push(p.messageId as number);
            chunkHadPuback = true;
          }
        });
        fromBroker.on('packet', (p: Packet) => {
          if (p.cmd === 'publish' && p.qos === 1) t.publishIds.push(p.messageId as number);
        });
        client.on('data', (d: Buffer) => {
          chunkHadPuback = false;
          fromClient.parse(d);
          if (chunkHadPuback) t.pubackChunks++;
          upstream.write(d);
        });
        upstream.on('data', (d: Buffer) => {
          fromBroker.parse(d);
          client.write(d);
        });
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        tap = new MqttTap(server, typeof addr === 'object' && addr ? addr.port : 0);
        resolve(tap);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
