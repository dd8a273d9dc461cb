import { startKafka, type KafkaService } from '../../../scripts/services';
import type { DeviceKeys } from '../../../src/crypto';
import { DeviceClient } from '../../../src/device';
import { startGateway, type RunningGateway } from '../../../src/cli/gateway-runner';
import { openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';

const mqttUrl = process.env.VIGIL_MQTT_URL as string;

// The DDIL promise: Kafka goes away for a while; the gateway keeps acknowledging frames
// because they are fsynced in its spool, and when Kafka returns every one arrives, in
// order per device. This test owns its Kafka so it can stop and restart it.
describe('gateway through a Kafka outage (dedicated broker, stopped and restarted)', () => {
  let kafka: KafkaService | undefined;
  let fx: GatewayFixture;
  let gw: RunningGateway;
  let devices: DeviceClient[] = [];

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close(2000)));
    await gw?.stop();
    await kafka?.stop();
    fx?.cleanup();
  });

  it('spools while Kafka is down, acknowledges anyway, and delivers everything in order when it returns', async () => {
    kafka = await startKafka();
    fx = await provisionGateway({ kafkaBrokers: kafka.brokers, mqttUrl, devices: [{ id: 'a-1', priority: 'flash' }, { id: 'b-1' }, { id: 'c-1' }] });
    gw = await startGateway(fx.config);
    await until(async () => (await fetch(`${gw.http.url}/readyz`)).status === 200, 30_000, 'gateway ready');
    const ids = ['a-1', 'b-1', 'c-1'];
    devices = await Promise.all(ids.map((id) => DeviceClient.connect({ keys: fx.devices.get(id) as DeviceKeys, ingestPublicKey: fx.ingest.box.publicKey, theatre: fx.theatre, unit: 'u1', mqttUrl, maxReadingsPerFrame: 1, lingerMs: 0 })));
    let n = 0;
    const burst = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, n++) for (const d of devices) d.send({ kind: 'power', batteryPct: n % 101, voltageV: 24 });
      await Promise.all(devices.map((d) => d.flush()));
    };

    await burst(50); // Kafka up: direct
    await until(() => gw.gateway.stats().acked >= 150, 20_000, 'first frames acknowledged');
    const reuse = { dir: kafka.dir, port: kafka.port, controllerPort: kafka.controllerPort };
    await kafka.stop({ keepData: true });
    kafka = undefined;

    await burst(100); // Kafka down
    // The gateway acknowledges every frame anyway: durable in the spool (the first write waits
    // out the Kafka send timeout, then everything goes to disk).
    await until(() => gw.gateway.stats().acked >= 450, 30_000, 'frames acknowledged during the outage');
    expect(gw.gateway.stats().mode).toBe('spool');
    expect(gw.spool.stats().entries).toBeGreaterThan(0);
    const metrics = await (await fetch(`${gw.http.url}/metrics`)).text();
    expect(metrics).toMatch(/vigil_gateway_durable_frames_total\{[^}]*sink="spool"[^}]*\} [1-9]/);

    kafka = await startKafka({ reuse });
    await burst(50); // traffic continues while the spool drains
    await until(() => gw.gateway.stats().mode === 'direct' && gw.spool.stats().entries === 0, 60_000, 'spool drained');
    await burst(20);

    const want = new Set(ids);
    const msgs = await readKafka(kafka.brokers, ['telemetry.power'], (m) => openTelemetry(m, fx.streamKey, want).length >= 3 * 220, 60_000);
    const recs = openTelemetry(msgs, fx.streamKey, want);
    for (const id of ids) {
      const values = recs.filter((r) => r.deviceId === id).map((r) => Number(r.seq));
      // At-least-once: a frame may appear twice around the switch-over; none may be missing, order kept.
      const distinct = values.filter((v, i) => values.indexOf(v) === i);
      expect(distinct).toHaveLength(220);
      expect(distinct).toEqual([...distinct].sort((x, y) => x - y));
      const battery = recs.filter((r) => r.deviceId === id).map((r) => (r.readings[0]?.kind === 'power' ? r.readings[0].batteryPct : -1));
      expect(battery.filter((_v, i) => values.indexOf(values[i] as number) === i)).toEqual(Array.from({ length: 220 }, (_, i) => i % 101));
    }
  });
});
