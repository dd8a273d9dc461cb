import { startKafka, type KafkaService } from '../../../scripts/services';
import type { DeviceKeys } from '../../../src/crypto';
import { DeviceClient } from '../../../src/device';
import { startGateway, type RunningGateway } from '../../../src/cli/gateway-runner';
import { captureLog } from '../../harness/log-lines';
import { metricSum, openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from './gateway-fixture';

const mqttUrl = process.env.VIGIL_MQTT_URL as string;

/** Frames published over the whole run, and at what pace. */
const TOTAL = 20_000;
const RATE = 500;
/** Kafka goes down once this many frames were published, and stays down at least OUTAGE_MS. */
const STOP_AFTER = 2_500;
const OUTAGE_MS = 20_000;
const IDS = ['a-1', 'b-1', 'c-1', 'd-1', 'e-1', 'f-1', 'g-1', 'h-1'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The last lines the gateway logged, for the failure message. */
const { stream: logTail, lines: logLines } = captureLog();

// The DDIL promise: Kafka goes away for a while; the gateway keeps acknowledging frames
// because they are fsynced in its spool, and when Kafka returns every one arrives, in
// order per device. 20,000 frames are published at a steady pace while the broker process
// is stopped for more than 20 s and then started again on its data dir. This test owns its
// Kafka so it can stop and restart it.
describe('gateway through a Kafka outage (dedicated broker, stopped and restarted)', () => {
  let kafka: KafkaService | undefined;
  let fx: GatewayFixture;
  let gw: RunningGateway;
  let devices: DeviceClient[] = [];

  /** Rethrows a failed wait with the gateway's counters, its spool and its last log lines. */
  const explain = async (wait: Promise<void>): Promise<void> => {
    try {
      await wait;
    } catch (err) {
      const state = { gateway: gw.gateway.stats(), spool: gw.spool.stats(), readiness: gw.readiness() };
      throw new Error(`${(err as Error).message}\nstate: ${JSON.stringify(state)}\ngateway log (last 60 lines):\n${logLines.slice(-60).join('\n')}`, { cause: err });
    }
  };

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close(2000)));
    await gw?.stop();
    await kafka?.stop();
    fx?.cleanup();
  });

  it('spools 20,000 frames through a 20 s outage, acknowledges them anyway, and delivers every one in order when Kafka returns', async () => {
    kafka = await startKafka();
    fx = await provisionGateway({ kafkaBrokers: kafka.brokers, mqttUrl, devices: IDS.map((id, i) => ({ id, priority: i === 0 ? 'flash' : i < 3 ? 'immediate' : 'routine' })) });
    // The gateway's own account (info and up) is kept and shown if the test fails.
    gw = await startGateway({ ...fx.config, log: { ...fx.config.log, level: 'info' } }, { logStream: logTail });
    await until(async () => (await fetch(`${gw.http.url}/readyz`)).status === 200, 30_000, 'gateway ready');
    devices = await Promise.all(IDS.map((id) => DeviceClient.connect({ keys: fx.devices.get(id) as DeviceKeys, ingestPublicKey: fx.ingest.box.publicKey, theatre: fx.theatre, unit: 'u1', mqttUrl, maxReadingsPerFrame: 1, lingerMs: 0 })));

    // The outage runs beside the publisher: stop after STOP_AFTER frames, restart no sooner than OUTAGE_MS later.
    let sent = 0;
    let stoppedAt = 0;
    let restartedAt = 0;
    let spoolPeak = 0;
    const outage = (async (): Promise<void> => {
      await until(() => sent >= STOP_AFTER, 60_000, 'frames before the outage');
      const reuse = { dir: (kafka as KafkaService).dir, port: (kafka as KafkaService).port, controllerPort: (kafka as KafkaService).controllerPort };
      await (kafka as KafkaService).stop({ keepData: true });
      kafka = undefined;
      stoppedAt = Date.now();
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        spoolPeak = Math.max(spoolPeak, await metricSum(gw.http.url, /^vigil_spool_entries\{/));
        await sleep(500);
      }
      kafka = await startKafka({ reuse });
      restartedAt = Date.now();
    })();

    // A steady schedule: RATE frames/s over every device in turn.
    const t0 = Date.now();
    while (sent < TOTAL) {
      const due = Math.min(TOTAL, Math.floor(((Date.now() - t0) * RATE) / 1000));
      for (; sent < due; sent++) (devices[sent % IDS.length] as DeviceClient).send({ kind: 'power', batteryPct: Math.floor(sent / IDS.length) % 101, voltageV: 24 });
      await sleep(20);
    }
    await outage;
    await Promise.all(devices.map((d) => d.flush()));
    await explain(until(() => gw.gateway.stats().acked >= TOTAL && gw.gateway.stats().mode === 'direct' && gw.spool.stats().entries === 0, 120_000, 'every frame acknowledged and the spool drained'));

    // The outage really was one, and the spool carried it.
    expect(restartedAt - stoppedAt).toBeGreaterThanOrEqual(OUTAGE_MS);
    expect(spoolPeak).toBeGreaterThan(0);
    expect(await metricSum(gw.http.url, /^vigil_gateway_durable_frames_total\{[^}]*sink="spool"/)).toBeGreaterThan(0);
    expect(gw.gateway.stats().spooledFrames).toBeGreaterThan(0);

    const want = new Set(IDS);
    const perDevice = TOTAL / IDS.length;
    const msgs = await readKafka((kafka as KafkaService).brokers, ['telemetry.power'], (m) => new Set(openTelemetry(m, fx.streamKey, want).map((r) => `${r.deviceId}/${r.seq}`)).size >= TOTAL, 120_000);
    const recs = openTelemetry(msgs, fx.streamKey, want);
    let duplicates = 0;
    for (const id of IDS) {
      const mine = recs.filter((r) => r.deviceId === id);
      const seqs = mine.map((r) => r.seq);
      // At-least-once: a frame may appear twice around a switch-over; none may be missing, order kept.
      const firstIndex = new Map<bigint, number>();
      seqs.forEach((s, i) => firstIndex.has(s) || firstIndex.set(s, i));
      duplicates += seqs.length - firstIndex.size;
      const distinct = [...firstIndex.keys()];
      expect([id, distinct.length]).toEqual([id, perDevice]);
      expect(distinct).toEqual([...distinct].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      const battery = [...firstIndex.values()].map((i) => { const r = (mine[i] as (typeof mine)[number]).readings[0]; return r?.kind === 'power' ? r.batteryPct : -1; });
      expect(battery).toEqual(Array.from({ length: perDevice }, (_, i) => i % 101));
    }
    // Duplicates are allowed, but only around the two switch-overs, not wholesale.
    expect(duplicates).toBeLessThan(TOTAL / 10);
  }, 300_000);
});
