/**
 * bus/kafka: the `Bus` on Kafka through kafkajs.
 */
export { KafkaBus } from './kafka-bus';
export { resolveKafkaBusOptions, type KafkaBusOptions, type KafkaLogEntry, type KafkaLogLevel, type ResolvedKafkaBusOptions } from './kafka-options';
export { toVigilError } from './to-vigil-error';
