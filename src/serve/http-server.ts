import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { VigilError } from '../errors';
import type { VigilMetrics } from '../metrics';
import { mapAssets } from './map-assets';
import { DEVICE_SYMBOLS, GENERIC_SYMBOL } from './map-symbols';
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
  /** What the live map shows besides the tapped streams (with `tap` only). */
  readonly map?: MapPageOptions;
  /** HTTPS with this certificate and key (PEM) instead of HTTP; the URL says `https:`. */
  readonly tls?: { readonly cert: Buffer | string; readonly key: Buffer | string };
}

/** A zone the map draws: the geofence pipeline's reference data (`pipelines/reference/zones.json`). */
export interface MapZone {
  readonly id: string;
  readonly name: string;
  readonly class: string;
  /** `[lon, lat]` vertices, GeoJSON order. */
  readonly polygon: ReadonlyArray<readonly [number, number]>;
}

/** Options of the live map page (`/map`). */
export interface MapPageOptions {
  /**
   * Zones drawn on the map, served at `/zones.json` to a client that shows the tap token of
   * any offered stream (`Authorization: Bearer <token>`, `?stream=<stream>`): zone outlines
   * (minefields, fuel points) are not for whoever reaches the port.
   */
  readonly zones?: readonly MapZone[];
  /**
   * Basemap tile URL template (`{z}`, `{x}`, `{y}`, optionally `{s}`), e.g. a site's offline
   * tile server `https://tiles.cp.local/{z}/{x}/{y}.png` or a same-origin path. Without one
   * the map draws a plain background with a graticule. Its origin is added to the page's
   * `img-src`.
   */
  readonly tiles?: string;
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
    } else if (path.startsWith('/tap/') && o.tap !== undefined) {
      // Not an upgrade: says what an upgrade with this token would get (the map shows why it was refused).
      const auth = req.headers.authorization;
      let stream: string | null = null;
      try {
        stream = decodeURIComponent(path.slice('/tap/'.length));
      } catch {
        stream = null;
      }
      const status = stream === null ? 401 : await o.tap.check(stream, auth?.startsWith('Bearer ') === true ? auth.slice(7).trim() : null);
      const body = { 200: { status: 'ok', message: 'this token opens the stream; connect with a WebSocket' }, 401: { status: 'refused', message: 'a valid tap token for this stream is required (vigil tap <stream> --token --key <key file>)' }, 404: { status: 'missing', message: `stream ${String(stream)} does not exist on the bus yet (its pipeline has not run)` } }[status];
      json(res, status, body);
    } else if ((path === '/map' || path.startsWith('/map/') || path === '/zones.json') && o.tap !== undefined) {
      serveMap(req, res, path, o.tap, o.map ?? {});
    } else {
      json(res, 404, { error: `no such endpoint ${path}; try /metrics, /healthz or /readyz${o.tap !== undefined ? ', /map or /tap/<stream>' : ''}` });
    }
  } catch (err) {
    json(res, 500, { error: (err as Error).message });
  }
}

/**
 * The live map: the page, its script, style and libraries (`mapAssets`, all from this
 * server: `script-src 'self'`), `/map/config.json` (symbol table, basemap) and `/zones.json`
 * (for a token holder only). The page takes its tokens from the URL fragment, which browsers
 * never send; no-referrer keeps the page URL out of other requests.
 */
function serveMap(req: IncomingMessage, res: ServerResponse, path: string, tap: TapEndpoint, map: MapPageOptions): void {
  const headers = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'content-security-policy': mapCsp(map.tiles) };
  if (path === '/zones.json') {
    const url = new URL(req.url ?? '/', 'http://map.invalid');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') === true ? auth.slice(7).trim() : null;
    const stream = url.searchParams.get('stream');
    // One answer for every refusal, as the tap gives: no probing which streams exist.
    if (stream === null || !tap.authorize(stream, token)) {
      res.writeHead(401, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: 'a valid tap token of an offered stream is required (Authorization: Bearer <token>, ?stream=<stream>)' }) + '\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ zones: map.zones ?? [] }));
    return;
  }
  if (path === '/map/config.json') {
    const body = { symbols: DEVICE_SYMBOLS, genericSymbol: GENERIC_SYMBOL, tiles: map.tiles ?? null, zones: map.zones !== undefined };
    res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    return;
  }
  const a = mapAssets().get(path === '/map' || path === '/map/' ? 'map.html' : path.slice('/map/'.length));
  if (a === undefined) {
    json(res, 404, { error: `no such file ${path}` });
    return;
  }
  res.writeHead(200, { 'content-type': a.contentType, ...headers }).end(req.method === 'HEAD' ? undefined : a.body);
}

/** The page's Content-Security-Policy: everything from this server, images also from the basemap's origin. */
export function mapCsp(tiles: string | undefined): string {
  const img = ["'self'", 'data:', 'blob:'];
  if (tiles !== undefined && !tiles.startsWith('/')) {
    const m = /^(https?):\/\/([^/]+)/.exec(tiles);
    if (m !== null) img.push(`${m[1]}://${m[2].replace(/\{s\}/g, '*')}`);
  }
  // Leaflet positions its panes with inline styles: style-src needs 'unsafe-inline'; scripts do not.
  return ["default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", `img-src ${img.join(' ')}`, "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join('; ');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}
