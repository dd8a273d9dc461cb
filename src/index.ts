/**
 * Vigil's public API. Pipelines (`pipelines/`) and integrators import only from here.
 */
export { ERROR_CODES, VigilError, isVigilError, isVigilErrorCode, type VigilErrorCode, type VigilErrorDetails } from './errors';
export { loadConfig, configOptions, type VigilConfig, type VigilConfigInput, type LoadConfigOptions, type ConfigIssue } from './config';
export * from './stream';
// Wire format, keys and NaCl (docs/wire-format.md): frames, sealed records, readings, labels.
export * from './crypto';
export * from './codec';
export {
  KafkaBus,
  MemoryBus,
  MemoryBroker,
  GroupCommit,
  nextOffset,
  parseOffset,
  type Bus,
  type BusAdmin,
  type BusBatch,
  type BusConsumer,
  type BusConsumerHandlers,
  type BusConsumerOptions,
  type BusHeaders,
  type BusMessage,
  type BusProducer,
  type BusProducerOptions,
  type ConnectionListener,
  type KafkaBusOptions,
  type KafkaLogEntry,
  type KafkaLogLevel,
  type MemoryBusOptions,
  type OutgoingMessage,
  type TopicDescription,
  type TopicPartition,
  type TopicPartitionOffset,
  type TopicSpec,
} from './bus';
// Device SDK for sensor integrators: batch, seal and publish frames over MQTT 5.
export * from './device';
// Pipeline runtime (docs/runtime.md): define a pipeline, run workers that checkpoint to a changelog.
export {
  definePipeline,
  startPipeline,
  PipelineWorker,
  combinedLabel,
  frameRanges,
  withinCeiling,
  SOURCE_KINDS,
  UNATTRIBUTED,
  type SourceKind,
  type SourceReading,
  type RejectedFrameReading,
  type RepartitionedReading,
  type RepartitionedEvents,
  type RepartitionSpec,
  type PipelineSpec,
  type PipelineDefinition,
  type PipelineWorkerOptions,
  type PipelineWorkerStats,
  type StopOptions,
  type PipelineReading,
  type PipelineEvents,
  type PipelineContext,
  type DerivedOutput,
  type TelemetryTopic,
} from './runtime';
// Analyst access: read a sealed stream live with your stream keys; tokens for the WebSocket tap.
export {
  StreamTap,
  TapCatalog,
  TapTable,
  tapToken,
  verifyTapToken,
  tapRecordJson,
  TAP_TOKEN_CONTEXT,
  type StreamTapOptions,
  type StreamTapStats,
  type TapUnreadable,
  type TapCatalogOptions,
  type CatalogTapOptions,
  type TapRecord,
  type TapRecordJson,
  type Jsonified,
} from './tap';
