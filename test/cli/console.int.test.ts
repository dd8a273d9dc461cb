import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { KafkaBus } from '../../src/bus';
import { makeLabel, RecordCodec, RECORD_KEY_ID_HEADER, type DerivedRecord } from '../../src/codec';
import { startConsole, type RunningConsole } from '../../src/cli/console-runner';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';
import { configSchema } from '../../src/config';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { createCa, issueCertificate } from '../../src/pki';
import { tapToken } from '../../src/tap';

/**
 * `vigil console` on its own against real Kafka (issue 13, item 1): the map, the WebSocket
 * tap of the streams whose keys it holds (a token proves the key; none is served), the
 * operations endpoints, HTTPS with a `vigil pki` console certificate, loopback by default.
 */
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');
const prefix = `con${randomUUID().slice(0, 6)}.`;
const dir = mkdtempSync(join(tmpdir(), 'vigil-console-'));
const vitalsKey = generateStreamKey('derived.vitals-console');
const geofenceKey = generateStreamKey('derived.geofence-console');
let bus: KafkaBus;
const running: RunningConsole[] = [];
const sockets: WebSocket[] = [];

function record(i: number): DerivedRecord {
  return { type: 'derived', pipeline: 'vitals', windowStartMs: 1_790_000_000_000 + i * 10_000, windowEndMs: 1_790_000_010_000 + i * 10_000, key: `sol-${i}`, values: { readings: i + 1 }, revision: 0, label: makeLabel('UNCLASSIFIED'), provenance: [] };
}

async function start(over: Record<string, unknown> = {}): Promise<RunningConsole> {
  const cfg = configSchema.parse({ log: { level: 'silent' }, kafka: { brokers, topicPrefix: prefix, clientId: `console-${prefix}` }, console: { keyDir: join(dir, 'keys') }, http: { port: 0 }, ...over });
  const c = await startConsole(cfg, pipelineCatalogue(), { baseDir: dir, logStream: { write: () => true } as unknown as NodeJS.WritableStream });
  running.push(c);
  return c;
}

function frames(url: string, options: WebSocket.ClientOptions = {}): { all: Array<{ type: string; record?: { key?: string } }>; opened: Promise<void>; status: Promise<number> } {
  const socket = new WebSocket(url, options);
  sockets.push(socket);
  const all: Array<{ type: string; record?: { key?: string } }> = [];
  socket.on('message', (d) => void all.push(JSON.parse(String(d)) as { type: string }));
  const status = new Promise<number>((resolve) => {
    socket.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    socket.on('open', () => resolve(101));
    socket.on('error', () => resolve(0));
  });
  return { all, opened: status.then(() => undefined), status };
}

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  for (const t0 = Date.now(); !fn(); ) {
    if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  mkdirSync(join(dir, 'keys'));
  await writeKeyFile(join(dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: vitalsKey });
  await writeKeyFile(join(dir, 'keys', 'derived.geofence.key.json'), { type: 'stream', key: geofenceKey });
  bus = new KafkaBus({ brokers, clientId: 'console-test', logLevel: 'nothing' });
  await bus.admin().ensureTopics([{ topic: `${prefix}derived.vitals`, partitions: 2 }]);
  const codec = new RecordCodec();
  await bus.producer().send(
    `${prefix}derived.vitals`,
    [0, 1, 2].map((i) => {
      const s = codec.seal(record(i), vitalsKey);
      return { key: `sol-${i}`, value: Buffer.from(s.value), headers: { [RECORD_KEY_ID_HEADER]: s.keyId } };
    }),
  );
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.terminate();
  for (const c of running) await c.stop();
  await bus?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('vigil console (real Kafka)', () => {
  it('offers the derived streams whose keys it holds, on loopback, and taps them from the beginning with a token', async () => {
    const c = await start();
    expect(c.streams).toEqual([`${prefix}derived.vitals`, `${prefix}derived.geofence`]);
    expect(c.http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await fetch(`${c.http.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await fetch(`${c.http.url}/map`)).headers.get('content-type')).toContain('text/html');
    const stream = `${prefix}derived.vitals`;
    const tap = frames(`${c.http.url.replace('http', 'ws')}/tap/${stream}?from=beginning&token=${tapToken(vitalsKey, stream)}`);
    await tap.opened;
    await until(() => tap.all.filter((f) => f.type === 'record').length >= 3, 30_000, 'three records');
    expect(tap.all.filter((f) => f.type === 'record').map((f) => f.record?.key).sort()).toEqual(['sol-0', 'sol-1', 'sol-2']);
    // A token for another stream, a wrong token, none: 401 alike; an offered stream with no topic yet: 404 to a key holder.
    expect(await frames(`${c.http.url.replace('http', 'ws')}/tap/${stream}?token=${tapToken(geofenceKey, `${prefix}derived.geofence`)}`).status).toBe(401);
    expect(await frames(`${c.http.url.replace('http', 'ws')}/tap/${stream}`).status).toBe(401);
    expect(await frames(`${c.http.url.replace('http', 'ws')}/tap/${prefix}derived.geofence?token=${tapToken(geofenceKey, `${prefix}derived.geofence`)}`).status).toBe(404);
    const metrics = await (await fetch(`${c.http.url}/metrics`)).text();
    expect(metrics).toMatch(/^vigil_tap_clients\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^vigil_tap_refused_total\{[^}]*\} 3$/m);
  }, 60_000);

  it('takes a rotated key ring without a restart: tokens of the new key and of the old one both open the stream', async () => {
    const c = await start();
    const stream = `${prefix}derived.vitals`;
    const rotated = generateStreamKey('derived.vitals-console-2');
    expect(await frames(`${c.http.url.replace('http', 'ws')}/tap/${stream}?token=${tapToken(rotated, stream)}`).status).toBe(401);
    await writeKeyFile(join(dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: rotated, older: [vitalsKey] }, { overwrite: true });
    await c.reloadKeys();
    expect(await frames(`${c.http.url.replace('http', 'ws')}/tap/${stream}?token=${tapToken(rotated, stream)}`).status).toBe(101);
    const old = frames(`${c.http.url.replace('http', 'ws')}/tap/${stream}?from=beginning&token=${tapToken(vitalsKey, stream)}`);
    expect(await old.status).toBe(101);
    await until(() => old.all.filter((f) => f.type === 'record').length >= 3, 30_000, 'the records sealed under the older key');
  }, 60_000);

  it('serves HTTPS with a vigil pki console certificate', async () => {
    const ca = await createCa({ days: 1 });
    const cert = await issueCertificate(ca, { role: 'console', name: 'console-1', days: 1 });
    writeFileSync(join(dir, 'console.crt'), cert.certPem);
    writeFileSync(join(dir, 'console.key'), cert.keyPem, { mode: 0o600 });
    const c = await start({ http: { port: 0, tls: { certFile: 'console.crt', keyFile: 'console.key' } } });
    expect(c.http.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const status = await new Promise<number>((resolve, reject) => httpsGet(`${c.http.url}/healthz`, { ca: ca.certPem }, (res) => resolve(res.statusCode ?? 0)).on('error', reject));
    expect(status).toBe(200);
    const stream = `${prefix}derived.vitals`;
    const tap = frames(`${c.http.url.replace('https', 'wss')}/tap/${stream}?from=beginning&token=${tapToken(vitalsKey, stream)}`, { ca: ca.certPem });
    await tap.opened;
    await until(() => tap.all.filter((f) => f.type === 'record').length >= 3, 30_000, 'three records over wss');
  }, 60_000);

  it('says what is wrong: no keys, a named stream without its key, a key file others can read for HTTPS', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const none = await start({ console: { keyDir: empty } }).catch((e: unknown) => e);
    expect(isVigilError(none, 'VIGIL_E_CONFIG_INVALID') && none.message).toContain('console.keyDir');
    const named = await start({ console: { keyDir: join(dir, 'keys'), streams: ['derived.ugs'] } }).catch((e: unknown) => e);
    expect(isVigilError(named, 'VIGIL_E_KEY_FILE_READ')).toBe(true);
    writeFileSync(join(dir, 'open.key'), readFileSync(join(dir, 'console.key')), { mode: 0o644 });
    const open = await start({ http: { port: 0, tls: { certFile: 'console.crt', keyFile: 'open.key' } } }).catch((e: unknown) => e);
    expect(isVigilError(open, 'VIGIL_E_KEY_FILE_PERMISSIONS') && open.message).toContain('http.tls.keyFile');
  }, 60_000);
});
