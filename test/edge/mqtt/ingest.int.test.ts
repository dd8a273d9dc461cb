import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { MqttIngestClient, type IngestMessage, type MqttIngestOptions } from '../../../src/edge/mqtt';
import type { VigilError } from '../../../src/errors';
import { waitFor } from './fake-broker';
import { connectPublisher, publishNumbered, randomTheatre } from './mqtt-helpers';
import { MqttTap } from './mqtt-tap';

// The ingest client against the real Mosquitto of the integration harness.
const url = process.env.VIGIL_MQTT_URL as string;
const brokerPort = Number(new URL(url).port);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function ingest(options: Partial<MqttIngestOptions> & Pick<MqttIngestOptions, 'onMessage' | 'subscriptions'>): { client: MqttIngestClient; errors: VigilError[] } {
  const errors: VigilError[] = [];
  const client = new MqttIngestClient({ url, clientId: `gw-${randomUUID()}`, ...options });
  client.on('error', (e) => errors.push(e));
  cleanups.push(() => client.close());
  return { client, errors };
}

async function publisher(): Promise<MqttClient> {
  const p = await connectPublisher(url);
  cleanups.push(() => p.endAsync());
  return p;
}

function shuffle<T>(a: T[], seed: { v: number }): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    seed.v = (seed.v * 1103515245 + 12345) & 0x7fffffff;
    const j = seed.v % (i + 1);
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

describe('MqttIngestClient with a real Mosquitto', () => {
  it('receives 5,000 QoS1 messages acked in scrambled order; PUBACKs go out in receive order; the publisher gets every PUBACK', async () => {
    const tap = await MqttTap.start(brokerPort);
    cleanups.push(() => tap.close());
    const theatre = randomTheatre();
    const N = 5000;
    const seen = new Set<number>();
    const window: IngestMessage[] = [];
    const seed = { v: 42 };
    let held: IngestMessage[] = [];
    let target = 1;
    const flushWindow = (): void => {
      // Ack a shuffled window, but hold ~10% back until the next window: acks overtake
      // earlier messages both inside a window and across windows.
      const batch = shuffle([...window.splice(0), ...held], seed);
      const keep = Math.floor(batch.length / 10);
      held = batch.slice(0, keep);
      for (const m of batch.slice(keep)) client.ack(m);
      target = 1 + (seed.v % 300);
    };
    const ing = ingest({
      url: tap.url,
      subscriptions: [`vigil/v1/${theatre}/+/+/telemetry`],
      onMessage: (m) => {
        seen.add(m.payload.readUInt32BE(0));
        window.push(m);
        if (window.length >= target) flushWindow();
        if (seen.size === N) {
          flushWindow();
          for (const h of held.splice(0)) client.ack(h);
        }
      },
    });
    const client = ing.client;
    await client.start();
    const pub = await publisher();
    await publishNumbered(pub, N, (i) => `vigil/v1/${theatre}/u${i % 7}/d${i % 13}/telemetry`);
    await waitFor(() => client.counters.acks === N, 30000, 'all PUBACKs from the ingest client');
    await waitFor(() => tap.pubackIds.length === N, 5000, 'PUBACKs through the tap');

    expect(seen.size).toBe(N);
    expect(client.counters.messages).toBe(N);
    expect(tap.publishIds).toHaveLength(N);
    expect(tap.pubackIds).toEqual(tap.publishIds); // MQTT 5 §4.6: in receive order
    expect(client.inflight).toBe(0);
    expect(client.counters.ackWrites).toBeLessThan(N / 5); // acks are batched into few writes
    expect(ing.errors).toEqual([]);
  });

  it('pipelines: the owner acks nothing until all N = Receive Maximum messages arrived, and it completes', async () => {
    const theatre = randomTheatre();
    const N = 1000;
    const got: IngestMessage[] = [];
    let maxInflight = 0;
    const { client, errors } = ingest({
      subscriptions: [`vigil/v1/${theatre}/+/+/telemetry`],
      receiveMaximum: N,
      onMessage: (m) => {
        got.push(m);
        maxInflight = Math.max(maxInflight, client.inflight);
        if (got.length === N) for (const g of got) client.ack(g); // one "group commit" for all
      },
    });
    await client.start();
    const pub = await publisher();
    const started = Date.now();
    await publishNumbered(pub, N, () => `vigil/v1/${theatre}/u/d/telemetry`);
    await waitFor(() => client.counters.acks === N, 20000, 'all acks');
    // Mosquitto keeps to Receive Maximum until the first PUBACKs (then it may overshoot, #2301).
    expect(maxInflight).toBe(N);
    expect(new Set(got.map((m) => m.payload.readUInt32BE(0))).size).toBe(N);
    expect(Date.now() - started).toBeLessThan(20000);
    expect(errors).toEqual([]);
  });

  it('respects Receive Maximum: with no acks exactly that many are delivered, the rest follow once acked', async () => {
    const theatre = randomTheatre();
    const RM = 50;
    const N = 200;
    const got: IngestMessage[] = [];
    let ackOnArrival = false;
    const { client, errors } = ingest({
      subscriptions: [`vigil/v1/${theatre}/+/+/telemetry`],
      receiveMaximum: RM,
      onMessage: (m) => {
        got.push(m);
        if (ackOnArrival) client.ack(m);
      },
    });
    await client.start();
    const pub = await publisher();
    await publishNumbered(pub, N, () => `vigil/v1/${theatre}/u/d/telemetry`); // broker took them all
    await waitFor(() => got.length >= RM, 10000, `${RM} deliveries`);
    await new Promise((r) => setTimeout(r, 500));
    expect(got).toHaveLength(RM);
    expect(client.inflight).toBe(RM);

    ackOnArrival = true;
    for (const m of [...got]) client.ack(m);
    await waitFor(() => got.length === N && client.counters.acks === N, 10000, 'the rest');
    expect(new Set(got.map((m) => m.payload.readUInt32BE(0))).size).toBe(N);
    expect(errors).toEqual([]);
  });

  it('pause() stops delivery (TCP backpressure), resume() continues it', async () => {
    const theatre = randomTheatre();
    const got: IngestMessage[] = [];
    const { client } = ingest({
      subscriptions: [`vigil/v1/${theatre}/+/+/telemetry`],
      onMessage: (m) => {
        got.push(m);
        client.ack(m);
      },
    });
    await client.start();
    client.pause();
    expect(client.paused).toBe(true);
    const pub = await publisher();
    await publishNumbered(pub, 100, () => `vigil/v1/${theatre}/u/d/telemetry`);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toHaveLength(0);
    client.resume();
    await waitFor(() => got.length === 100 && client.counters.acks === 100, 10000, 'delivery after resume');
    expect(client.paused).toBe(false);
  });

  it('close() during traffic resolves, leaves unacked messages to the broker and ignores late acks', async () => {
    const theatre = randomTheatre();
    const pending: IngestMessage[] = [];
    const { client, errors } = ingest({
      subscriptions: [`vigil/v1/${theatre}/+/+/telemetry`],
      onMessage: (m) => {
        pending.push(m);
        if (pending.length % 50 === 0) for (const p of pending.splice(0, 40)) client.ack(p);
      },
    });
    let disconnected = 0;
    client.on('disconnect', (d) => {
      disconnected++;
      expect(d.error).toBeUndefined();
    });
    await client.start();
    const pub = await publisher();
    const publishing = publishNumbered(pub, 3000, () => `vigil/v1/${theatre}/u/d/telemetry`);
    await waitFor(() => client.counters.messages >= 500, 10000, 'traffic');
    await client.close();
    expect(client.state).toBe('closed');
    expect(disconnected).toBe(1);
    const staleBefore = client.counters.staleAcks;
    for (const p of pending) client.ack(p);
    expect(client.counters.staleAcks - staleBefore).toBe(pending.length);
    await publishing; // the broker still acknowledges the publisher
    expect(errors).toEqual([]);
  });
});
