/**
 * Renders the live map with headless Chromium for the README (docs/img/live-map.png): a
 * simulated fleet's positions and a few alerts are sealed onto a memory bus, a server offers
 * them through the WebSocket tap, and Chromium loads `/map` replaying both streams. Not a
 * test (tests do not depend on Chromium); run by hand:
 *
 *   npx tsx test/serve/render-live-map.ts [out.png]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus, type OutgoingMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type PositionReading, type VigilRecord } from '../../src/codec';
import { generateStreamKey, type StreamDataKey } from '../../src/crypto';
import { createMetrics } from '../../src/metrics';
import { startHttpServer, TapEndpoint } from '../../src/serve';
import { createFleet } from '../../src/sim';
import { TapCatalog, tapToken } from '../../src/tap';
import WebSocket from 'ws';

const OUT = process.argv[2] ?? join(__dirname, '..', '..', 'docs', 'img', 'live-map.png');
const START = Date.UTC(2026, 0, 1, 9);
const MINUTES = 9;

async function main(): Promise<void> {
  const codec = new RecordCodec();
  const positionKey = generateStreamKey('telemetry.position-1');
  const alertKey = generateStreamKey('derived.alerts-1');
  const label = makeLabel('SECRET', ['GBR', 'USA']);
  const seal = (record: VigilRecord, key: StreamDataKey, k: string): OutgoingMessage => {
    const s = codec.seal(record, key);
    return { key: k, value: Buffer.from(s.value), headers: { [RECORD_KEY_ID_HEADER]: s.keyId } };
  };

  const positions: OutgoingMessage[] = [];
  const alerts: OutgoingMessage[] = [];
  const alerted = new Set<string>();
  const last = new Map<string, PositionReading>();
  let seq = 0n;
  const fleet = createFleet({ seed: 11, vehicles: 5, soldiers: 8, ugs: 4, uavs: 1 }, { startMs: START });
  fleet.advance(START + MINUTES * 60_000, (deviceId, reading, atMs) => {
    seq++;
    if (reading.kind === 'position') {
      const p: PositionReading = { ...reading, offsetMs: 0 };
      last.set(deviceId, p);
      positions.push(seal({ type: 'telemetry', deviceId, seq, eventTimeMs: atMs, ingestTimeMs: atMs + 40, gatewayId: 'gw-1', kind: 'position', label, readings: [p] }, positionKey, deviceId));
      return;
    }
    // A few alerts of the kinds detectors raise: an overheating engine, a UGS seeing a person.
    let alert: string | undefined;
    if (reading.kind === 'vehicle' && (reading.engineTempC ?? 0) > 108) alert = `engine ${Math.round(reading.engineTempC ?? 0)} °C`;
    if (reading.kind === 'ugs' && reading.detection === 'person' && reading.confidence > 0.6) alert = `UGS: person ${reading.confidence.toFixed(2)}`;
    if (alert === undefined || alerted.has(deviceId)) return;
    alerted.add(deviceId);
    const at = last.get(deviceId);
    alerts.push(seal({
      type: 'derived', pipeline: 'alerts', windowStartMs: atMs, windowEndMs: atMs, key: deviceId,
      values: { alert, ...(at ? { lat: at.lat, lon: at.lon } : {}) }, revision: 0, label, provenance: [{ deviceId, firstSeq: seq, lastSeq: seq }],
    }, alertKey, deviceId));
  });

  const bus = new MemoryBus();
  await bus.admin().ensureTopics([{ topic: 'telemetry.position', partitions: 4 }, { topic: 'derived.alerts', partitions: 1 }]);
  const producer = bus.producer();
  await producer.send('telemetry.position', positions);
  await producer.send('derived.alerts', alerts);
  const metrics = createMetrics();
  const catalog = new TapCatalog({ bus, streams: { 'telemetry.position': [positionKey], 'derived.alerts': [alertKey] } });
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, tap: new TapEndpoint({ catalog, sender: { maxQueued: 20_000, maxQueuedBytes: 64 * 1024 * 1024 } }) });
  const url = `${server.url}/map#stream=telemetry.position&token=${tapToken(positionKey, 'telemetry.position')}` +
    `&alerts=derived.alerts&alertsToken=${tapToken(alertKey, 'derived.alerts')}&from=beginning&trail=400`;
  const profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'));
  console.log(`${positions.length} positions, ${alerts.length} alerts; ${server.url}/map`);
  const chromium = spawn('chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, '--window-size=1200,800',
    '--remote-debugging-port=0', url,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    // A plain --screenshot fires at page load, before the tap has replayed anything; the
    // DevTools protocol lets us wait until every record is on the map, then capture.
    const cdp = await devtools(chromium);
    // The window size includes the headless browser's frame; the page gets exactly this.
    await cdp.call('Emulation.setDeviceMetricsOverride', { width: 1200, height: 800, deviceScaleFactor: 1, mobile: false });
    await cdp.until(`+document.getElementById('n-rec').textContent >= ${positions.length} && document.querySelectorAll('#alerts div').length >= ${alerts.length}`);
    await new Promise((r) => setTimeout(r, 800)); // the next render pass
    const shot = (await cdp.call('Page.captureScreenshot', { format: 'png' })) as { data: string };
    writeFileSync(OUT, Buffer.from(shot.data, 'base64'));
    cdp.close();
    console.log(`wrote ${OUT}`);
  } finally {
    chromium.kill();
    await new Promise((r) => chromium.once('exit', r));
    rmSync(profile, { recursive: true, force: true });
    await producer.close();
    await server.close();
    metrics.close();
    await bus.close();
  }
}

interface DevTools {
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  until(expression: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** A DevTools protocol session with the page Chromium opened. */
async function devtools(chromium: ChildProcess): Promise<DevTools> {
  const port = await new Promise<string>((resolve, reject) => {
    let err = '';
    chromium.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(err);
      if (m) resolve(m[1] as string);
    });
    chromium.once('exit', (code) => reject(new Error(`chromium exited (${code}): ${err.slice(-500)}`)));
  });
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ type: string; webSocketDebuggerUrl: string }>;
  const page = targets.find((t) => t.type === 'page');
  if (!page) throw new Error('chromium opened no page');
  const socket = new WebSocket(page.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.on('message', (data) => {
    const m = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (m.id !== undefined) waiting.get(m.id)?.(m.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  return {
    call,
    async until(expression, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = (await call('Runtime.evaluate', { expression, returnByValue: true })) as { result?: { value?: unknown } };
        if (r.result?.value === true) return;
        if (Date.now() > end) throw new Error(`page never satisfied: ${expression}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    },
    close: () => socket.close(),
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
