import { startKafka, type KafkaService } from '../../../scripts/services';
import type { DeviceKeys } from '../../../src/crypto';
import { DeviceClient } from '../../../src/device';
import { startGateway, type RunningGateway } from '../../../src/cli/gateway-runner';
import { KafkaFaultProxy } from '../../harness/kafka-fault-proxy';
import { openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';

const mqttUrl = process.env.VIGIL_MQTT_URL as string;
const IDS = ['la-1', 'lb-1', 'lc-1', 'ld-1', 'le-1', 'lf-1'];
const TOTAL = 6_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Issue 16 on real Kafka: a gateway with three Kafka lanes (three batches in flight) while the
// broker writes batches whose answers are lost (the proxy cuts the connection on each Produce
// response for a while): the failed lanes spool, the others keep writing, the spool drains,
// and every frame is in Kafka in order per device (duplicates of lost answers allowed).
describe('gateway with three Kafka lanes through lost produce responses (dedicated broker behind a proxy)', () => {
  let proxy: KafkaFaultProxy;
  let kafka: KafkaService | undefined;
  let fx: GatewayFixture;
  let gw: RunningGateway | undefined;
  let devices: DeviceClient[] = [];

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close(2000)));
    await gw?.stop();
    await kafka?.stop();
    await proxy?.close();
    fx?.cleanup();
  });

  it('keeps every device in order and loses nothing acknowledged', async () => {
    proxy = await KafkaFaultProxy.start();
    kafka = await startKafka({ advertisedPort: proxy.port });
    proxy.setTarget(kafka.port);
    fx = await provisionGateway({ kafkaBrokers: `127.0.0.1:${proxy.port}`, mqttUrl, devices: IDS.map((id) => ({ id })) });
    gw = await startGateway({ ...fx.config, kafka: { ...fx.config.kafka, sendTimeoutMs: 2000 }, gateway: { ...fx.config.gateway, kafkaLanes: 3 } });
    const g = gw;
    expect(g.gateway.stats().mode).toBe('direct');
    await until(async () => (await fetch(`${g.http.url}/readyz`)).status === 200, 30_000, 'gateway ready');
    devices = await Promise.all(IDS.map((id) => DeviceClient.connect({ keys: fx.devices.get(id) as DeviceKeys, ingestPublicKey: fx.ingest.box.publicKey, theatre: fx.theatre, unit: 'u1', mqttUrl, maxReadingsPerFrame: 1, lingerMs: 0 })));

    // 6,000 frames at about 600 frames/s; answers are lost from 2 s to 8 s in (longer than the
    // producer's own retries, so the gateway's sends fail and it spools).
    const t0 = Date.now();
    for (let sent = 0; sent < TOTAL; ) {
      const due = Math.min(TOTAL, Math.floor(((Date.now() - t0) * 600) / 1000));
      for (; sent < due; sent++) {
        if (sent === 1200) proxy.loseProduceResponses(true);
        if (sent === 4800) proxy.loseProduceResponses(false);
        (devices[sent % IDS.length] as DeviceClient).send({ kind: 'power', batteryPct: Math.floor(sent / IDS.length) % 101, voltageV: 24 });
      }
      await sleep(10);
    }
    proxy.loseProduceResponses(false);
    await Promise.all(devices.map((d) => d.flush()));
    await until(() => g.gateway.stats().acked >= TOTAL && g.gateway.stats().mode === 'direct' && g.spool.stats().entries === 0, 120_000, 'every frame acknowledged and the spool drained');
    expect(proxy.lostResponses).toBeGreaterThan(0);
    expect(g.gateway.stats().spooledFrames).toBeGreaterThan(0);

    const want = new Set(IDS);
    const msgs = await readKafka(`127.0.0.1:${proxy.port}`, ['telemetry.power'], (m) => new Set(openTelemetry(m, fx.streamKey, want).map((r) => `${r.deviceId}/${r.seq}`)).size >= TOTAL, 120_000);
    const recs = openTelemetry(msgs, fx.streamKey, want);
    for (const id of IDS) {
      const first: bigint[] = [];
      const seen = new Set<bigint>();
      for (const r of recs) {
        if (r.deviceId !== id || seen.has(r.seq)) continue;
        seen.add(r.seq);
        first.push(r.seq);
      }
      // Every frame, each first occurrence in sequence order: no later frame durable before an earlier one.
      // (A device numbers its frames from its own starting point, one apart.)
      const start = first[0] ?? 0n;
      expect({ id, seqs: first }).toEqual({ id, seqs: Array.from({ length: TOTAL / IDS.length }, (_, i) => start + BigInt(i)) });
    }
  }, 300_000);
});
