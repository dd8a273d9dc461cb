import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import mqtt from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../../src/cli/demo/embedded-broker';
import { MqttIngestClient, type IngestMessage } from '../../../src/edge/mqtt';
import { isVigilError } from '../../../src/errors';

// The embedded demo broker (aedes) speaks MQTT 3.1.1 only: the ingest client must too.
describe('MQTT 3.1.1 ingest against the embedded aedes broker', () => {
  let broker: EmbeddedBroker;
  beforeEach(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterEach(async () => {
    await broker.close();
  });

  it('receives QoS1 publishes and acknowledges them in order, with many in flight', async () => {
    const got: IngestMessage[] = [];
    const ingest = new MqttIngestClient({
      url: broker.url, clientId: `gw-${randomUUID()}`, subscriptions: ['vigil/v1/+/+/+/telemetry'], protocolVersion: 4, cleanStart: true,
      onMessage: (m) => void got.push(m),
    });
    await ingest.start();
    const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `pub-${randomUUID()}` });
    try {
      const acks = Array.from({ length: 500 }, (_, i) => pub.publishAsync(`vigil/v1/t/u/d${i % 5}/telemetry`, Buffer.from(String(i)), { qos: 1 }));
      const t0 = Date.now();
      while (got.length < 500 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      expect(got.length).toBe(500);
      // Acknowledge all at once, as a group commit would, in reverse: PUBACKs still go out in order.
      for (const m of [...got].reverse()) ingest.ack(m);
      await Promise.all(acks);
      expect(got.map((m) => Number(m.payload.toString())).sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
      // PUBACKs are written once per event-loop turn; give that turn a chance.
      const t1 = Date.now();
      while (ingest.counters.acks < 500 && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 10));
      expect(ingest.counters.acks).toBe(500);
      expect(ingest.inflight).toBe(0);
    } finally {
      await pub.endAsync();
      await ingest.close();
    }
  });

  it('says clearly when the demo port is taken, or takes a free one when asked', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      let err: unknown;
      try {
        await startEmbeddedBroker({ port });
      } catch (e) {
        err = e;
      }
      expect(isVigilError(err, 'VIGIL_E_PORT_IN_USE')).toBe(true);
      expect((err as Error).message).toContain(`127.0.0.1:${port} is already in use`);
      const notices: string[] = [];
      const other = await startEmbeddedBroker({ port, fallbackToFreePort: true, onNotice: (m) => notices.push(m) });
      expect(other.port).not.toBe(port);
      expect(notices[0]).toContain(`MQTT port ${port} is in use`);
      await other.close();
    } finally {
      blocker.close();
    }
  });

  it('refuses an unknown protocol version at construction', () => {
    let err: unknown;
    try {
      new MqttIngestClient({ url: broker.url, clientId: 'x', subscriptions: ['a'], onMessage: () => undefined, protocolVersion: 3 as unknown as 4 });
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_MQTT_OPTIONS')).toBe(true);
  });
});
