import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { VigilError } from '../errors';
import type { VigilMetrics } from '../metrics';
import { MAP_PAGE_HTML } from './map-page';
import type { TapEndpoint } from './tap-endpoint';

/** What /readyz reports: ready only when every check passes (e.g. `{ kafka: true, mqtt: false }`). */
export type ReadinessChecks = () => Readonly<Record<string, boolean>>;

export interface HttpServerOptions {
  readonly host: string;
  /** 0 takes a free port; the bound one is in `VigilHttpServer.port`. */
  readonly port: number;
  readonly metrics: VigilMetrics;
  readonly readiness?: ReadinessChecks;
  /**
   * Serves the WebSocket tap (`/tap/<stream>`, see `TapEndpoint`) and the live map page
   * (`/map`) that reads it. Closed with the server.
   */
  readonly tap?: TapEndpoint;
  /** HTTPS with this certificate and key (PEM) instead of HTTP; the URL says `https:`. */
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
}

export interface VigilHttpServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The operations endpoints every Vigil process serves: `/metrics` (Prometheus text),
 * `/healthz` (the process is alive: 200 while the event loop turns) and `/readyz` (200 when
 * every readiness check passes, 503 with the failing ones otherwise).
 */
export async function startHttpServer(options: HttpServerOptions): Promise<VigilHttpServer> {
  const listener = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res, options);
  const server: Server = options.tls === undefined ? createServer(listener) : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (options.tap?.handleUpgrade(req, socket, head) !== true) socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new VigilError('VIGIL_E_PORT_IN_USE', `HTTP port ${options.host}:${options.port} is already in use; set http.port (VIGIL_HTTP_PORT) to another port, or 0 for a free one`, {
              details: { host: options.host, port: options.port },
            })
          : new VigilError('VIGIL_E_SERVICE_START', `HTTP server cannot listen on ${options.host}:${options.port}: ${err.message}`, { cause: err }),
      );
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${options.tls === undefined ? 'http' : 'https'}://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: async () => {
      // Upgraded (WebSocket) sockets are no longer the HTTP server's: the endpoint closes them.
      await options.tap?.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, o: HttpServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      const body = await o.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': o.metrics.registry.contentType }).end(body);
    } else if (path === '/healthz') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const checks = o.readiness ? o.readiness() : {};
      const ready = Object.values(checks).every(Boolean);
      json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
    } else if (path === '/map' && o.tap !== undefined) {
      // The page takes its token from the URL fragment; no-referrer keeps the page URL out of other requests.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' }).end(MAP_PAGE_HTML);
    } else {
      json(res, 404, { error: `no such endpoint ${path}; try /metrics, /healthz or /readyz${o.tap !== undefined ? ', /map or /tap/<stream>' : ''}` });
    }
  } catch (err) {
    json(res, 500, { error: (err as Error).message });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}
