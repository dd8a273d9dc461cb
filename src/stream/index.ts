/**
 * Event-time stream operators: watermarks, keyed windows, aggregates, detectors, dedupe
 * and reference joins. See docs/stream.md for how they compose.
 */
export type { RecordEvent, WatermarkEvent, StreamEvent, JsonValue, StreamKey, WindowBounds, StatefulOperator } from './types';
export { recordEvent, watermark } from './types';
export { MemoryKeyedState, MemoryStateProvider, isKeyedStateful, type KeyedState, type KeyedStateful, type KeyedStateSnapshot, type StateCodec, type StateProvider } from './state';
export { withWatermarks, type WithWatermarksOptions, type WithWatermarksOperator, type WithWatermarksStats, type WithWatermarksSnapshot } from './with-watermarks';
export { tumbling, hopping, sliding, session, type WindowSpec, type TumblingWindow, type HoppingWindow, type SlidingWindow, type SessionWindow } from './windows';
export { keyedWindow, type KeyedWindowOptions, type KeyedWindowOperator, type KeyedWindowStats, type KeyedWindowSnapshot, type WindowResult } from './keyed-window';
export {
  aggregate,
  count,
  sum,
  mean,
  min,
  max,
  variance,
  stddev,
  first,
  last,
  percentile,
  percentiles,
  type Aggregate,
  type AggregateResult,
  type CompositeResult,
  type VarianceOptions,
  type PercentileOptions,
} from './aggregates';
export { thresholdDetector, type ThresholdOptions, type ThresholdEvent, type ThresholdSnapshot } from './threshold';
export { anomalyDetector, type AnomalyOptions, type AnomalyEvent, type AnomalySnapshot, type EwmaBaseline, type RollingBaseline } from './anomaly';
export { geofence, distanceToBorderMeters, type GeofenceOptions, type GeofenceEvent, type GeofenceSnapshot, type Fence, type LatLon } from './geofence';
export { silenceDetector, type SilenceOptions, type SilenceEvent } from './silence';
export { rateDetector, type RateOptions, type RateEvent, type RateOperator, type RateStats, type RateSnapshot, type RateKeySnapshot } from './rate';
export { positionStaleness, type PositionStalenessOptions, type StalenessEvent } from './position-staleness';
export type { LastSeenSnapshot } from './last-seen';
export { dedupe, type DedupeOptions, type DedupeOperator, type DedupeStats, type DedupeSnapshot } from './dedupe';
export { ReferenceTable, joinReference, type ReferenceSnapshot, type JoinReferenceOptions } from './reference-join';
