import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

/** kafkajs's own keep-alive delay on its sockets. */
const KEEP_ALIVE_DELAY_MS = 60_000;

/**
 * kafkajs's default socket factory (plain TCP or TLS, keep-alive), counting the bytes written
 * to every socket it made, open or closed: what a bus sent to its brokers, Kafka framing and
 * compressed record batches included (before TLS).
 */
export class CountingSockets {
  private readonly open = new Set<Socket>();
  private closedBytes = 0;

  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket: Socket = ssl ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect) : netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.closedBytes += socket.bytesWritten;
    });
    return socket;
  };

  /** Bytes written so far to every socket this factory made. */
  bytesWritten(): number {
    let n = this.closedBytes;
    for (const s of this.open) n += s.bytesWritten;
    return n;
  }
}
