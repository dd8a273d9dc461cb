/**
 * runtime: runs pipelines (docs/architecture.md §1, §4): consume `telemetry.<kind>` in a consumer
 * group, open sealed records, dedupe, run the operators per source partition, seal and
 * publish results to `derived.<pipeline>`, checkpoint state with offsets to
 * `vigil.changelog.<pipeline>`. See docs/runtime.md.
 */
export type { TelemetryTopic, SourceKind, SourceReading, RejectedFrameReading, RepartitionedReading, RepartitionedEvents, PipelineReading, DerivedOutput, PipelineContext, PipelineEvents } from './types';
export { UNATTRIBUTED } from './types';
export { definePipeline, SOURCE_KINDS, type PipelineSpec, type PipelineDefinition, type RepartitionSpec } from './define-pipeline';
export { startPipeline, PipelineWorker, type PipelineWorkerStats, type StopOptions } from './pipeline-worker';
export type { PipelineWorkerOptions } from './worker-options';
export { combinedLabel } from './label-aggregate';
export { frameRanges } from './frame-ranges';
export { withinCeiling } from './ceiling';
