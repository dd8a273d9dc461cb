/**
 * The baseline: a naive MQTT → Kafka bridge in its own process. One mqtt.js subscriber
 * (QoS 1, automatic PUBACK on receipt) and one kafkajs producer (acks 1, batches of what
 * arrived in the last few ms, several sends in flight). No crypto, no validation, no
 * durability before the acknowledgement: the payload goes to Kafka as it came.
 * argv: mqttUrl brokers filter outTopic [kafkajsDir]. IPC: `ready`, `stats`, `loopReset`/`loop` (event-loop
 * delay over a measured run, ms, as the gateway child reports it), `stop`.
 */
import type * as KafkaJs from 'kafkajs';
import type { Message } from 'kafkajs';
import mqtt from 'mqtt';
import { serveParent } from './child-process';
import { GcTally, LoopDelay } from './loop-delay';

async function main(): Promise<void> {
  const [url, brokers, filter, outTopic, kafkajsDir] = process.argv.slice(2) as [string, string, string, string, string | undefined];
  // An optional 5th argument: another kafkajs installation (e.g. stock kafkajs without Vigil's patches) for this bridge.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Kafka, logLevel } = require(kafkajsDir ?? 'kafkajs') as typeof KafkaJs;
  const kafka = new Kafka({ clientId: `naive-${process.pid}`, brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let received = 0;
  let sent = 0;
  let failed = 0;
  let pending: Message[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    producer.send({ topic: outTopic, acks: 1, messages: batch }).then(
      () => (sent += batch.length),
      () => (failed += batch.length),
    );
  };
  const client = mqtt.connect(url, { clientId: `naive-${process.pid}`, protocolVersion: 5, reconnectPeriod: 0, properties: { receiveMaximum: 1000 } });
  client.on('message', (topic, payload) => {
    received++;
    pending.push({ key: topic, value: payload });
    if (pending.length >= 1000) flush();
    else timer ??= setTimeout(flush, 5);
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => client.subscribe(filter, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    client.once('error', reject);
  });
  const loop = new LoopDelay(10);
  const gc = new GcTally();
  const handlers = {
    stats: () => ({ received, sent, failed }),
    loopReset: () => (loop.reset(), gc.reset(), {}),
    loop: () => ({ ...loop.read(), gc: gc.read() }),
  };
  serveParent(handlers, async () => {
    clearTimeout(timer);
    await client.endAsync();
    flush();
    await producer.disconnect();
  });
  process.send?.({ type: 'ready' });
}
main().catch((err: unknown) => {
  process.stderr.write(`naive bridge: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
