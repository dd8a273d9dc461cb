import { createServer, type Server } from 'node:net';
// aedes 0.51 is the last CommonJS line (1.x is ESM-only, which jest on Node 20 cannot load);
// the demo broker listens on loopback and takes no QoS2 traffic from Vigil's devices.
import { createBroker } from 'aedes';
import { VigilError } from '../../errors';
import { handleWithMqtt5Front } from './mqtt5-front';

/** The demo's in-process MQTT broker: aedes (MQTT 3.1.1) behind a translator that also lets MQTT 5 clients in. */
export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/**
 * Starts aedes on `port` (1883 by default), for MQTT 5 and 3.1.1 clients (`handleWithMqtt5Front`).
 * When the port is taken it says so and, with
 * `fallbackToFreePort`, takes a free one instead (the caller prints it); otherwise it fails
 * with `VIGIL_E_PORT_IN_USE` naming the port: never an obscure EADDRINUSE.
 */
export async function startEmbeddedBroker(options: { port?: number; host?: string; fallbackToFreePort?: boolean; onNotice?: (msg: string) => void } = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const wanted = options.port ?? 1883;
  const aedes = createBroker();
  const server = createServer((socket) => handleWithMqtt5Front(socket, (stream) => aedes.handle(stream)));
  let port: number;
  try {
    port = await listen(server, wanted, host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (!options.fallbackToFreePort) {
      await new Promise<void>((r) => aedes.close(() => r()));
      throw new VigilError('VIGIL_E_PORT_IN_USE', `MQTT port ${host}:${wanted} is already in use (another broker?); stop it, or choose another port with --mqtt-port`, { details: { port: wanted } });
    }
    options.onNotice?.(`MQTT port ${wanted} is in use; the embedded broker takes a free port instead`);
    port = await listen(server, 0, host);
  }
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close: async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
