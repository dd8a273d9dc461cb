import { startMosquitto, type MosquittoService } from '../../../scripts/services';
import { startGateway, type RunningGateway } from '../../../src/cli/gateway-runner';
import type { DeviceKeys } from '../../../src/crypto';
import { DeviceClient } from '../../../src/device';
import { openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';

const kafkaBrokers = process.env.VIGIL_KAFKA_BROKERS as string;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
/** The broker's queue for the absent gateway's session: far smaller than what the devices send meanwhile. */
const BROKER_QUEUE = 150;

interface Tracked {
  readonly id: string;
  readonly client: DeviceClient;
  readonly sealed: bigint[];
  readonly durable: Map<bigint, boolean>;
}

// Issue 10 item 7: the broker acknowledges a device's frame once queued for the gateway's
// persistent session, and drops what overflows that queue while the gateway is away. With
// durable receipts the device keeps every frame until a gateway says it is durable, holds
// back beyond its send window, and resends what no receipt covered: nothing the device was
// told is durable is missing, and nothing it sent is lost. A control device that trusts the
// broker's PUBACK (receipts off) shows the loss the receipts prevent. Owns its Mosquitto.
describe('gateway away longer than the broker queue (dedicated Mosquitto, max_queued_messages 150)', () => {
  let mosq: MosquittoService | undefined;
  let fx: GatewayFixture | undefined;
  let gw: RunningGateway | undefined;
  const devices: Tracked[] = [];
  let control: DeviceClient | undefined;

  afterAll(async () => {
    await Promise.all([...devices.map((d) => d.client.close(2000)), control?.close(1000)]);
    await gw?.stop();
    await mosq?.stop();
    fx?.cleanup();
  });

  it('with receipts, every frame a device sent reaches Kafka and is confirmed; resends are counted duplicates at most', async () => {
    mosq = await startMosquitto({ maxQueuedMessages: BROKER_QUEUE });
    const ids = ['away-1', 'away-2', 'away-3'];
    fx = await provisionGateway({ kafkaBrokers, mqttUrl: mosq.url, devices: [...ids, 'away-ctl'].map((id) => ({ id, rate: { perSecond: 1000, burst: 1000 } })) });
    const f = fx;
    gw = await startGateway(f.config, { logStream: quiet });
    await until(async () => (await fetch(`${(gw as RunningGateway).http.url}/readyz`)).status === 200, 30_000, 'gateway ready');
    const common = { ingestPublicKey: f.ingest.box.publicKey, theatre: f.theatre, unit: 'u1', mqttUrl: mosq.url, maxReadingsPerFrame: 1, lingerMs: 0 };
    for (const id of ids) {
      const durable = new Map<bigint, boolean>();
      const client = await DeviceClient.connect({ ...common, keys: f.devices.get(id) as DeviceKeys, sendWindow: 100, receiptTimeoutMs: 1500, onDurable: (seq, _n, resent) => void durable.set(seq, resent) });
      devices.push({ id, client, sealed: [], durable });
    }
    let controlAcked = 0;
    control = await DeviceClient.connect({ ...common, keys: f.devices.get('away-ctl') as DeviceKeys, receipts: false, onDurable: () => void controlAcked++ });

    // Every device sends a frame every 10 ms throughout; the gateway goes away in the middle.
    let sending = true;
    let controlSent = 0;
    const load = (async () => {
      for (let i = 0; sending; i++) {
        for (const d of devices) d.client.send({ kind: 'power', batteryPct: i % 101, voltageV: 24 });
        control?.send({ kind: 'power', batteryPct: i % 101, voltageV: 24 });
        controlSent++;
        await sleep(10);
      }
    })();
    await sleep(2000);
    await gw.stop(); // an upgrade: the session stays at the broker, which queues, then drops
    gw = undefined;
    await sleep(6000);
    gw = await startGateway(f.config, { logStream: quiet });
    await sleep(3000);
    sending = false;
    await load;
    await Promise.all([...devices.map((d) => d.client.flush()), control.flush()]);

    const stats = devices.map((d) => d.client.stats());
    for (const s of stats) {
      expect(s.framesDropped).toBe(0);
      expect(s.framesUnconfirmed).toBe(0);
      expect(s.framesAcked).toBe(s.framesSealed); // every frame sent is confirmed durable
    }
    expect(stats.reduce((n, s) => n + s.framesResent, 0)).toBeGreaterThan(0); // the broker dropped some: resent
    const want = new Set([...ids, 'away-ctl']);
    const total = stats.reduce((n, s) => n + s.framesAcked, 0);
    const msgs = await readKafka(kafkaBrokers, ['telemetry.power'], (m) => new Set(openTelemetry(m, f.streamKey, new Set(ids)).map((r) => `${r.deviceId}/${r.seq}`)).size >= total, 60_000);
    const recs = openTelemetry(msgs, f.streamKey, want);
    for (const d of devices) {
      const stored = recs.filter((r) => r.deviceId === d.id).map((r) => r.seq);
      const have = new Set(stored);
      const missing = [...d.durable.keys()].filter((s) => !have.has(s));
      expect([d.id, missing]).toEqual([d.id, []]);
      // Frames sent once keep their order; only resent ones may arrive late.
      const firstOnce = stored.filter((s, i) => stored.indexOf(s) === i && d.durable.get(s) === false);
      expect(firstOnce).toEqual([...firstOnce].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    // The control device was told by the broker that all its frames were delivered, but the
    // broker dropped what overflowed its queue: that is the loss receipts prevent.
    const controlStored = new Set(recs.filter((r) => r.deviceId === 'away-ctl').map((r) => r.seq)).size;
    expect(controlAcked).toBe(controlSent);
    expect(controlStored).toBeLessThan(controlAcked);
  }, 180_000);
});
