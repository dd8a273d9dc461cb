import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBus } from '../../src/bus';
import { generateStreamKey } from '../../src/crypto';
import { createMetrics, type VigilMetrics } from '../../src/metrics';
import { DEVICE_SYMBOLS, mapAssets, mapCsp, startHttpServer, symbolCode, TapEndpoint, type VigilHttpServer } from '../../src/serve';
import { TapCatalog, tapToken } from '../../src/tap';
import { REFERENCE_ZONES } from '../../pipelines';

/** The page script's pure functions, as Node loads the file (the browser part does not run without a document). */
interface History {
  push(t: number, lat: number, lon: number, stepMs: number, cutoff: number): boolean;
  indexAt(t: number): number;
  between(from: number, to: number): Array<[number, number]>;
  readonly len: number;
}
interface MapClient {
  parseHash(hash: string): Record<string, string>;
  positionsOf(r: unknown): Array<{ id: string; t: number; lat: number; lon: number }> | null;
  alertOf(r: unknown, stream: string): { device: string; sev: string; text: string; lat: number | null } | null;
  formatMgrs(s: string): string;
  sidcOf(id: string, symbols: typeof DEVICE_SYMBOLS, generic: { sidc: string }): string;
  History: new (cap: number) => History;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const client = require('../../src/serve/map/map-client.js') as MapClient;

const label = { level: 'SECRET', releasability: [] };

describe('map symbology', () => {
  it('draws each device class with its MIL-STD-2525C symbol, friendly, and anything else with the generic one', () => {
    expect(symbolCode('veh-001')).toBe('SFGPEV---------');
    expect(symbolCode('sol-012')).toBe('SFGPUCI--------');
    expect(symbolCode('ugs-003')).toBe('SFGPES---------');
    expect(symbolCode('uav-001')).toBe('SFAPMFQ--------');
    expect(symbolCode('gw-sensor-9')).toBe('SFGP-----------');
    expect(symbolCode('veh-001', 'H')).toBe('SHGPEV---------');
    for (const s of DEVICE_SYMBOLS) expect(s.sidc).toHaveLength(15);
    // The page computes the same codes from the table it is served.
    for (const id of ['veh-001', 'sol-012', 'ugs-003', 'uav-001', 'other']) expect(client.sidcOf(id, DEVICE_SYMBOLS, { sidc: 'S*GP-----------' })).toBe(symbolCode(id));
  });
});

describe('map page script', () => {
  it('reads positions from telemetry and derived records, and refuses what is not one', () => {
    const telemetry = { type: 'telemetry', deviceId: 'veh-001', eventTimeMs: 1000, kind: 'position', label, readings: [{ offsetMs: 200, lat: 51.2, lon: 9.5 }, { offsetMs: 0, lat: 200, lon: 9.5 }] };
    expect(client.positionsOf(telemetry)).toEqual([expect.objectContaining({ id: 'veh-001', t: 1200, lat: 51.2, lon: 9.5 })]);
    const unit = { type: 'derived', pipeline: 'unit-picture', key: 'patrol-1', windowStartMs: 0, windowEndMs: 15000, values: { meanLatDeg: 51.1, meanLonDeg: 9.4 }, label };
    expect(client.positionsOf(unit)).toEqual([expect.objectContaining({ id: 'patrol-1', t: 15000, lat: 51.1, lon: 9.4 })]);
    expect(client.positionsOf({ type: 'telemetry', kind: 'vitals', deviceId: 'sol-1', readings: [] })).toBeNull();
    expect(client.positionsOf('garbage')).toBeNull();
    expect(client.positionsOf(null)).toBeNull();
  });

  it('turns alert events into alerts with a severity, and skips windows of statistics', () => {
    const geofence = (zoneClass: string, event: string): unknown => ({
      type: 'derived', pipeline: 'geofence', key: `sol-003/z/${event}`, windowStartMs: 5, windowEndMs: 5, revision: 0, label,
      values: { event, inside: event !== 'exit', zone: 'z', zoneName: 'Minefield', zoneClass, latDeg: 51.2, lonDeg: 9.48 },
    });
    expect(client.alertOf(geofence('no-go', 'enter'), 'derived.geofence')).toEqual(expect.objectContaining({ device: 'sol-003', sev: 'critical', text: 'geofence: Minefield enter', lat: 51.2 }));
    expect(client.alertOf(geofence('restricted', 'dwell'), 'derived.geofence')).toEqual(expect.objectContaining({ sev: 'warning' }));
    expect(client.alertOf(geofence('no-go', 'exit'), 'derived.geofence')).toEqual(expect.objectContaining({ sev: 'info' }));
    const vitals = { type: 'derived', pipeline: 'vitals', key: 'sol-001/tachycardia/raised', windowStartMs: 9, windowEndMs: 9, revision: 0, label, values: { condition: 'tachycardia', state: 'raised', alarm: true } };
    expect(client.alertOf(vitals, 'derived.vitals')).toEqual(expect.objectContaining({ device: 'sol-001', sev: 'critical', text: 'vitals: tachycardia raised', lat: null }));
    const silent = { type: 'derived', pipeline: 'sensor-health', key: 'ugs-001/silence/silent', windowStartMs: 9, windowEndMs: 9, revision: 0, label, values: { event: 'silent', silent: true } };
    expect(client.alertOf(silent, 'derived.sensor-health')).toEqual(expect.objectContaining({ sev: 'warning' }));
    const stats = { type: 'derived', pipeline: 'vitals', key: 'sol-001', windowStartMs: 0, windowEndMs: 10000, revision: 0, label, values: { meanHeartRateBpm: 80 } };
    expect(client.alertOf(stats, 'derived.vitals')).toBeNull();
    expect(client.alertOf({ type: 'derived' }, 'x')).toBeNull();
  });

  it('keeps a bounded, time-ordered history per device, one fix per step', () => {
    const h = new client.History(5);
    for (let t = 0; t <= 20_000; t += 1000) h.push(t, 51 + t / 1e6, 9, 5000, -Infinity);
    expect(h.len).toBe(5); // capacity, whatever arrives
    expect(h.push(1000, 0, 0, 5000, -Infinity)).toBe(false); // late: the trail stays in order
    expect(h.between(0, 30_000).map(([lat]) => Math.round((lat - 51) * 1e6))).toEqual([4000, 8000, 12000, 16000, 20000]);
    expect(h.indexAt(12_000)).toBe(2);
    expect(h.indexAt(100)).toBe(-1);
    h.push(60_000, 52, 9, 5000, 30_000); // older than the cutoff: dropped
    expect(h.len).toBe(1);
  });

  it('reads its settings from the fragment and formats MGRS for reading out', () => {
    expect(client.parseHash('#stream=telemetry.position&token=ab&alerts=derived.geofence,derived.vitals&bad=%E0%A4%A')).toEqual({ stream: 'telemetry.position', token: 'ab', alerts: 'derived.geofence,derived.vitals' });
    expect(client.formatMgrs('32UNB3579872941')).toBe('32UNB 35798 72941');
    expect(client.formatMgrs('32UNB')).toBe('32UNB');
  });
});

describe('map endpoints', () => {
  const key = generateStreamKey('telemetry.position-1');
  let metrics: VigilMetrics;
  let bus: MemoryBus;
  let server: VigilHttpServer;

  beforeEach(async () => {
    metrics = createMetrics();
    bus = new MemoryBus();
    const tap = new TapEndpoint({ catalog: new TapCatalog({ bus, streams: { 'telemetry.position': [key] } }) });
    server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, tap, map: { zones: REFERENCE_ZONES, tiles: 'https://{s}.tiles.cp.local/{z}/{x}/{y}.png' } });
  });
  afterEach(async () => {
    await server.close();
    metrics.close();
    await bus.close();
  });

  it('serves the geofence zones only to a holder of an offered stream key', async () => {
    const zones = (token: string | undefined, stream = 'telemetry.position'): Promise<Response> =>
      fetch(`${server.url}/zones.json?stream=${stream}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    expect((await zones(undefined)).status).toBe(401);
    expect((await zones(tapToken(generateStreamKey('other-1'), 'telemetry.position'))).status).toBe(401);
    expect((await zones(tapToken(key, 'telemetry.position'), 'derived.other')).status).toBe(401);
    const ok = await zones(tapToken(key, 'telemetry.position'));
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { zones: Array<{ id: string; class: string }> };
    expect(body.zones.map((z) => [z.id, z.class])).toEqual(REFERENCE_ZONES.map((z) => [z.id, z.class]));
  });

  it('tells a page why its WebSocket would be refused: wrong token, or a stream not on the bus yet', async () => {
    const probe = async (token: string): Promise<[number, string]> => {
      const res = await fetch(`${server.url}/tap/telemetry.position`, { headers: { authorization: `Bearer ${token}` } });
      return [res.status, ((await res.json()) as { status: string }).status];
    };
    expect(await probe(tapToken(generateStreamKey('other-1'), 'telemetry.position'))).toEqual([401, 'refused']);
    expect(await probe(tapToken(key, 'telemetry.position'))).toEqual([404, 'missing']);
    await bus.admin().ensureTopics([{ topic: 'telemetry.position', partitions: 1 }]);
    expect(await probe(tapToken(key, 'telemetry.position'))).toEqual([200, 'ok']);
    expect((await fetch(`${server.url}/tap/%E0%A4%A`)).status).toBe(401);
  });

  it('serves the symbol table and basemap in /map/config.json, with a CSP that admits the tile origin only for images', async () => {
    const res = await fetch(`${server.url}/map/config.json`);
    const cfg = (await res.json()) as { symbols: unknown; tiles: string; zones: boolean };
    expect(cfg).toEqual({ symbols: JSON.parse(JSON.stringify(DEVICE_SYMBOLS)), genericSymbol: expect.objectContaining({ sidc: 'S*GP-----------' }), tiles: 'https://{s}.tiles.cp.local/{z}/{x}/{y}.png', zones: true });
    const csp = res.headers.get('content-security-policy') as string;
    expect(csp).toContain("img-src 'self' data: blob: https://*.tiles.cp.local");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("connect-src 'self'");
    expect(mapCsp(undefined)).toContain("img-src 'self' data: blob:;");
    expect(mapCsp('/tiles/{z}/{x}/{y}.png')).toContain("img-src 'self' data: blob:;");
    expect((await fetch(`${server.url}/map/nothing.js`)).status).toBe(404);
  });

  it('names no address outside this server in its own files', () => {
    const own = ['map.html', 'map.css', 'map-client.js'].map((f) => readFileSync(join(__dirname, '..', '..', 'src', 'serve', 'map', f), 'utf8'));
    for (const text of own) expect(text.match(/https?:\/\/[^\s"'<>]+/g)).toBeNull();
    expect([...mapAssets().keys()].sort()).toEqual(['images/layers-2x.png', 'images/layers.png', 'leaflet.css', 'leaflet.js', 'map-client.js', 'map.css', 'map.html', 'mgrs.js', 'milsymbol.js']);
  });
});
