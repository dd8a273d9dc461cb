export { startKafka, ensureKafkaJars, kafkaJarDir, KAFKA_VERSION, type KafkaService, type KafkaReuse, type KafkaSecurity, type KafkaSecureOptions } from './kafka';
export { startMosquitto, ensureMosquitto, type MosquittoService, type MosquittoTls } from './mosquitto';
export { freePort, canConnect } from './ports';
export { startServices, type RunningServices } from './start';
export { startKafkaCluster, KafkaControlError, type KafkaCluster, type KafkaClusterOptions, type KafkaNode, type KafkaNodeState } from './kafka-cluster';
