/**
 * MQTT ingest with acknowledgement after durability (docs/architecture.md §4, §7): messages/s received
 * AND acknowledged when every ack waits for a simulated group commit of D ms.
 *
 * (a) mqtt.js with `customHandleAcks` (manual ack): the naive way; mqtt.js processes the next
 *     PUBLISH only after the previous one's ack callback ran, so one connection is serialised
 *     behind every commit.
 * (b) Vigil's pipelined `MqttIngestClient` (src/edge/mqtt): every PUBLISH delivered at once,
 *     PUBACKs in receive order per commit.
 * (c) mqtt.js × K connections in one shared subscription: the other way out docs/architecture.md §7 names.
 *
 * Same for every row: one private Mosquitto (scripts/mosquitto/vigil.conf, max_inflight 1000)
 * on 127.0.0.1, the same publishers (P mqtt.js clients in a worker thread, each keeping W QoS1
 * publishes in flight, ~200-byte payloads, publishing for the whole measurement), the same
 * group-commit simulation (the first pending message arms a D ms timer; when it fires,
 * everything pending is acknowledged), the same warm-up and measurement window.
 *
 * Run: npx tsx bench/mqtt-ingest.bench.ts   (env BENCH_SECONDS, default 5)
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoService } from '../scripts/services';
import { MqttIngestClient, type IngestMessage } from '../src/edge/mqtt';
import { writeReport, type BenchRow } from './lib/report';

const MEASURE_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const WARMUP_MS = 1000;
const PUBLISHERS = 4;
const PUBLISHER_WINDOW = 100;
const PAYLOAD_BYTES = 200;
const DELAYS_MS = [2, 5];
const SHARED_CONNECTIONS = 16;

/** Acknowledges everything pending D ms after the first pending message: a group commit. */
class GroupCommit<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  commits = 0;
  acked = 0;
  constructor(
    private readonly delayMs: number,
    private readonly ack: (item: T) => void,
  ) {}
  add(item: T): void {
    this.pending.push(item);
    this.timer ??= setTimeout(this.commit, this.delayMs);
  }
  private readonly commit = (): void => {
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.commits++;
    for (const item of batch) this.ack(item);
    this.acked += batch.length;
  };
  stop(): void {
    clearTimeout(this.timer);
  }
}

/** Publishers in a worker thread, so they do not share the subscriber's event loop. */
const PUBLISHER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const mqtt = require(workerData.mqttPath);
const { url, topicPrefix, publishers, payloadBytes } = workerData;
const inflightWindow = workerData.window; // not a global named window: mqtt.js probes typeof window
let running = true, published = 0;
const payload = Buffer.alloc(payloadBytes, 0x61);
const clients = [];
function pump(c, i) {
  while (running && c.inflight < inflightWindow) {
    c.inflight++;
    c.publish(topicPrefix + '/u' + i + '/d' + (published % 97) + '/telemetry', payload, { qos: 1 }, (err) => {
      c.inflight--;
      if (!err) published++;
      pump(c, i);
    });
  }
}
let ready = 0;
for (let i = 0; i < publishers; i++) {
  const c = mqtt.connect(url, { clientId: 'bench-pub-' + i + '-' + Date.now(), protocolVersion: 5, reconnectPeriod: 0 });
  c.inflight = 0;
  clients.push(c);
  c.on('connect', () => { if (++ready === publishers) parentPort.postMessage({ type: 'ready' }); pump(c, i); });
  c.on('error', (e) => parentPort.postMessage({ type: 'error', message: String(e) }));
}
parentPort.on('message', async (m) => {
  if (m === 'count') parentPort.postMessage({ type: 'count', published });
  if (m === 'stop') {
    running = false;
    await Promise.all(clients.map((c) => new Promise((r) => c.end(true, {}, r))));
    parentPort.postMessage({ type: 'stopped', published });
  }
});
`;

class Publishers {
  private readonly worker: Worker;
  private constructor(worker: Worker) {
    this.worker = worker;
  }
  static start(url: string, topicPrefix: string): Promise<Publishers> {
    const worker = new Worker(PUBLISHER_CODE, {
      eval: true,
      workerData: { url, topicPrefix, publishers: PUBLISHERS, window: PUBLISHER_WINDOW, payloadBytes: PAYLOAD_BYTES, mqttPath: require.resolve('mqtt') },
    });
    return new Promise((resolve, reject) => {
      worker.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'ready') resolve(new Publishers(worker));
        if (m.type === 'error') reject(new Error(m.message));
      });
      worker.once('error', reject);
    });
  }
  private ask(msg: string, type: string): Promise<number> {
    return new Promise((resolve) => {
      const on = (m: { type: string; published: number }): void => {
        if (m.type !== type) return;
        this.worker.off('message', on);
        resolve(m.published);
      };
      this.worker.on('message', on);
      this.worker.postMessage(msg);
    });
  }
  count(): Promise<number> {
    return this.ask('count', 'count');
  }
  async stop(): Promise<void> {
    await this.ask('stop', 'stopped');
    await this.worker.terminate();
  }
}

interface Subscriber {
  acked(): number;
  commits(): number;
  stop(): Promise<void>;
}

function mqttjsSubscriber(url: string, filter: string, delayMs: number): Promise<{ sub: Subscriber; client: MqttClient; commit: GroupCommit<() => void> }> {
  const commit = new GroupCommit<() => void>(delayMs, (done) => done());
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: `bench-sub-${randomUUID()}`,
      protocolVersion: 5,
      reconnectPeriod: 0,
      // Manual ack: mqtt.js writes the PUBACK when `done(0)` is called, after "durability".
      customHandleAcks: (_topic, _message, _packet, done) => commit.add(() => done(0)),
    });
    client.once('connect', () => {
      client.subscribe(filter, { qos: 1 }, (err) => {
        if (err) return reject(err);
        resolve({
          client,
          commit,
          sub: {
            acked: () => commit.acked,
            commits: () => commit.commits,
            stop: async () => {
              commit.stop();
              await client.endAsync(true);
            },
          },
        });
      });
    });
    client.once('error', reject);
  });
}

async function mqttjsShared(url: string, filter: string, delayMs: number, k: number): Promise<Subscriber> {
  const subs = await Promise.all(Array.from({ length: k }, () => mqttjsSubscriber(url, filter, delayMs)));
  return {
    acked: () => subs.reduce((s, x) => s + x.sub.acked(), 0),
    commits: () => subs.reduce((s, x) => s + x.sub.commits(), 0),
    stop: async () => {
      await Promise.all(subs.map((x) => x.sub.stop()));
    },
  };
}

async function vigilSubscriber(url: string, filter: string, delayMs: number): Promise<Subscriber & { client: MqttIngestClient }> {
  const commit: GroupCommit<IngestMessage> = new GroupCommit<IngestMessage>(delayMs, (m) => c.ack(m));
  const c = new MqttIngestClient({ url, clientId: `bench-sub-${randomUUID()}`, subscriptions: [filter], receiveMaximum: 1000, onMessage: (m) => commit.add(m) });
  await c.start();
  return {
    client: c,
    acked: () => c.counters.acks,
    commits: () => commit.commits,
    stop: async () => {
      commit.stop();
      await c.close();
    },
  };
}

async function measure(
  broker: MosquittoService,
  label: string,
  connections: number,
  delayMs: number,
  makeSub: (filter: string) => Promise<Subscriber>,
): Promise<BenchRow> {
  const theatre = `b${randomUUID().slice(0, 8)}`;
  const filter = `$share/bench-${theatre}/vigil/v1/${theatre}/+/+/telemetry`;
  const sub = await makeSub(filter);
  const pubs = await Publishers.start(broker.url, `vigil/v1/${theatre}`);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const a0 = sub.acked();
  const c0 = sub.commits();
  const p0 = await pubs.count();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const a1 = sub.acked();
  const c1 = sub.commits();
  const p1 = await pubs.count();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await pubs.stop();
  await sub.stop();
  const acked = a1 - a0;
  return {
    client: label,
    connections,
    durabilityMs: delayMs,
    ackedPerSec: Math.round(acked / seconds),
    acked,
    msgsPerCommit: c1 - c0 === 0 ? 0 : Number((acked / (c1 - c0)).toFixed(1)),
    publishedPerSec: Math.round((p1 - p0) / seconds),
  };
}

async function main(): Promise<void> {
  const broker = await startMosquitto();
  const rows: BenchRow[] = [];
  const ratios: Record<string, number> = {};
  try {
    for (const d of DELAYS_MS) {
      const a = await measure(broker, '(a) mqtt.js customHandleAcks', 1, d, async (f) => (await mqttjsSubscriber(broker.url, f, d)).sub);
      const b = await measure(broker, '(b) vigil pipelined', 1, d, (f) => vigilSubscriber(broker.url, f, d));
      const c = await measure(broker, `(c) mqtt.js x${SHARED_CONNECTIONS} $share`, SHARED_CONNECTIONS, d, (f) => mqttjsShared(broker.url, f, d, SHARED_CONNECTIONS));
      rows.push(a, b, c);
      ratios[`b/a@${d}ms`] = Number(((b.ackedPerSec as number) / Math.max(1, a.ackedPerSec as number)).toFixed(1));
      ratios[`b/c@${d}ms`] = Number(((b.ackedPerSec as number) / Math.max(1, c.ackedPerSec as number)).toFixed(1));
    }
  } finally {
    await broker.stop();
  }
  writeReport('mqtt-ingest', rows, {
    ratios,
    settings: { measureMs: MEASURE_MS, warmupMs: WARMUP_MS, publishers: PUBLISHERS, publisherWindow: PUBLISHER_WINDOW, payloadBytes: PAYLOAD_BYTES, receiveMaximum: 1000, brokerMaxInflight: 1000 },
  });
  process.stdout.write(`ratios: ${JSON.stringify(ratios)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
