import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { isVigilError } from '../errors';
import { tapRecordJson, type StreamTap, type TapCatalog } from '../tap';
import { BoundedSender, type BoundedSenderOptions } from './bounded-sender';

/** URL path prefix of the WebSocket tap: `/tap/<stream>`. */
export const TAP_PATH = '/tap/';

/** Options of `TapEndpoint`. */
export interface TapEndpointOptions {
  /** The streams offered and their keys. */
  readonly catalog: TapCatalog;
  /** Per-client send budget (see `BoundedSender`): defaults 1,000 messages, 4 MiB, 64 in flight. */
  readonly sender?: BoundedSenderOptions;
}

/** Counters of a `TapEndpoint`. */
export interface TapEndpointStats {
  /** Clients connected now. */
  readonly clients: number;
  /** Upgrades refused: bad or missing token, or a stream not offered (401, alike); offered but absent from the bus (404). */
  readonly refused: number;
  /** Messages dropped for slow clients, in all. */
  readonly dropped: number;
}

/** Where a client's tap starts: all the bus holds, what is produced from now, or what was produced since a time (ms). */
type TapStart = 'beginning' | 'latest' | number;

interface Client {
  readonly socket: WebSocket;
  readonly sender: BoundedSender;
  /** Its own tap (history: from=beginning or a time), or none when it shares the stream's live tap. */
  tap?: StreamTap;
  /** The shared live tap it is on (from=latest). */
  live?: LiveTap;
}

/**
 * One tap per stream for every client that wants it live: each record is read from Kafka,
 * opened and serialised once, then queued to each client (its own bounded sender). With one
 * tap per client, 50 analysts on a 2,000 records/s stream meant 50 consumers opening 100,000
 * records/s between them: the console fell behind and its memory grew (`npm run bench console`).
 */
interface LiveTap {
  readonly stream: string;
  readonly clients: Set<Client>;
  readonly opening: Promise<StreamTap>;
  tap?: StreamTap;
}

/**
 * The WebSocket tap: `ws://host:port/tap/<stream>?token=<tap token>[&from=beginning|<ms since the epoch>]`
 * streams the decoded records of an offered stream to a client that shows the stream's tap
 * token (`tapToken`; also accepted as `Authorization: Bearer <token>`), one JSON text frame
 * per record, shaped as `vigil tap --json` prints them. Live clients (from the latest record)
 * share one tap per stream (one private consumer group, each record opened and serialised
 * once); a client with `from` gets its own. Every client has a bounded send queue: a slow client loses the oldest live records, with a `dropped` notice, never the
 * server's memory; with `from=beginning` (or `from=<ms>`: what was produced since then) the records the bus held before the client came are
 * read at the client's pace instead (backpressure on its own tap), so none of them is lost. Refusals happen before the upgrade: 401 for a wrong or missing token and, alike,
 * for a stream not offered here (no probing which streams exist); 404 only to a holder of
 * the stream's key, for an offered stream whose topic does not exist yet.
 *
 * Frames the server sends: `{"type":"hello","stream","from"}` once the tap is positioned, then `record`s
 * (`TapRecordJson`), `dropped` notices, `unreadable` notices (a record that could not be
 * opened: partition, offset, code) and, before closing with 1011, an `error`.
 */
export class TapEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
  private readonly clients = new Set<Client>();
  private readonly live = new Map<string, LiveTap>();
  private refused = 0;
  private dropped = 0;
  private closed = false;

  constructor(private readonly options: TapEndpointOptions) {}

  /**
   * Takes an HTTP upgrade request if it is for the tap (returns false otherwise, leaving the
   * socket to the caller). Answers refusals itself.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://tap.invalid');
    if (!url.pathname.startsWith(TAP_PATH)) return false;
    void this.upgrade(req, socket, head, url).catch(() => socket.destroy());
    return true;
  }

  /** Whether `token` is the tap token of an offered `stream` (what other endpoints of the map ask, e.g. `/zones.json`). */
  authorize(stream: string, token: string | null | undefined): boolean {
    return this.options.catalog.authorize(stream, token);
  }

  /**
   * What an upgrade with this token would get, as an HTTP status: 401 (wrong token, or a
   * stream not offered: alike), 404 (offered, but its topic does not exist yet), 200. A
   * browser cannot read why a WebSocket was refused; the map asks here (`GET /tap/<stream>`).
   */
  async check(stream: string, token: string | null | undefined): Promise<200 | 401 | 404> {
    if (!this.authorize(stream, token)) return 401;
    return (await this.options.catalog.exists(stream)) ? 200 : 404;
  }

  stats(): TapEndpointStats {
    let dropped = this.dropped;
    for (const c of this.clients) dropped += c.sender.stats().dropped;
    return { clients: this.clients.size, refused: this.refused, dropped };
  }

  /** Closes every client (1001 going away) and their taps. */
  async close(): Promise<void> {
    this.closed = true;
    const taps = [...this.clients].map((c) => {
      c.socket.close(1001, 'server shutting down');
      return this.release(c);
    });
    await Promise.all(taps);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await this.options.catalog.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const { catalog } = this.options;
    let stream: string | null = null;
    try {
      stream = decodeURIComponent(url.pathname.slice(TAP_PATH.length));
    } catch {
      stream = null;
    }
    if (this.closed) return this.refuse(socket, 503, 'Service Unavailable', 'shutting down');
    const auth = req.headers.authorization;
    const token = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7).trim() : null);
    // The token first, and one answer for every refusal before it: a stream that is not
    // offered, a malformed name and a wrong token look alike, so nobody without a stream key
    // can probe which streams exist.
    if (stream === null || !catalog.authorize(stream, token)) return this.refuse(socket, 401, 'Unauthorized', 'a valid tap token for this stream is required (vigil tap <stream> --token --key <key file>)');
    if (!(await catalog.exists(stream))) return this.refuse(socket, 404, 'Not Found', `stream ${stream} does not exist on the bus`);
    // from=beginning (all the bus holds), from=<ms since the epoch> (records produced since), else the latest.
    const fromParam = url.searchParams.get('from') ?? 'latest';
    const from: TapStart = fromParam === 'beginning' ? 'beginning' : /^\d{1,16}$/.test(fromParam) ? Number(fromParam) : 'latest';
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.serve(ws, stream, from));
  }

  /** The stream's shared live tap, opened on first use; closed when its last client leaves. */
  private joinLive(stream: string, client: Client): LiveTap {
    let live = this.live.get(stream);
    if (live === undefined) {
      const clients = new Set<Client>();
      const opening = this.options.catalog.open(stream, {
        onRecord: (r) => {
          const text = JSON.stringify(tapRecordJson(r));
          for (const c of clients) c.sender.push(text);
        },
        onUnreadable: (u) => {
          const text = JSON.stringify({ type: 'unreadable', partition: u.partition, offset: u.offset, keyId: u.keyId, code: u.code });
          for (const c of clients) c.sender.push(text);
        },
        onError: (err) => {
          if (this.live.get(stream) === entry) this.live.delete(stream);
          for (const c of clients) this.fail(c, err.code, err.message);
        },
      });
      const entry: LiveTap = { stream, clients, opening };
      live = entry;
      this.live.set(stream, entry);
      opening.then(
        (tap) => {
          entry.tap = tap;
          // Everyone left while it was opening.
          if (entry.clients.size === 0) void this.closeLive(entry);
        },
        () => {
          if (this.live.get(stream) === entry) this.live.delete(stream);
        },
      );
    }
    live.clients.add(client);
    client.live = live;
    return live;
  }

  private async closeLive(live: LiveTap): Promise<void> {
    if (this.live.get(live.stream) === live) this.live.delete(live.stream);
    const tap = live.tap ?? (await live.opening.catch(() => undefined));
    await tap?.close().catch(() => undefined);
  }

  private async serve(socket: WebSocket, stream: string, from: TapStart): Promise<void> {
    const history = from !== 'latest';
    const client: Client = { socket, sender: new BoundedSender(socket, this.options.sender) };
    this.clients.add(client);
    socket.on('close', () => void this.release(client));
    // Whatever a client sends is ignored (the tap is one-way); errors end it through 'close'.
    socket.on('error', () => socket.terminate());
    if (!history) {
      try {
        await this.joinLive(stream, client).opening;
        // After the tap is positioned: a client may take hello as "records produced from now on reach me".
        if (this.clients.has(client)) client.sender.push(JSON.stringify({ type: 'hello', stream, from }));
      } catch (err) {
        this.fail(client, isVigilError(err) ? err.code : 'VIGIL_E_INTERNAL', err instanceof Error ? err.message : String(err));
      }
      return;
    }
    try {
      const openedAt = Date.now();
      const tap = await this.options.catalog.open(stream, {
        ...(from === 'beginning' ? { fromBeginning: true } : typeof from === 'number' ? { fromTimestampMs: from } : {}),
        // History (what the bus held before this client came) is read at the client's pace and
        // never dropped: nothing that happened before the page opened goes missing. Live records
        // beyond a slow client's budget push out the oldest (counted): a live view wants the newest.
        onRecord: (r) => {
          const text = JSON.stringify(tapRecordJson(r));
          if (history && r.timestamp < openedAt && client.sender.full()) return client.sender.whenRoom().then(() => client.sender.push(text));
          client.sender.push(text);
          return undefined;
        },
        onUnreadable: (u) => client.sender.push(JSON.stringify({ type: 'unreadable', partition: u.partition, offset: u.offset, keyId: u.keyId, code: u.code })),
        onError: (err) => this.fail(client, err.code, err.message),
      });
      if (!this.clients.has(client)) {
        await tap.close(); // the client left while the tap was opening
        return;
      }
      client.tap = tap;
      // After the tap is positioned: a client may take hello as "records produced from now on reach me".
      client.sender.push(JSON.stringify({ type: 'hello', stream, from: typeof from === 'number' ? new Date(from).toISOString() : from }));
    } catch (err) {
      this.fail(client, isVigilError(err) ? err.code : 'VIGIL_E_INTERNAL', err instanceof Error ? err.message : String(err));
    }
  }

  private fail(client: Client, code: string, message: string): void {
    // Sent directly, not queued: it must not be dropped, and the socket closes right after.
    client.socket.send(JSON.stringify({ type: 'error', code, message }), () => client.socket.close(1011, code.slice(0, 100)));
  }

  private async release(client: Client): Promise<void> {
    if (!this.clients.delete(client)) return;
    this.dropped += client.sender.stats().dropped;
    client.sender.close();
    const live = client.live;
    if (live !== undefined) {
      live.clients.delete(client);
      if (live.clients.size === 0 && live.tap !== undefined) await this.closeLive(live);
      return;
    }
    await client.tap?.close().catch(() => undefined);
  }

  private refuse(socket: Duplex, status: number, reason: string, message: string): void {
    this.refused++;
    const body = JSON.stringify({ error: message }) + '\n';
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
}
