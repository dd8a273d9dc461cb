import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VigilError } from '../errors';
import type { VigilMetrics } from '../metrics';

/** What /readyz reports: ready only when every check passes (e.g. `{ kafka: true, mqtt: false }`). */
export type ReadinessChecks = () => Readonly<Record<string, boolean>>;

export interface HttpServerOptions {
  readonly host: string;
  /** 0 takes a free port; the bound one is in `VigilHttpServer.port`. */
  readonly port: number;
  readonly metrics: VigilMetrics;
  readonly readiness?: ReadinessChecks;
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
  const server: Server = createServer((req, res) => void handle(req, res, options));
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
    url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
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
    } else {
      json(res, 404, { error: `no such endpoint ${path}; try /metrics, /healthz or /readyz` });
    }
  } catch (err) {
    json(res, 500, { error: (err as Error).message });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}
