import { createServer, type Server, type Socket } from 'node:net';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';

/** One client connection as the fake broker sees it. */
export interface FakeSession {
  readonly socket: Socket;
  readonly received: Packet[];
  /** Writes an MQTT 5 packet. */
  send(packet: Packet): void;
  /** Writes raw bytes (for malformed input). */
  raw(bytes: Buffer | number[]): void;
}

/**
 * A scriptable MQTT "broker" on a loopback port for protocol-level tests: it parses what the
 * client sends and lets the test answer anything, including bytes no real broker would send.
 * `script(session, packet)` is called for every packet the client sends.
 */
export class FakeBroker {
  readonly sessions: FakeSession[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static start(script: (session: FakeSession, packet: Packet) => void): Promise<FakeBroker> {
    return new Promise((resolve, reject) => {
      let broker: FakeBroker | undefined;
      const server = createServer((socket) => {
        const b = broker as FakeBroker;
        b.sockets.add(socket);
        socket.on('close', () => b.sockets.delete(socket));
        socket.on('error', () => undefined);
        const session: FakeSession = {
          socket,
          received: [],
          send: (p) => {
            if (socket.writable) socket.write(generate(p, { protocolVersion: 5 }));
          },
          raw: (bytes) => {
            if (socket.writable) socket.write(Buffer.from(bytes));
          },
        };
        b.sessions.push(session);
        const parser = createParser();
        parser.on('packet', (p: Packet) => {
          session.received.push(p);
          script(session, p);
        });
        parser.on('error', () => socket.destroy());
        socket.on('data', (d) => parser.parse(d));
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        broker = new FakeBroker(server, typeof addr === 'object' && addr ? addr.port : 0);
        resolve(broker);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The polite part of a broker: CONNACK success, SUBACK granting QoS1, PINGRESP. */
export function answerHandshake(session: FakeSession, p: Packet): void {
  if (p.cmd === 'connect') session.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0 });
  else if (p.cmd === 'subscribe') session.send({ cmd: 'suback', messageId: p.messageId as number, granted: p.subscriptions.map(() => 1) });
  else if (p.cmd === 'pingreq') session.send({ cmd: 'pingresp' });
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
