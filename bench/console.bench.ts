/**
 * `vigil console` under many analysts (issue 13, "Targets"): 50 WebSocket clients on one
 * stream at the simulator's full rate, on real Kafka, and whether the console's memory grows.
 *
 * 1. A private Kafka (scripts/services, free loopback ports); `<prefix>telemetry.position`
 *    with 6 partitions.
 * 2. `vigil console` in a child process (from source with tsx, as `vigil-dev`), offering
 *    `telemetry.position` with its key.
 * 3. 50 WebSocket clients (ws) on `/tap/telemetry.position?token=…`, each counting what it
 *    receives; one of them reads slowly (pauses its socket 200 ms of every second), as an
 *    analyst on a poor link would, to exercise the per-client bound.
 * 4. This process produces sealed position records of each fleet size's devices at 1 Hz
 *    (the simulator's rate per device; 2,000 is the map's target size) for SECONDS seconds.
 * 5. Every second: the console's RSS (/proc/<pid>/status), and at the end its
 *    `vigil_tap_dropped_total`. Memory "grows" if the RSS of the last quarter of the run is
 *    more than 10 % above that of the second quarter (the first is warm-up).
 *
 * Run: `npm run bench console`. Env: VIGIL_BENCH_CONSOLE_CLIENTS [50],
 * VIGIL_BENCH_CONSOLE_DEVICES (fleet sizes, comma-separated) [200,2000], VIGIL_BENCH_CONSOLE_SECONDS [60].
 * The 50 clients live in this process, which also produces: at 2,000 devices the fan-out is
 * 100,000 frames/s received here on the same 2 cores as the console and Kafka.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { startKafka, type KafkaService } from '../scripts/services';
import { KafkaBus } from '../src/bus';
import { makeLabel, RecordCodec } from '../src/codec';
import { generateStreamKey, writeKeyFile } from '../src/crypto';
import { tapToken } from '../src/tap';
import { processMemory } from './lib/child-process';
import { writeReport, type BenchRow } from './lib/report';

const CLIENTS = Number(process.env.VIGIL_BENCH_CONSOLE_CLIENTS ?? 50);
const SIZES = (process.env.VIGIL_BENCH_CONSOLE_DEVICES ?? '200,2000').split(',').map(Number);
const SECONDS = Number(process.env.VIGIL_BENCH_CONSOLE_SECONDS ?? 60);
const ROOT = join(__dirname, '..');
const T0 = Date.UTC(2026, 11, 5, 12);

async function runSize(DEVICES: number, rows: BenchRow[], headlines: Record<string, unknown>[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-console-'));
  let kafka: KafkaService | undefined;
  let consoleProc: ReturnType<typeof spawn> | undefined;
  const sockets: WebSocket[] = [];
  let bus: KafkaBus | undefined;
  try {
    process.stderr.write('console bench: starting Kafka…\n');
    kafka = await startKafka();
    const prefix = `bc${randomUUID().slice(0, 6)}.`;
    const stream = `${prefix}telemetry.position`;
    const key = generateStreamKey('telemetry-console-bench');
    mkdirSync(join(dir, 'keys'));
    await writeKeyFile(join(dir, 'keys', 'telemetry.position.key.json'), { type: 'stream', key });
    bus = new KafkaBus({ brokers: [kafka.brokers], clientId: 'bench-console', logLevel: 'nothing' });
    await bus.admin().ensureTopics([{ topic: stream, partitions: 6 }]);
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ log: { level: 'info' }, kafka: { brokers: [kafka.brokers], clientId: 'bench-console', topicPrefix: prefix }, console: { streams: ['telemetry.position'], keyDir: join(dir, 'keys') }, http: { host: '127.0.0.1', port: 0 } }));

    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'vigil-dev.ts'), 'console', '--config', join(dir, 'vigil.yaml')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    consoleProc = proc;
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`console did not start within 90 s: ${buf.slice(-2000)}`)), 90_000);
      proc.stdout?.on('data', (c: Buffer) => {
        buf += c.toString();
        const m = /"http":"(http:\/\/[^"]+)".*"console started"/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      proc.once('exit', (code) => reject(new Error(`console exited with ${String(code)}: ${buf.slice(-2000)}`)));
    });
    process.stderr.write(`console bench: console at ${url}; ${CLIENTS} clients, ${DEVICES} devices at 1 Hz for ${SECONDS} s\n`);

    const received = new Array<number>(CLIENTS).fill(0);
    const token = tapToken(key, stream);
    for (let i = 0; i < CLIENTS; i++) {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/tap/${stream}?token=${token}`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.on('message', () => void received[i]!++);
      sockets.push(ws);
    }
    // One slow reader: its socket pauses 200 ms of every second.
    const slow = sockets[0] as WebSocket;
    const slowTimer = setInterval(() => {
      slow.pause();
      setTimeout(() => slow.resume(), 200);
    }, 1000);

    const codec = new RecordCodec();
    const label = makeLabel('RESTRICTED', ['GBR']);
    const producer = bus.producer();
    const rss: number[] = [];
    const t0 = Date.now();
    let produced = 0;
    for (let s = 0; s < SECONDS; s++) {
      const msgs = [];
      for (let d = 0; d < DEVICES; d++) {
        const id = `sol-${String(d).padStart(5, '0')}`;
        const at = T0 + s * 1000;
        const sealed = codec.seal({ type: 'telemetry', deviceId: id, seq: BigInt(s + 1), eventTimeMs: at, ingestTimeMs: at, gatewayId: 'gw-bench', kind: 'position', label, readings: [{ kind: 'position', offsetMs: 0, lat: 51 + d * 1e-4 + s * 1e-5, lon: -1 + d * 1e-4, altM: 100, speedMps: 1.4, headingDeg: 90, accuracyM: 5 }] }, key);
        msgs.push({ key: id, value: Buffer.from(sealed.value), headers: { 'vigil-key-id': sealed.keyId } });
      }
      await producer.send(stream, msgs);
      produced += msgs.length;
      rss.push(processMemory(proc.pid as number).rssBytes);
      const wait = t0 + (s + 1) * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      process.stderr.write(`\rconsole bench: ${s + 1}/${SECONDS} s, console RSS ${(rss[rss.length - 1]! / 1048576).toFixed(0)} MB, client 1 has ${received[1]}   `);
    }
    const lag = Date.now() - t0 - SECONDS * 1000;
    await producer.close();
    // Let the clients catch up.
    for (let i = 0, last = -1; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const sum = received.reduce((a, b) => a + b, 0);
      if (sum === last) break;
      last = sum;
    }
    clearInterval(slowTimer);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const dropped = metrics.split('\n').filter((l) => l.startsWith('vigil_tap_dropped_total')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    const q = Math.floor(rss.length / 4);
    const avg = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    const second = avg(rss.slice(q, 2 * q));
    const last = avg(rss.slice(3 * q));
    const growth = second > 0 ? last / second - 1 : 0;
    const fast = received.slice(1);
    const hwm = processMemory(proc.pid as number).hwmBytes;
    rows.push(
      { system: 'vigil console', scenario: `${CLIENTS} clients, ${DEVICES} devices @ 1 Hz, ${SECONDS} s`, 'records produced': produced, 'per client (min / median)': `${Math.min(...fast)} / ${fast.sort((a, b) => a - b)[Math.floor(fast.length / 2)]}`, 'slow client': received[0] ?? 0, 'dropped (server)': dropped, 'RSS 2nd quarter MB': Math.round(second / 1048576), 'RSS last quarter MB': Math.round(last / 1048576), 'RSS growth': `${(growth * 100).toFixed(1)}%`, 'peak RSS MB': Math.round(hwm / 1048576) },
    );
    headlines.push({ clients: CLIENTS, devices: DEVICES, seconds: SECONDS, recordsProduced: produced, deliveredPerFastClientMin: Math.min(...fast), deliveredShare: Number((Math.min(...fast) / produced).toFixed(3)), slowClientReceived: received[0] ?? 0, serverDropped: dropped, rssSecondQuarterBytes: second, rssLastQuarterBytes: last, rssGrowth: Number(growth.toFixed(3)), rssGrowthLimit: 0.1, peakRssBytes: hwm, producerLagMs: lag, memoryGrows: growth > 0.1, rssSamplesBytes: rss });
    process.stdout.write(`console: ${CLIENTS} clients × ${produced} records; fastest clients got ≥ ${Math.min(...fast)}, the slow one ${received[0] ?? 0} (server dropped ${dropped}); RSS ${(second / 1048576).toFixed(0)} → ${(last / 1048576).toFixed(0)} MB (${(growth * 100).toFixed(1)}%, limit +10%), peak ${(hwm / 1048576).toFixed(0)} MB\n`);
  } finally {
    for (const s of sockets) s.terminate();
    consoleProc?.kill('SIGTERM');
    await bus?.close().catch(() => undefined);
    await kafka?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  const headlines: Record<string, unknown>[] = [];
  for (const n of SIZES) await runSize(n, rows, headlines);
  writeReport('console', rows, { headline: headlines.map(({ rssSamplesBytes: _r, ...h }) => h), runs: headlines });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`console bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
