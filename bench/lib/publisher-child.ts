/**
 * The e2e bench's sensors, in their own process: D devices over C mqtt.js connections
 * (MQTT 5, QoS 1, at most W publishes in flight per connection), open loop at a fixed
 * offered rate. Frames are sealed BEFORE a run (one power reading each, distinct increasing
 * sequence numbers per device) with `eventTimeMs` = the frame's scheduled publish time
 * t0 + i/rate, then published on that schedule. A frame published late (publisher or
 * broker backpressure) still carries its scheduled time, so any delay counts against the
 * measured latency (no coordinated omission).
 *
 * IPC: `init` {url, connections, window, devices:[{deviceId, topic, sharedKey(base64)}], tls?: {ca, cert, key} (PEM)} → `ready`;
 * `run` {rate, durationMs} → `started` {t0, frames} then `run` {published, acked, maxLagMs, endLagMs};
 * `count` → {published, acked, lagMs}; `stop`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { FrameSealer } from '../../src/codec';
import { getCryptoBackend } from '../../src/crypto';
import { serveParent, type ChildMessage } from './child-process';

interface Device {
  deviceId: string;
  topic: string;
  shared: Uint8Array;
  seq: bigint;
  conn: number;
}
interface Conn {
  client: MqttClient;
  inflight: number;
}

const backend = getCryptoBackend('auto');
const sealer = new FrameSealer({ backend });
let devices: Device[] = [];
let conns: Conn[] = [];
let window = 500;
let published = 0;
let acked = 0;
let lagMs = 0;
let running = false;

async function init(m: ChildMessage): Promise<void> {
  window = m.window as number;
  const list = m.devices as Array<{ deviceId: string; topic: string; sharedKey: string }>;
  const n = m.connections as number;
  conns = await Promise.all(
    Array.from({ length: n }, (_, i) => new Promise<Conn>((resolve, reject) => {
      const tls = m.tls as { ca: string; cert: string; key: string } | undefined;
      const client = mqtt.connect(m.url as string, { clientId: `bench-pub-${process.pid}-${i}`, protocolVersion: 5, reconnectPeriod: 0, ...(tls === undefined ? {} : { ca: tls.ca, cert: tls.cert, key: tls.key }) });
      client.once('connect', () => resolve({ client, inflight: 0 }));
      client.once('error', reject);
    })),
  );
  devices = list.map((d, i) => ({ deviceId: d.deviceId, topic: d.topic, shared: new Uint8Array(Buffer.from(d.sharedKey, 'base64')), seq: 0n, conn: i % n }));
}

async function run(rate: number, durationMs: number): Promise<Record<string, unknown>> {
  const n = Math.max(1, Math.round((rate * durationMs) / 1000));
  // Time the sealer on a few frames to place t0 after the whole batch is sealed.
  const probe = devices[0] as Device;
  const tp = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) sealer.seal({ deviceId: probe.deviceId, epoch: 1, seq: 1n, eventTimeMs: Date.now(), readings: [{ kind: 'power', offsetMs: 0, batteryPct: 50, voltageV: 24 }] }, probe.shared);
  const perFrameMs = Number(process.hrtime.bigint() - tp) / 1e6 / 200;
  const t0 = Date.now() + Math.ceil(n * perFrameMs * 2) + 500;
  const frames: Buffer[] = new Array(n);
  const topics: string[] = new Array(n);
  const connOf: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const d = devices[i % devices.length] as Device;
    d.seq++;
    const eventTimeMs = Math.floor(t0 + (i * 1000) / rate);
    frames[i] = Buffer.from(sealer.seal({ deviceId: d.deviceId, epoch: 1, seq: d.seq, eventTimeMs, readings: [{ kind: 'power', offsetMs: 0, batteryPct: 20 + (i % 80), voltageV: 24 }] }, d.shared));
    topics[i] = d.topic;
    connOf[i] = d.conn;
  }
  while (Date.now() < t0) await new Promise((r) => setTimeout(r, Math.min(50, t0 - Date.now())));
  process.send?.({ type: 'started', t0, frames: n, sealMsPerFrame: perFrameMs });
  running = true;
  let next = 0;
  let maxLag = 0;
  let runAcked = 0;
  await new Promise<void>((resolve) => {
    let completed = 0;
    const onAck = (c: Conn) => (err?: Error): void => {
      c.inflight--;
      completed++;
      if (!err) {
        acked++;
        runAcked++;
      }
      if (completed >= n) resolve();
    };
    const tick = (): void => {
      const now = Date.now();
      const due = Math.min(n, Math.floor(((now - t0) * rate) / 1000) + 1);
      while (next < due && running) {
        const c = conns[connOf[next] as number] as Conn;
        if (c.inflight >= window) break;
        c.inflight++;
        c.client.publish(topics[next] as string, frames[next] as Buffer, { qos: 1 }, onAck(c));
        frames[next] = undefined as unknown as Buffer; // let the sealed frame go once handed over
        next++;
        published++;
      }
      lagMs = next < n ? Math.max(0, now - (t0 + (next * 1000) / rate)) : 0;
      if (lagMs > maxLag) maxLag = lagMs;
      if (next < n && running) setTimeout(tick, 1);
      else if (!running) resolve();
    };
    tick();
  });
  running = false;
  return { published: next, acked: runAcked, maxLagMs: Math.round(maxLag), t0 };
}

serveParent(
  {
    count: () => ({ published, acked, lagMs: Math.round(lagMs) }),
  },
  async () => {
    running = false;
    await Promise.all(conns.map((c) => c.client.endAsync(true)));
  },
);
process.on('message', (m: ChildMessage) => {
  if (m.type === 'init') void init(m).then(() => process.send?.({ type: 'init' }), (err: unknown) => process.send?.({ type: 'init', error: String(err) }));
  if (m.type === 'run') void run(m.rate as number, m.durationMs as number).then((r) => process.send?.({ type: 'run', ...r }));
});
process.send?.({ type: 'ready' });
