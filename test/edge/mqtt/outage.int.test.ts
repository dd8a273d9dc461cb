import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoService } from '../../../scripts/services';
import { MqttIngestClient, type IngestMessage, type MqttDisconnectInfo } from '../../../src/edge/mqtt';
import type { VigilError } from '../../../src/errors';
import { channels, type ConnectionEvent } from '../../../src/instrument/channels';
import { TcpProxy } from '../../harness/tcp-proxy';
import { waitFor } from './fake-broker';
import { connectPublisher, publishNumbered, randomTheatre } from './mqtt-helpers';

// DDIL outages against real Mosquitto: a cut link (TcpProxy) and a broker restart.
const url = process.env.VIGIL_MQTT_URL as string;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function publisher(to: string): Promise<MqttClient> {
  const p = await connectPublisher(to);
  cleanups.push(() => p.endAsync());
  return p;
}

describe('MqttIngestClient across outages (real Mosquitto)', () => {
  it('redelivers unacknowledged messages (dup=1) to the resumed session after a cut link; stale acks are ignored', async () => {
    const proxy = await TcpProxy.start(Number(new URL(url).port));
    cleanups.push(() => proxy.close());
    const theatre = randomTheatre();
    const topic = `vigil/v1/${theatre}/u/d/telemetry`;
    const got: IngestMessage[] = [];
    let ackNow = false;
    const client = new MqttIngestClient({
      url: `mqtt://127.0.0.1:${proxy.port}`,
      clientId: `gw-${randomUUID()}`,
      subscriptions: [`vigil/v1/${theatre}/+/+/telemetry`],
      cleanStart: false,
      sessionExpirySeconds: 30,
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 200,
      onMessage: (m) => {
        got.push(m);
        if (ackNow) client.ack(m);
      },
    });
    const errors: VigilError[] = [];
    const disconnects: MqttDisconnectInfo[] = [];
    const sessions: boolean[] = [];
    client.on('error', (e) => errors.push(e));
    client.on('disconnect', (d) => disconnects.push(d));
    client.on('connect', (i) => sessions.push(i.sessionPresent));
    cleanups.push(() => client.close());
    await client.start();

    const pub = await publisher(url);
    await publishNumbered(pub, 100, () => topic);
    await waitFor(() => got.length === 100, 10000, '100 deliveries');
    const firstRound = got.splice(0);

    proxy.cut();
    await waitFor(() => disconnects.length === 1, 5000, 'disconnect');
    expect(disconnects[0]?.unacked).toBe(100);
    expect(disconnects[0]?.error?.code).toBe('VIGIL_E_MQTT_CONNECTION_LOST');
    // The durable sink finishes after the link died: these acks must not go anywhere.
    for (const m of firstRound) client.ack(m);
    expect(client.counters.staleAcks).toBe(100);
    await publishNumbered(pub, 50, () => topic, 100); // queued in the session meanwhile

    ackNow = true;
    proxy.restore();
    // A resumed session may redeliver before the SUBACK that completes the reconnect (and
    // fires 'connect'), so wait for both.
    await waitFor(() => client.counters.acks === 150 && sessions.length === 2, 15000, 'redelivery, acks and reconnect');
    expect(sessions).toEqual([false, true]);
    const redelivered = got.filter((m) => m.payload.readUInt32BE(0) < 100);
    expect(redelivered).toHaveLength(100);
    expect(redelivered.every((m) => m.dup)).toBe(true);
    expect(new Set(got.map((m) => m.payload.readUInt32BE(0))).size).toBe(150);
    expect(client.counters.redelivered).toBe(100);
    expect(client.counters.reconnects).toBeGreaterThanOrEqual(1);
    expect(errors.every((e) => e.retriable)).toBe(true);
  });

  it('reconnects with backoff after a broker outage, resubscribes, and reports connection up/down', async () => {
    let broker: MosquittoService | undefined = await startMosquitto();
    const port = broker.port;
    cleanups.push(() => broker?.stop() ?? Promise.resolve());
    const events: boolean[] = [];
    const listener = (e: ConnectionEvent): void => {
      if (e.peer === 'mqtt') events.push(e.connected);
    };
    channels.connection.subscribe(listener);
    cleanups.push(async () => channels.connection.unsubscribe(listener));

    const theatre = randomTheatre();
    const got = new Set<number>();
    const errors: VigilError[] = [];
    const client = new MqttIngestClient({
      url: broker.url,
      clientId: `gw-${randomUUID()}`,
      subscriptions: [`$share/gw-${theatre}/vigil/v1/${theatre}/+/+/telemetry`],
      reconnectInitialDelayMs: 50,
      reconnectMaxDelayMs: 400,
      onMessage: (m) => {
        got.add(m.payload.readUInt32BE(0));
        client.ack(m);
      },
    });
    client.on('error', (e) => errors.push(e));
    cleanups.push(() => client.close());
    await client.start();

    await broker.stop();
    broker = undefined;
    await waitFor(() => client.state === 'waiting' || client.state === 'connecting', 5000, 'the client to notice');
    await new Promise((r) => setTimeout(r, 800)); // several failed attempts, backing off
    const attemptsDuringOutage = client.counters.reconnects;
    expect(attemptsDuringOutage).toBeGreaterThanOrEqual(2);
    expect(attemptsDuringOutage).toBeLessThan(20); // backoff, not a busy loop

    broker = await startMosquitto({ port }); // a fresh broker: no sessions, no subscriptions
    await waitFor(() => client.connected, 10000, 'reconnect');
    const pub = await publisher(broker.url);
    await publishNumbered(pub, 20, (i) => `vigil/v1/${theatre}/u/d${i}/telemetry`);
    await waitFor(() => got.size === 20, 10000, 'messages through the new subscription');
    expect(events).toEqual([true, false, true]);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.every((e) => e.code === 'VIGIL_E_MQTT_CONNECTION_LOST')).toBe(true);
  });
});
