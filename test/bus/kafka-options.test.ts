import { resolveKafkaBusOptions, KafkaBus, type KafkaBusOptions } from '../../src/bus';
import { toVigilError } from '../../src/bus/kafka';
import { VigilError } from '../../src/errors';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';

describe('resolveKafkaBusOptions', () => {
  it('fills in the documented defaults and freezes the result', () => {
    const o = resolveKafkaBusOptions({ brokers: ['127.0.0.1:9092'] });
    expect(o).toMatchObject({ clientId: 'vigil', connectionTimeoutMs: 3000, requestTimeoutMs: 30000, retries: 5, maxRetryTimeMs: 5000, sendTimeoutMs: 30000, compression: 'none', replicationFactor: -1, logLevel: 'error' });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('takes lz4, with Vigil\'s codec registered in kafkajs: an LZ4 frame that round-trips', async () => {
    expect(resolveKafkaBusOptions({ brokers: ['127.0.0.1:9092'], compression: 'lz4' }).compression).toBe('lz4');
    const codec = (CompressionCodecs as unknown as Record<number, () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> }>)[CompressionTypes.LZ4]?.();
    const data = Buffer.concat([Buffer.alloc(50_000, 'sealed? no, repetitive '), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256))]);
    const packed = await (codec as NonNullable<typeof codec>).compress({ buffer: data });
    // The LZ4 frame magic number (04 22 4d 18), as Kafka's clients write and read.
    expect(packed.subarray(0, 4)).toEqual(Buffer.from([0x04, 0x22, 0x4d, 0x18]));
    expect(packed.length).toBeLessThan(data.length / 4);
    expect((await (codec as NonNullable<typeof codec>).decompress(packed)).equals(data)).toBe(true);
  });

  it.each<[string, Partial<KafkaBusOptions>]>([
    ['brokers', { brokers: [] }],
    ['brokers', { brokers: ['no-port'] }],
    ['compression', { compression: 'snappy' as 'gzip' }],
    ['sendTimeoutMs', { sendTimeoutMs: 0 }],
    ['retries', { retries: -1 }],
    ['logLevel', { logLevel: 'loud' as 'info' }],
    ['replicationFactor', { replicationFactor: 0 }],
    ['replicationFactor', { replicationFactor: 2.5 }],
    ['sasl.mechanism', { sasl: { mechanism: 'plain' as 'scram-sha-512', username: 'u', password: 'p' } }],
    ['sasl.username', { sasl: { mechanism: 'scram-sha-512', username: '', password: 'p' } }],
    ['sasl.password', { sasl: { mechanism: 'scram-sha-512', username: 'u', password: '' } }],
  ])('refuses a bad %s, naming it', (option, over) => {
    const err = (() => {
      try {
        new KafkaBus({ brokers: ['127.0.0.1:9092'], ...over } as KafkaBusOptions);
      } catch (e) {
        return e;
      }
      throw new Error('expected a throw');
    })();
    expect(err).toBeInstanceOf(VigilError);
    expect(err).toMatchObject({ code: 'VIGIL_E_BUS_OPTIONS', details: { option } });
  });
});

describe('toVigilError (kafkajs errors)', () => {
  const wrap = (inner: object) => Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', originalError: inner });

  it('maps connection failures, also wrapped in retries, to retriable VIGIL_E_BUS_UNAVAILABLE', () => {
    const e = toVigilError(wrap(Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:1'), { name: 'KafkaJSConnectionError' })), 'send');
    expect(e).toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE', retriable: true });
    expect(e.message).toMatch(/^send: Kafka is unavailable/);
  });

  it('maps a consumer crash on a moving or loading group coordinator to retriable VIGIL_E_BUS_UNAVAILABLE', () => {
    // As kafkajs reports it: the join's NOT_COORDINATOR rewrapped without its type, inside the crash's non-retriable error.
    for (const words of ['This is not the correct coordinator for this group', 'The coordinator is loading and hence can\'t process requests for this group']) {
      const crash = Object.assign(new Error(words), { name: 'KafkaJSNonRetriableError', retriable: false, cause: Object.assign(new Error(words), { name: 'KafkaJSError', retriable: true }) });
      expect(toVigilError(crash, 'consumer of group "g"', { groupId: 'g' })).toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE', retriable: true });
    }
  });

  it('maps unknown topics, rebalances and other broker errors', () => {
    const proto = (type: string, retriable: boolean) => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable });
    expect(toVigilError(wrap(proto('UNKNOWN_TOPIC_OR_PARTITION', true)), 'send').code).toBe('VIGIL_E_BUS_TOPIC_UNKNOWN');
    expect(toVigilError(proto('ILLEGAL_GENERATION', false), 'commit').code).toBe('VIGIL_E_BUS_NOT_ASSIGNED');
    expect(toVigilError(proto('MESSAGE_TOO_LARGE', false), 'send')).toMatchObject({ code: 'VIGIL_E_BUS_REQUEST', retriable: false, details: { type: 'MESSAGE_TOO_LARGE' } });
    expect(toVigilError(proto('CORRUPT_MESSAGE', true), 'send')).toMatchObject({ code: 'VIGIL_E_BUS_REQUEST', retriable: true });
    const own = new VigilError('VIGIL_E_BUS_CLOSED', 'closed');
    expect(toVigilError(own, 'x')).toBe(own);
  });

  it('maps refused credentials, TLS failures and ACL refusals to their own codes, none retriable', () => {
    const proto = (type: string) => Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable: false });
    const auth = toVigilError(Object.assign(new Error('SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512'), { name: 'KafkaJSSASLAuthenticationError' }), 'connect');
    expect(auth).toMatchObject({ code: 'VIGIL_E_BUS_AUTH', retriable: false });
    const tls = [
      'Connection error: self-signed certificate in certificate chain',
      "Connection error: Hostname/IP does not match certificate's altnames: IP: 10.0.0.1 is not in the cert's list: 127.0.0.1",
      'Connection error: Client network socket disconnected before secure TLS connection was established',
      'Connection error: certificate has expired',
    ];
    for (const m of tls) expect(toVigilError(wrap(Object.assign(new Error(m), { name: 'KafkaJSConnectionError' })), 'connect')).toMatchObject({ code: 'VIGIL_E_BUS_TLS', retriable: false });
    expect(toVigilError(proto('TOPIC_AUTHORIZATION_FAILED'), 'send to derived.vitals')).toMatchObject({ code: 'VIGIL_E_BUS_DENIED', message: expect.stringMatching(/^send to derived\.vitals: .*topic authorisation failed/) });
    expect(toVigilError(proto('GROUP_AUTHORIZATION_FAILED'), 'consumer of group "g"').code).toBe('VIGIL_E_BUS_DENIED');
    expect(toVigilError(proto('CLUSTER_AUTHORIZATION_FAILED'), 'ensureTopics').code).toBe('VIGIL_E_BUS_DENIED');
    const aggregate = Object.assign(new Error('Topic creation errors'), { name: 'KafkaJSAggregateError', errors: [proto('TOPIC_AUTHORIZATION_FAILED')] });
    expect(toVigilError(aggregate, 'ensureTopics').code).toBe('VIGIL_E_BUS_DENIED');
    expect(toVigilError(Object.assign(new Error('Not authorized to access topics: [Topic authorization failed]'), { name: 'KafkaJSNonRetriableError' }), 'send').code).toBe('VIGIL_E_BUS_DENIED');
    // kafkajs loses the reason behind a missing coordinator: the message gives both readings, the code stays retriable.
    const coordinator = toVigilError(Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSGroupCoordinatorNotFound' }), 'consumer of group "g"', { groupId: 'g' });
    expect(coordinator).toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE', retriable: true, message: expect.stringContaining('may not use the group') });
  });
});
