import WebSocket from 'ws';
import { MemoryBus } from '../../src/bus';
import { generateStreamKey } from '../../src/crypto';
import { createMetrics, type VigilMetrics } from '../../src/metrics';
import { startHttpServer, TapEndpoint, type VigilHttpServer } from '../../src/serve';
import { TapCatalog, tapToken } from '../../src/tap';
import { position, produce, sealed, until, vitals } from '../tap/helpers';

const vitalsKey = generateStreamKey('derived.vitals-1');
const positionKey = generateStreamKey('telemetry.position-1');
const wrongKey = generateStreamKey('telemetry.position-0');

interface Frame {
  readonly type: string;
  readonly [k: string]: unknown;
}

describe('WebSocket tap and live map', () => {
  let bus: MemoryBus;
  let metrics: VigilMetrics;
  let endpoint: TapEndpoint;
  let server: VigilHttpServer;
  const sockets: WebSocket[] = [];

  async function start(sender?: { maxQueued?: number; maxInFlight?: number }): Promise<void> {
    const catalog = new TapCatalog({ bus, streams: { 'derived.vitals': [vitalsKey], 'telemetry.position': [positionKey], 'derived.unmade': [vitalsKey] } });
    endpoint = new TapEndpoint({ catalog, ...(sender ? { sender } : {}) });
    server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, tap: endpoint });
  }

  beforeEach(async () => {
    bus = new MemoryBus();
    metrics = createMetrics();
    await bus.admin().ensureTopics([{ topic: 'derived.vitals', partitions: 2 }, { topic: 'telemetry.position', partitions: 1 }]);
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    await server.close();
    metrics.close();
    await bus.close();
  });

  function wsUrl(stream: string, query = ''): string {
    return `${server.url.replace('http:', 'ws:')}/tap/${encodeURIComponent(stream)}${query}`;
  }

  /** Connects and collects frames; resolves once the server said hello (the tap is positioned). */
  async function connect(stream: string, query: string): Promise<{ socket: WebSocket; frames: Frame[]; closed: Promise<number> }> {
    const socket = new WebSocket(wsUrl(stream, query));
    sockets.push(socket);
    const frames: Frame[] = [];
    socket.on('message', (data) => void frames.push(JSON.parse(String(data)) as Frame));
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await until(() => frames.some((f) => f.type === 'hello' || f.type === 'error'), 5000, 'hello');
    return { socket, frames, closed };
  }

  /** The HTTP status of a refused upgrade. */
  function refusal(url: string, headers: Record<string, string> = {}): Promise<number> {
    return refusalWithBody(url, headers).then((r) => r.status);
  }
  function refusalWithBody(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      sockets.push(socket);
      socket.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      socket.on('open', () => reject(new Error('upgrade was accepted')));
      socket.on('error', () => undefined);
    });
  }

  it('streams decoded records as JSON text frames to a client with the stream token', async () => {
    await start();
    await produce(bus, 'derived.vitals', [sealed(vitals(0), vitalsKey)]); // before the client: not sent
    const { frames } = await connect('derived.vitals', `?token=${tapToken(vitalsKey, 'derived.vitals')}`);
    expect(frames[0]).toEqual({ type: 'hello', stream: 'derived.vitals', from: 'latest' });
    await produce(bus, 'derived.vitals', [sealed(vitals(1), vitalsKey), sealed(vitals(2, { revision: 1 }), vitalsKey)]);
    await until(() => frames.length === 3, 5000, 'two records');
    const records = frames.slice(1);
    expect(records.map((f) => f.record).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { type: 'derived', pipeline: 'vitals', windowStartMs: vitals(1).windowStartMs, windowEndMs: vitals(1).windowEndMs, key: 'sol-001', values: { heartRateBpm: 81, n: 10, posture: 'standing' }, revision: 0, label: { level: 'SECRET', releasability: ['GBR', 'USA'] }, provenance: [{ deviceId: 'sol-001', firstSeq: '10', lastSeq: '19' }] },
      { type: 'derived', pipeline: 'vitals', windowStartMs: vitals(2).windowStartMs, windowEndMs: vitals(2).windowEndMs, key: 'sol-001', values: { heartRateBpm: 82, n: 10, posture: 'standing' }, revision: 1, label: { level: 'SECRET', releasability: ['GBR', 'USA'] }, provenance: [{ deviceId: 'sol-001', firstSeq: '20', lastSeq: '29' }] },
    ]);
    expect(records.every((f) => f.type === 'record' && f.stream === 'derived.vitals' && f.keyId === 'derived.vitals-1')).toBe(true);
    expect(endpoint.stats()).toMatchObject({ clients: 1, refused: 0 });
  });

  it('serves live clients of one stream from one shared tap (one consumer, each record opened once), opened on first use and closed with its last client', async () => {
    await start();
    const opened: string[] = [];
    const catalog = (endpoint as unknown as { options: { catalog: TapCatalog } }).options.catalog;
    const open = catalog.open.bind(catalog);
    catalog.open = (stream, o) => {
      opened.push(stream);
      return open(stream, o);
    };
    const token = `?token=${tapToken(vitalsKey, 'derived.vitals')}`;
    const clients = [await connect('derived.vitals', token), await connect('derived.vitals', token), await connect('derived.vitals', token)];
    expect(opened).toEqual(['derived.vitals']);
    await produce(bus, 'derived.vitals', [sealed(vitals(1), vitalsKey), sealed(vitals(2), vitalsKey)]);
    for (const c of clients) await until(() => c.frames.filter((f) => f.type === 'record').length === 2, 5000, 'both records at every client');
    // One leaves: the others keep receiving; all leave: the tap is closed, and the next client opens a new one.
    clients[0]?.socket.close();
    await clients[0]?.closed;
    await produce(bus, 'derived.vitals', [sealed(vitals(3), vitalsKey)]);
    await until(() => (clients[2]?.frames.filter((f) => f.type === 'record').length ?? 0) === 3, 5000, 'the third record');
    for (const c of clients.slice(1)) c.socket.close();
    await until(() => endpoint.stats().clients === 0, 5000, 'clients gone');
    await connect('derived.vitals', token);
    expect(opened).toEqual(['derived.vitals', 'derived.vitals']);
  });

  it('replays with from=beginning and takes the token as a Bearer header too', async () => {
    await start();
    await produce(bus, 'telemetry.position', [sealed(position('veh-001', 0), positionKey), sealed(position('veh-001', 1), positionKey)]);
    const socket = new WebSocket(wsUrl('telemetry.position', '?from=beginning'), { headers: { authorization: `Bearer ${tapToken(positionKey, 'telemetry.position')}` } });
    sockets.push(socket);
    const frames: Frame[] = [];
    socket.on('message', (d) => void frames.push(JSON.parse(String(d)) as Frame));
    await until(() => frames.filter((f) => f.type === 'record').length === 2, 5000, 'replayed records');
    expect(frames.filter((f) => f.type === 'record').map((f) => (f.record as { seq: string }).seq)).toEqual(['1000', '1001']);
  });

  it('refuses a wrong or missing token and a stream not offered alike (401, so streams cannot be probed), and 404 only to a key holder, before upgrading', async () => {
    await start();
    expect(await refusal(wsUrl('telemetry.position', `?token=${tapToken(wrongKey, 'telemetry.position')}`))).toBe(401);
    expect(await refusal(wsUrl('telemetry.position', `?token=${tapToken(vitalsKey, 'derived.vitals')}`))).toBe(401);
    expect(await refusal(wsUrl('telemetry.position'))).toBe(401);
    expect(await refusal(wsUrl('telemetry.position'), { authorization: 'Bearer nope' })).toBe(401);
    // Not offered, and offered with a wrong token: the same answer, byte for byte.
    const unknown = await refusalWithBody(wsUrl('derived.secret', `?token=${tapToken(vitalsKey, 'derived.secret')}`));
    const wrong = await refusalWithBody(wsUrl('derived.vitals', `?token=${tapToken(wrongKey, 'derived.vitals')}`));
    expect(unknown).toEqual(wrong);
    expect(unknown.status).toBe(401);
    expect(unknown.body).not.toContain('secret');
    expect(await refusal(`${server.url.replace('http:', 'ws:')}/tap/%E0%A4%A`)).toBe(401);
    // A key holder learns that an offered stream has no topic yet.
    expect(await refusal(wsUrl('derived.unmade', `?token=${tapToken(vitalsKey, 'derived.unmade')}`))).toBe(404);
    expect(await refusal(`${server.url.replace('http:', 'ws:')}/metrics`)).toBe(404);
    expect(endpoint.stats()).toMatchObject({ clients: 0, refused: 8 });
  });

  it('bounds a slow client: the oldest records are dropped and counted, the newest arrive', async () => {
    await start({ maxQueued: 50, maxInFlight: 4 });
    const { frames } = await connect('derived.vitals', `?token=${tapToken(vitalsKey, 'derived.vitals')}`);
    const total = 2000;
    // One partition, one burst: far faster than the socket completes writes.
    await produce(bus, 'derived.vitals', Array.from({ length: total }, (_, i) => ({ ...sealed(vitals(i), vitalsKey), partition: 0 })));
    await until(() => frames.some((f) => f.type === 'record' && f.offset === String(total - 1)), 10000, 'the newest record');
    const records = frames.filter((f) => f.type === 'record');
    const dropped = frames.filter((f) => f.type === 'dropped').reduce((n, f) => n + (f.count as number), 0);
    expect(dropped).toBeGreaterThan(0);
    expect(records.length + dropped).toBe(total);
    const offsets = records.map((f) => Number(f.offset));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(endpoint.stats().dropped).toBe(dropped);
  });

  it('tells the client and closes with 1011 when the server lacks the key of what the stream carries', async () => {
    await start();
    const { frames, closed } = await connect('telemetry.position', `?token=${tapToken(positionKey, 'telemetry.position')}`);
    await produce(bus, 'telemetry.position', [sealed(position('veh-001', 0), wrongKey)]);
    expect(await closed).toBe(1011);
    expect(frames[frames.length - 1]).toEqual({
      type: 'error', code: 'VIGIL_E_TAP_NO_KEY',
      message: 'stream telemetry.position is sealed under key telemetry.position-0; your key files hold: telemetry.position-1',
    });
  });

  it('closes its clients (1001) and their taps when the server closes', async () => {
    await start();
    const { closed } = await connect('derived.vitals', `?token=${tapToken(vitalsKey, 'derived.vitals')}`);
    await server.close();
    expect(await closed).toBe(1001);
    expect(endpoint.stats().clients).toBe(0);
    server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics }); // for afterEach
  });

  it('serves /map with everything it loads from this server, and nothing without a tap', async () => {
    await start();
    const res = await fetch(`${server.url}/map`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    // Every script and style the page names is served here; nothing is fetched from elsewhere.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((r) => r !== 'data:,');
    expect(refs.sort()).toEqual(['/map/leaflet.css', '/map/leaflet.js', '/map/map-client.js', '/map/map.css', '/map/mgrs.js', '/map/milsymbol.js']);
    for (const r of refs) expect((await fetch(`${server.url}${r}`)).status).toBe(200);
    const plain = await startHttpServer({ host: '127.0.0.1', port: 0, metrics });
    try {
      expect((await fetch(`${plain.url}/map`)).status).toBe(404);
      expect((await fetch(`${plain.url}/map/leaflet.js`)).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
