/**
 * bus/kafka: the `Bus` on Kafka through kafkajs.
 */
export { KafkaBus } from './kafka-bus';
export { resolveKafkaBusOptions, KAFKA_SASL_MECHANISMS, type KafkaBusOptions, type KafkaLogEntry, type KafkaLogLevel, type ResolvedKafkaBusOptions, type KafkaSaslOptions, type KafkaSaslMechanism } from './kafka-options';
export { toVigilError } from './to-vigil-error';
export { lz4FrameSize, registerLz4Codec } from './lz4-codec';
export { roleAcls, KAFKA_ROLES, type KafkaRole, type KafkaAcl, type KafkaAclOperation, type RoleAclOptions } from './kafka-acls';
