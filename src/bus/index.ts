/**
 * bus: the message bus between gateways and pipelines (docs/architecture.md §1, §2). One `Bus`
 * interface; `KafkaBus` in production, `MemoryBus` in tests and the single-process demo,
 * both held to one contract suite (test/bus/bus.contract.ts).
 */
export type { Bus, ConnectionListener } from './bus';
export type { BusProducer, BusProducerOptions } from './producer';
export type { BusConsumer, BusConsumerOptions, BusConsumerHandlers, BusBatch } from './consumer';
export type { BusAdmin, PartitionOffsets, TopicSpec, TopicDescription } from './admin';
export type { BusMessage, BusHeaders, OutgoingMessage, TopicPartition, TopicPartitionOffset } from './message';
export { parseOffset, nextOffset } from './offset';
export { GroupCommit, type GroupCommitOptions } from './group-commit';
export { validateTopicSpecs } from './topic-spec';
export { MemoryBus, MemoryBroker, partitionForKey, type MemoryBusOptions } from './memory';
export { lz4FrameSize, registerLz4Codec } from './kafka';
export { KafkaBus, resolveKafkaBusOptions, KAFKA_SASL_MECHANISMS, type KafkaBusOptions, type KafkaLogEntry, type KafkaLogLevel, type KafkaSaslOptions, type KafkaSaslMechanism, roleAcls, KAFKA_ROLES, type KafkaRole, type KafkaAcl, type KafkaAclOperation, type RoleAclOptions } from './kafka';
