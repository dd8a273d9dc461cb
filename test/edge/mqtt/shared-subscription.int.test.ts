import { randomUUID } from 'node:crypto';
import { MqttIngestClient } from '../../../src/edge/mqtt';
import { waitFor } from './fake-broker';
import { connectPublisher, publishNumbered, randomTheatre } from './mqtt-helpers';

// Gateways scale by MQTT 5 shared subscriptions (docs/architecture.md §1, §6).
const url = process.env.VIGIL_MQTT_URL as string;

describe('MqttIngestClient shared subscription (real Mosquitto)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('two ingest clients in one $share group split the messages and together receive all of them once', async () => {
    const theatre = randomTheatre();
    const filter = `$share/gw-${theatre}/vigil/v1/${theatre}/+/+/telemetry`;
    const received = [new Set<number>(), new Set<number>()];
    const clients = received.map((set) => {
      const c: MqttIngestClient = new MqttIngestClient({
        url,
        clientId: `gw-${randomUUID()}`,
        subscriptions: [filter],
        onMessage: (m) => {
          set.add(m.payload.readUInt32BE(0));
          c.ack(m);
        },
      });
      cleanups.push(() => c.close());
      return c;
    });
    await Promise.all(clients.map((c) => c.start()));
    const pub = await connectPublisher(url);
    cleanups.push(() => pub.endAsync());
    const N = 1000;
    await publishNumbered(pub, N, (i) => `vigil/v1/${theatre}/u${i % 5}/d${i % 17}/telemetry`);
    await waitFor(() => received[0].size + received[1].size === N, 15000, 'all messages');
    const [a, b] = received as [Set<number>, Set<number>];
    expect(a.size).toBeGreaterThan(0);
    expect(b.size).toBeGreaterThan(0);
    expect([...a].filter((x) => b.has(x))).toEqual([]);
    expect(new Set([...a, ...b]).size).toBe(N);
    expect(clients[0]?.counters.messages).toBe(a.size);
  });
});
