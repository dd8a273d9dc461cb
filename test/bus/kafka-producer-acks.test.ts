import type { Kafka, ProducerConfig, ProducerBatch } from 'kafkajs';
import { ConnectionState } from '../../src/bus/connection-state';
import { ACKS_ALL, KafkaProducer } from '../../src/bus/kafka/kafka-producer';
import { resolveKafkaBusOptions } from '../../src/bus/kafka';

// docs/architecture.md §4: a write the gateway acknowledges must survive a broker's loss. That rests on
// how every request is made (acks=all, idempotent, one in flight), so this pins it down on a
// stand-in kafkajs client that records what it is asked.
describe('KafkaProducer requests', () => {
  it('are acks=all from an idempotent producer with one request in flight, also after a failure replaced it', async () => {
    const configs: ProducerConfig[] = [];
    const batches: ProducerBatch[] = [];
    let fail = true;
    const kafka = {
      producer: (config: ProducerConfig) => {
        configs.push(config);
        return {
          connect: () => Promise.resolve(),
          disconnect: () => Promise.resolve(),
          sendBatch: (batch: ProducerBatch) => {
            batches.push(batch);
            if (fail) {
              fail = false;
              return Promise.reject(Object.assign(new Error('lost'), { name: 'KafkaJSConnectionError' }));
            }
            return Promise.resolve([]);
          },
        };
      },
    } as unknown as Kafka;
    const producer = new KafkaProducer(kafka, resolveKafkaBusOptions({ brokers: ['127.0.0.1:1'] }), {}, new ConnectionState(false), () => undefined);

    await expect(producer.send('telemetry.power', [{ key: 'd-1', value: 'a' }])).rejects.toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE' });
    await producer.send('telemetry.power', [{ key: 'd-1', value: 'b' }]);
    await producer.close();

    expect(ACKS_ALL).toBe(-1);
    expect(batches.map((b) => b.acks)).toEqual([-1, -1]);
    // The failed request spent the first producer id; its replacement is made the same way.
    expect(configs).toHaveLength(2);
    for (const c of configs) expect(c).toMatchObject({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  });
});
