import { createServer, type AddressInfo } from 'node:net';
import { KafkaBus } from '../../src/bus';
import { busContract } from './bus.contract';

// The contract against the real KRaft broker the integration harness starts.
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');

/** A loopback port where nothing listens (bound, read, released). */
let freePort = 0;
beforeAll(async () => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  freePort = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
});

busContract('kafka', {
  create: () => new KafkaBus({ brokers, clientId: 'vigil-test-bus', logLevel: 'nothing', retries: 3, sendTimeoutMs: 10_000 }),
  unreachable: () =>
    new KafkaBus({ brokers: [`127.0.0.1:${freePort}`], clientId: 'vigil-test-bus-down', logLevel: 'nothing', connectionTimeoutMs: 500, retries: 2, maxRetryTimeMs: 500, sendTimeoutMs: 5_000 }),
  consumerDefaults: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 5_000, maxWaitMs: 200 },
  patienceMs: 20_000,
});
