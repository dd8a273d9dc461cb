import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

/** An mqtt.js MQTT 5 publisher (the stand-in for sensors) connected to `url`. */
export function connectPublisher(url: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId: `pub-${randomUUID()}`, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10000 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** Publishes payloads 0..n-1 (uint32 BE) at QoS1 on `topicOf(i)`; resolves when every PUBACK came back. */
export async function publishNumbered(pub: MqttClient, n: number, topicOf: (i: number) => string, from = 0): Promise<void> {
  const acks: Promise<unknown>[] = [];
  for (let i = from; i < from + n; i++) {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(i, 0);
    acks.push(pub.publishAsync(topicOf(i), body, { qos: 1 }));
  }
  await Promise.all(acks);
}

/** A random telemetry topic root, so parallel tests never see each other's traffic. */
export function randomTheatre(): string {
  return `t${randomUUID().replace(/-/g, '')}`;
}
