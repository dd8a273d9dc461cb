import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, ResourcePatternTypes } from 'kafkajs';
import { VigilError } from '../../errors';
import type { BusAdmin } from '../admin';
import type { Bus, ConnectionListener } from '../bus';
import { ConnectionState } from '../connection-state';
import { CountingSockets } from './counting-sockets';
import type { BusConsumer, BusConsumerOptions } from '../consumer';
import type { BusProducer, BusProducerOptions } from '../producer';
import type { KafkaAcl } from './kafka-acls';
import { KafkaAdmin } from './kafka-admin';
import { KafkaConsumer } from './kafka-consumer';
import { kafkaLogCreator, kafkajsLogLevel } from './kafka-logger';
import { resolveKafkaBusOptions, type KafkaBusOptions, type ResolvedKafkaBusOptions } from './kafka-options';
import { KafkaProducer } from './kafka-producer';
import { registerLz4Codec } from './lz4-codec';
import { toVigilError } from './to-vigil-error';

// Every Vigil client reads LZ4 record batches (a relay or another writer may have sent them), whatever it writes.
registerLz4Codec();

/**
 * The Kafka bus (kafkajs 2.2.4, kept behind the `Bus` interface: docs/architecture.md §7).
 *
 * @example
 * const bus = new KafkaBus({ brokers: ['127.0.0.1:9092'], sendTimeoutMs: 5000, log: (e) => logger[e.level](e.extra, e.message) });
 * await bus.admin().ensureTopics([{ topic: 'telemetry.position', partitions: 12 }]);
 * const producer = bus.producer();
 * await producer.send('telemetry.position', [{ key: 'ugv-7', value: sealed, headers: { 'vigil-key-id': keyId } }]);
 * await bus.close();
 */
export class KafkaBus implements Bus {
  readonly options: ResolvedKafkaBusOptions;
  private readonly kafka: Kafka;
  private readonly connection = new ConnectionState(false);
  private readonly clients = new Set<{ close(): Promise<void> }>();
  private readonly sockets = new CountingSockets();
  private closed = false;

  constructor(options: KafkaBusOptions) {
    this.options = resolveKafkaBusOptions(options);
    const o = this.options;
    this.kafka = new Kafka({
      clientId: o.clientId,
      brokers: [...o.brokers],
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retry: { retries: o.retries, maxRetryTime: o.maxRetryTimeMs, initialRetryTime: 100 },
      logLevel: kafkajsLogLevel(o.logLevel),
      logCreator: kafkaLogCreator(o.log),
      socketFactory: this.sockets.factory,
      ...(o.ssl === undefined ? {} : { ssl: o.ssl }),
      ...(o.sasl === undefined ? {} : { sasl: o.sasl.mechanism === 'scram-sha-512' ? { mechanism: 'scram-sha-512', username: o.sasl.username, password: o.sasl.password } : { mechanism: 'scram-sha-256', username: o.sasl.username, password: o.sasl.password } }),
    });
  }

  bytesSent(): number {
    return this.sockets.bytesWritten();
  }

  producer(options: BusProducerOptions = {}): BusProducer {
    this.open();
    const p = new KafkaProducer(this.kafka, this.options, options, this.connection, (x) => this.clients.delete(x));
    this.clients.add(p);
    return p;
  }

  consumer(options: BusConsumerOptions): BusConsumer {
    this.open();
    const c = new KafkaConsumer(this.kafka, options, this.options.retries, this.connection, (x) => this.clients.delete(x));
    this.clients.add(c);
    return c;
  }

  admin(): BusAdmin {
    this.open();
    const a = new KafkaAdmin(this.kafka, this.options, this.connection, (x) => this.clients.delete(x));
    this.clients.add(a);
    return a;
  }

  /**
   * Creates ALLOW ACLs (Kafka only; the caller needs the right to alter the cluster: the
   * admin). Creating one that exists is a no-op on the broker.
   *
   * @throws VigilError `VIGIL_E_BUS_DENIED` when this user may not, `VIGIL_E_BUS_REQUEST` when the brokers run no authorizer
   */
  async createAcls(acls: readonly KafkaAcl[]): Promise<void> {
    this.open();
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      await admin.createAcls({
        acl: acls.map((a) => ({
          resourceType: a.resource === 'topic' ? AclResourceTypes.TOPIC : AclResourceTypes.GROUP,
          resourceName: a.name,
          resourcePatternType: a.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
          principal: a.principal,
          host: '*',
          operation: AclOperationTypes[a.operation],
          permissionType: AclPermissionTypes.ALLOW,
        })),
      });
    } catch (err) {
      throw toVigilError(err, `create ${acls.length} ACL(s)`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  isConnected(): boolean {
    return this.connection.connected;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.connection.onChange(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.clients].map((c) => c.close()));
    this.connection.set(false);
  }

  private open(): void {
    if (this.closed) throw new VigilError('VIGIL_E_BUS_CLOSED', 'the bus is closed');
  }
}
