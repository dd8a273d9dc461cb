import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

// Proves the harness runs a real Mosquitto: QoS1 through it, nothing lost, order kept.
const url = process.env.VIGIL_MQTT_URL as string;

function connect(clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10000 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

describe('Mosquitto (real broker from the harness)', () => {
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync()));
  });

  it('delivers 1,000 QoS1 messages from one publisher to one subscriber, none lost, in order', async () => {
    expect(url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const topic = `vigil-test/${randomUUID()}/smoke`;
    const sub = await connect(`sub-${randomUUID()}`);
    const pub = await connect(`pub-${randomUUID()}`);
    clients.push(sub, pub);
    await sub.subscribeAsync(topic, { qos: 1 });

    const N = 1000;
    const received: number[] = [];
    const all = new Promise<void>((resolve) => {
      sub.on('message', (t, payload, packet) => {
        if (t !== topic) return;
        expect(packet.qos).toBe(1);
        received.push(payload.readUInt32BE(0));
        if (received.length >= N) resolve();
      });
    });
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const body = Buffer.alloc(4);
      body.writeUInt32BE(i, 0);
      acks.push(pub.publishAsync(topic, body, { qos: 1 }));
    }
    await Promise.all(acks); // every PUBACK came back
    await all;
    expect(received).toHaveLength(N);
    expect(received).toEqual(Array.from({ length: N }, (_, i) => i));
  });
});
