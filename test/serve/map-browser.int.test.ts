import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaBus, type OutgoingMessage } from '../../src/bus';
import { startConsole, type RunningConsole } from '../../src/cli/console-runner';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';
import { startWorker, type RunningWorker } from '../../src/cli/worker-runner';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type PositionReading, type TelemetryRecord } from '../../src/codec';
import { configSchema } from '../../src/config';
import { generateStreamKey, writeKeyFile, type StreamDataKey } from '../../src/crypto';
import { symbolCode } from '../../src/serve';
import { createFleet, type Fleet } from '../../src/sim';
import { tapToken } from '../../src/tap';
import { captureLog } from '../harness/log-lines';
import { Browser, type BrowserPage } from './browser';

/** What the in-page functions use of the page (they run in Chromium; this project compiles without the DOM library). */
interface PageElement {
  readonly textContent: string | null;
  value: string;
  getAttribute(name: string): string | null;
  dispatchEvent(event: unknown): boolean;
}
declare const document: { querySelector(s: string): PageElement | null; querySelectorAll(s: string): Iterable<PageElement> & { readonly length: number }; getElementById(id: string): PageElement | null };
declare const window: { vigilMap: { stats(): MapStats; markers(): Array<{ id: string; sidc: string; x: number; y: number }> } };
declare const Event: new (type: string) => unknown;

/**
 * The live map in a real browser (issue 13, item 3): Debian's Chromium, headless, driven by
 * puppeteer-core, against `vigil console` on real Kafka, fed by the simulator's fleet and a
 * scripted intruder, with the geofence pipeline running in a worker. It asserts what an
 * analyst sees: every device with its symbol code, the zones, a geofence alert after a
 * breach, the alert list's filter and fly-to, the time slider, a malformed record counted,
 * a stale stream and a wrong token said so. It saves docs/img/map.png (the README's picture)
 * and prints the frame rate and update latency with 2,000 devices moving (measured, not asserted).
 */
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');
const prefix = `map${randomUUID().slice(0, 6)}.`;
const POSITION = `${prefix}telemetry.position`;
const GEOFENCE = `${prefix}derived.geofence`;
const dir = mkdtempSync(join(tmpdir(), 'vigil-map-'));
const telemetryKey = generateStreamKey('telemetry-map');
const geofenceKey = generateStreamKey('derived.geofence-map');
const vitalsKey = generateStreamKey('derived.vitals-map');
const label = makeLabel('SECRET');
const codec = new RecordCodec();
const cleanups: Array<() => Promise<unknown> | unknown> = [];
// The worker's and console's logs, kept (bounded) for a failing run's debugger.
const { stream: logStream } = captureLog();
let bus: KafkaBus;
let browser: Browser;
let consoleProc: RunningConsole;
let seq = 0n;

function fix(deviceId: string, atMs: number, reading: Omit<PositionReading, 'kind' | 'offsetMs'>): OutgoingMessage {
  const record: TelemetryRecord = { type: 'telemetry', deviceId, seq: ++seq, eventTimeMs: atMs, ingestTimeMs: atMs, gatewayId: 'gw-map', kind: 'position', label, readings: [{ kind: 'position', offsetMs: 0, ...reading }] };
  const s = codec.seal(record, telemetryKey);
  return { key: deviceId, value: Buffer.from(s.value), headers: { [RECORD_KEY_ID_HEADER]: s.keyId } };
}

/** The fleet's position readings from where it was to `toMs`, sealed as a gateway would. */
function advance(fleet: Fleet, toMs: number): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  fleet.advance(toMs, (deviceId, reading, atMs) => {
    if (reading.kind === 'position') out.push(fix(deviceId, atMs, reading));
  });
  return out;
}

/** Sends in requests of at most 500 records (a broker takes 1 MiB a request). */
async function send(messages: OutgoingMessage[]): Promise<void> {
  const producer = bus.producer();
  for (let i = 0; i < messages.length; i += 500) await producer.send(POSITION, messages.slice(i, i + 500));
}

/** Produces the fleet's positions every 500 ms until stopped. */
function drive(fleet: Fleet): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await send(advance(fleet, Date.now()));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function open(hash: string): Promise<BrowserPage> {
  return browser.open(`${consoleProc.http.url}/map#${hash}`);
}

const text = (page: BrowserPage, selector: string): Promise<string | null> => page.evaluate((s: string) => document.querySelector(s)?.textContent ?? null, selector);
const attrs = (page: BrowserPage, selector: string, names: string[]): Promise<Array<Array<string | null>>> =>
  page.evaluate((a: { selector: string; names: string[] }) => [...document.querySelectorAll(a.selector)].map((e) => a.names.map((n) => e.getAttribute(n))), { selector, names });

interface MapStats {
  devices: number;
  records: number;
  serverDropped: number;
  pageDropped: number;
  malformed: number;
  fps: number;
  longFrames: number;
  latencySamples: number;
  latencyP50: number | null;
  latencyP95: number | null;
  latencyMax: number | null;
}
const mapStats = (page: BrowserPage): Promise<MapStats> => page.evaluate(() => window.vigilMap.stats());
/** The map's address; without `from` the page replays the last hour the bus holds (Kafka offsets by time), then follows live. */
const pageHash = (from?: 'latest'): string =>
  `stream=${POSITION}&token=${tapToken(telemetryKey, POSITION)}&alerts=${GEOFENCE}&alertsToken=${tapToken(geofenceKey, GEOFENCE)}${from === undefined ? '' : `&from=${from}`}&stale=5`;

beforeAll(async () => {
  mkdirSync(join(dir, 'keys'));
  await writeKeyFile(join(dir, 'keys', 'telemetry.position.key.json'), { type: 'stream', key: telemetryKey });
  await writeKeyFile(join(dir, 'keys', 'derived.geofence.key.json'), { type: 'stream', key: geofenceKey });
  await writeKeyFile(join(dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: vitalsKey });
  bus = new KafkaBus({ brokers, clientId: `map-test-${prefix}`, logLevel: 'nothing' });
  cleanups.push(() => bus.close());
  await bus.admin().ensureTopics([{ topic: POSITION, partitions: 3 }, { topic: GEOFENCE, partitions: 3 }]);
  const cfg = configSchema.parse({
    log: { level: 'info' },
    kafka: { brokers, topicPrefix: prefix, clientId: `map-${prefix}`, partitions: 3, sendTimeoutMs: 5000 },
    worker: { pipelines: ['geofence'], telemetryKeyFile: join(dir, 'keys', 'telemetry.position.key.json'), keyDir: join(dir, 'keys'), checkpointIntervalMs: 1000, stateDir: join(dir, 'state') },
    // derived.vitals is offered but no pipeline here makes it: its topic never exists.
    console: { keyDir: join(dir, 'keys'), streams: ['telemetry.position', 'derived.geofence', 'derived.vitals'] },
    http: { host: '127.0.0.1', port: 0 },
  });
  const worker: RunningWorker = await startWorker(cfg, pipelineCatalogue(), { logStream, http: false });
  cleanups.push(() => worker.stop());
  consoleProc = await startConsole(cfg, pipelineCatalogue(), { baseDir: dir, logStream });
  cleanups.push(() => consoleProc.stop());
  // Debian's Chromium, never a downloaded one (see browser-driver.mjs).
  browser = await Browser.launch();
  cleanups.push(() => browser.close());
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the live map in Chromium (real Kafka, geofence worker, vigil console)', () => {
  it('shows every device with its symbol, the zones, a geofence breach as an alert, and what is wrong', async () => {
    // Five minutes of the simulated fleet already on the bus before the page opens (the page replays the last hour), then live.
    const startMs = Date.now() - 5 * 60_000;
    const fleet = createFleet({ seed: 13, vehicles: 5, soldiers: 8, ugs: 4, uavs: 1 }, { startMs });
    await send(advance(fleet, Date.now()));
    const driver = drive(fleet);
    cleanups.push(() => driver.stop());
    const ids = fleet.devices.map((d) => d.deviceId);

    const page = await open(pageHash());
    // Every device painted on the map (in view: the map fits them) with the symbol of its class.
    await page.waitFor((n: number) => window.vigilMap.markers().length >= n, ids.length, 60_000);
    const markers = await page.evaluate(() => window.vigilMap.markers());
    expect(Object.fromEntries(markers.map((m) => [m.id, m.sidc]))).toEqual(Object.fromEntries(ids.map((id) => [id, symbolCode(id)])));
    expect(new Set(markers.map((m) => m.sidc))).toEqual(new Set(['SFGPEV---------', 'SFGPUCI--------', 'SFGPES---------', 'SFAPMFQ--------']));
    expect(markers.every((m) => m.x >= 0 && m.x <= 1060 && m.y >= 0 && m.y <= 860)).toBe(true);
    // The zones the geofence pipeline judges against, from the same reference file.
    await page.waitForSelector('path.vigil-zone[data-zone="ngz-minefield-north"]', 10_000);
    expect((await attrs(page, 'path.vigil-zone', ['data-zone'])).flat().sort()).toEqual(['ngz-minefield-north', 'rz-fuel-point']);
    expect(await attrs(page, '.stream[data-stream$="telemetry.position"]', ['data-status'])).toEqual([['live']]);
    // The pointer's MGRS (the map is the page left of the 340 px panel).
    await page.mouse(500, 400);
    expect(await text(page, '#pointer')).toMatch(/^MGRS 32U[A-Z]{2} \d{5} \d{5}$/);

    // An intruder walks east into the minefield (lon 9.480–9.490, lat 51.205–51.212): two fixes inside confirm the breach.
    const producer = bus.producer();
    const walk = [9.4770, 9.4780, 9.4790, 9.4815, 9.4825, 9.4835];
    let breachAt = 0;
    for (const lon of walk) {
      await producer.send(POSITION, [fix('sol-901', Date.now(), { lat: 51.2085, lon, altM: 210, speedMps: 1.4, headingDeg: 90, accuracyM: 4 })]);
      if (lon === 9.4825) breachAt = Date.now();
      await new Promise((r) => setTimeout(r, 1000));
    }
    await page.waitForSelector('#alerts div.alert[data-device="sol-901"][data-severity="critical"]', 60_000);
    const alertText = (await text(page, '#alerts div.alert[data-device="sol-901"]')) ?? '';
    console.log(`geofence breach → alert on the page: ${Date.now() - breachAt} ms after the confirming fix was produced (upper bound: includes this poll)`);
    expect(alertText).toContain('Minefield north of the ford enter');
    await page.waitForSelector('.vigil-alert.critical', 5000);

    // A record that cannot be opened is counted on the page, not shown, and nothing stops.
    await producer.send(POSITION, [{ key: 'x', value: Buffer.from('not a sealed record'), headers: { [RECORD_KEY_ID_HEADER]: telemetryKey.keyId } }]);
    await page.waitFor(() => document.getElementById('n-bad')?.textContent?.startsWith('1 ') === true, undefined, 30_000);

    // The README's picture: real records, fitted to the data.
    await new Promise((r) => setTimeout(r, 2500));
    await page.screenshot(join(__dirname, '..', '..', 'docs', 'img', 'map.png'));

    // The alert list filters, and a click flies to the device and opens its popup.
    await page.type('#alert-filter', 'sol-901');
    await page.waitFor(() => [...document.querySelectorAll('#alerts div.alert')].every((e) => e.getAttribute('data-device') === 'sol-901'));
    await page.click('#alerts div.alert[data-device="sol-901"]');
    await page.waitFor(() => document.querySelector('.leaflet-popup-content')?.textContent?.includes('sol-901') === true, undefined, 10_000);
    expect(await text(page, '.leaflet-popup-content')).toMatch(/MGRS 32U[A-Z]{2} \d{5} \d{5}/);
    // The time slider goes back in time, and "live" returns.
    await page.evaluate(() => {
      const slider = document.getElementById('time') as PageElement;
      slider.value = '3300';
      slider.dispatchEvent(new Event('input'));
    });
    expect(await text(page, '#time-label')).toMatch(/^\d\d:\d\d:\d\dZ \(−[45]m\)$/);
    await page.click('#live');
    expect(await text(page, '#time-label')).toMatch(/^live/);

    // The fleet stops: the position stream is called stale (stale=5 s in the address).
    await driver.stop();
    await page.waitForSelector('.stream[data-status="stale"]', 30_000);
    expect(await text(page, '#banner')).toContain('is stale');
    expect(await page.errors()).toEqual([]);
    await page.close();
  }, 240_000);

  it('shows the refusal of a wrong token, never showing the stream, and says when a stream does not exist', async () => {
    const wrong: StreamDataKey = generateStreamKey('telemetry-wrong');
    const page = await open(`stream=${POSITION}&token=${tapToken(wrong, POSITION)}`);
    await page.waitForSelector('.stream[data-status="refused"]', 30_000);
    expect(await text(page, '#banner')).toContain('refused: the token does not open this stream');
    expect(await page.evaluate(() => window.vigilMap.markers().length)).toBe(0);
    await page.close();
    const VITALS = `${prefix}derived.vitals`;
    const missing = await open(`stream=${POSITION}&token=${tapToken(telemetryKey, POSITION)}&alerts=${VITALS}&alertsToken=${tapToken(vitalsKey, VITALS)}`);
    await missing.waitForSelector(`.stream[data-stream="${VITALS}"][data-status="missing"]`, 30_000);
    expect(await text(missing, '#banner')).toContain('does not exist on the bus yet');
    await missing.close();
  }, 60_000);

  it('measures the frame rate and update latency with 2,000 devices moving', async () => {
    const fleet = createFleet({ seed: 17, vehicles: 500, soldiers: 1300, ugs: 0, uavs: 200 }, { startMs: Date.now() });
    const page = await open(pageHash('latest'));
    await page.waitForSelector('.stream[data-stream$="telemetry.position"][data-status="live"], .stream[data-stream$="telemetry.position"][data-status="stale"]', 30_000);
    const driver = drive(fleet);
    cleanups.push(() => driver.stop());
    await page.waitFor(() => window.vigilMap.stats().devices >= 2000, undefined, 60_000);
    const before = await mapStats(page);
    await new Promise((r) => setTimeout(r, 20_000));
    const after = await mapStats(page);
    await driver.stop();
    console.log(
      `[load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs; producer, worker, console and browser on this machine] map with ${after.devices} devices moving (1 fix/s each): ${after.fps.toFixed(1)} frames/s, ${after.longFrames - before.longFrames} frames over 100 ms in 20 s; ` +
        `update latency (produced → marker moved) p50 ${after.latencyP50} ms, p95 ${after.latencyP95} ms, max ${after.latencyMax} ms over ${after.latencySamples} updates; ` +
        `${after.records - before.records} records in 20 s, dropped ${after.serverDropped} by the server, ${after.pageDropped} by the page, ${after.malformed} malformed`,
    );
    expect(after.devices).toBe(2000);
    expect(after.records).toBeGreaterThan(before.records);
    await page.close();
  }, 180_000);
});
