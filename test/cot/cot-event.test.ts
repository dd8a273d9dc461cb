import { createServer } from 'node:net';
import { formatLabel, makeLabel, type DerivedRecord } from '../../src/codec';
import { parseMarking } from '../../src/cli/cot-command';
import { CotLink, cotXml, deviceClass, toCotEvents, type CotContext } from '../../src/cot';

const T0 = Date.UTC(2026, 11, 5, 10);
const ctx = (): CotContext => ({ staleMs: 60_000, alertStaleMs: 600_000, lastFix: new Map() });
const derived = (pipeline: string, key: string, values: DerivedRecord['values']): DerivedRecord => ({ type: 'derived', pipeline, key, windowStartMs: T0, windowEndMs: T0 + 10_000, values, revision: 0, label: makeLabel('SECRET', ['USA', 'GBR']), provenance: [] });

describe('CoT events', () => {
  it('types a device by its registry class, else its id prefix, else generic friendly ground', () => {
    expect(deviceClass('sol-001')).toBe('soldier');
    expect(deviceClass('veh-9', () => 'uav')).toBe('uav');
    expect(deviceClass('x-1')).toBe('generic');
  });

  it('makes a unit picture a friendly unit at the mean position, its spread as ce', () => {
    const [e] = toCotEvents(derived('unit-picture', 'patrol-1', { unit: 'patrol-1', members: 8, meanLatDeg: 51.5, meanLonDeg: -0.1, spreadM: 42 }), ctx());
    expect(e).toMatchObject({ uid: 'vigil.unit.patrol-1', type: 'a-f-G-U-C', lat: 51.5, lon: -0.1, ce: 42, staleMs: T0 + 10_000 + 60_000 });
  });

  it('makes a geofence exit and a cleared alert cancels of the same uid as their raise', () => {
    const c = ctx();
    const enter = toCotEvents(derived('geofence', 'sol-1/z1/enter', { latDeg: 1, lonDeg: 2, zoneName: 'Z' }), c)[0];
    const exit = toCotEvents(derived('geofence', 'sol-1/z1/exit', { latDeg: 1, lonDeg: 2, zoneName: 'Z' }), c)[0];
    expect([enter?.type, exit?.type, enter?.uid === exit?.uid]).toEqual(['b-a-g', 'b-a-o-can', true]);
    const raised = toCotEvents(derived('vehicle-anomaly', 'veh-1/overheat/raised', {}), c)[0];
    const cleared = toCotEvents(derived('vehicle-anomaly', 'veh-1/overheat/cleared', {}), c)[0];
    expect([raised?.type, cleared?.type, raised?.uid === cleared?.uid]).toEqual(['b-a-o-tbl', 'b-a-o-can', true]);
    // No fix known: CoT's "unknown" point and error.
    expect(raised).toMatchObject({ lat: 0, lon: 0, ce: 9_999_999 });
    // Statistics windows are not events TAK can use.
    expect(toCotEvents(derived('vitals', 'sol-1', { readings: 10 }), c)).toEqual([]);
  });

  it('writes XML with its text escaped and the label as a marking', () => {
    const [e] = toCotEvents(derived('geofence', 'sol-1/z1/dwell', { latDeg: 1, lonDeg: 2, zoneName: '<Z & "Q">' }), ctx());
    const xml = cotXml(e as NonNullable<typeof e>);
    expect(xml).toContain('callsign="sol-1 dwell &lt;Z &amp; &quot;Q&quot;&gt;"');
    expect(xml).toContain('<__vigil label="SECRET//REL TO GBR, USA"/>');
    expect(formatLabel(makeLabel('UNCLASSIFIED'))).toBe('UNCLASSIFIED');
  });

  it('reads a ceiling as analysts write it, and refuses anything else naming the levels', () => {
    expect(parseMarking('SECRET//REL TO USA, GBR')).toEqual(makeLabel('SECRET', ['GBR', 'USA']));
    expect(parseMarking('RESTRICTED')).toEqual(makeLabel('RESTRICTED'));
    expect(() => parseMarking('SECRETISH')).toThrow(/the level must be one of UNCLASSIFIED/);
    expect(() => parseMarking('SECRET//REL TO g')).toThrow(/releasability/);
  });
});

describe('CotLink', () => {
  it('refuses a destination it cannot use, naming the forms it takes', () => {
    expect(() => new CotLink({ url: 'http://tak:8087' })).toThrow(/expected tcp:\/\/host:port, tls:\/\/host:port or udp:\/\/host:port/);
  });

  it('holds at most its backlog while the link is down, dropping the oldest and counting them', async () => {
    // A port nobody listens on: taken and released.
    const port = await new Promise<number>((r) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => r(p));
      });
    });
    const link = new CotLink({ url: `tcp://127.0.0.1:${port}`, backlog: 3, retryMinMs: 50, retryMaxMs: 100 });
    for (let i = 0; i < 5; i++) link.send(`<event n="${i}"/>`);
    expect(link.stats()).toMatchObject({ up: false, backlog: 3, dropped: 2, sent: 0 });
    await link.close(0);
  });
});
