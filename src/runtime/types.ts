import type { Observable, SchedulerLike } from 'rxjs';
import type { ClassificationLabel, DerivedValue, FrameRange, Reading, ReadingKind, RejectedFrameHeader } from '../codec';
import type { VigilErrorCode } from '../errors';
import type { JsonValue, StatefulOperator, StreamEvent } from '../stream';

/**
 * What a pipeline can read: the readings of one kind (`telemetry.<kind>`, sealed records),
 * or `rejected` (`telemetry.rejected`, the gateways' records of refused frames).
 */
export type SourceKind = ReadingKind | 'rejected';

/** A source topic of a pipeline: `telemetry.<kind>` or `telemetry.rejected` (docs/architecture.md §6). */
export type TelemetryTopic<K extends SourceKind = SourceKind> = `telemetry.${K}`;

/**
 * A rejection record of `telemetry.rejected` as a pipeline sees it. Everything in it is what
 * the sender claimed and the gateway could not verify; the pipeline reading carries the
 * claimed device id (`UNATTRIBUTED` when the header did not decode), the claimed sequence
 * number (0 then), the gateway's rejection time as event time, and the label UNCLASSIFIED:
 * it holds only what travelled in the clear. Rejection records are not deduplicated (a
 * replayed frame repeats its sequence number on purpose).
 */
export interface RejectedFrameReading {
  readonly kind: 'rejected';
  readonly offsetMs: 0;
  readonly reason: VigilErrorCode;
  readonly sha256: string;
  readonly bytes: number;
  readonly header: RejectedFrameHeader | null;
}

/** The device id of rejections whose frame header did not decode. */
export const UNATTRIBUTED = 'unattributed';

/** A reading of any source: a sensor reading or a rejected frame. */
export type SourceReading = Reading | RejectedFrameReading;

/**
 * A result of a pipeline's first stage that was re-keyed (`DerivedOutput.repartitionKey`)
 * to `vigil.repartition.<pipeline>`, as its second stage (`PipelineSpec.repartition`) sees
 * it. The pipeline reading around it carries as `deviceId` the first-stage chain it came
 * from (`<topic>:<partition>`), as `seq` that chain's running number of re-keyed results
 * (so a chain re-run after a restore repeats numbers and the runtime drops the copies), as
 * `timeMs` the result's `windowStartMs`, and the result's label.
 */
export interface RepartitionedReading {
  readonly kind: 'repartitioned';
  readonly offsetMs: 0;
  /** The key the result was re-partitioned by: every result of one key reaches the same second-stage chain. */
  readonly repartitionKey: string;
  /** The result as the first stage emitted it. */
  readonly key: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly revision: number;
  readonly values: Readonly<Record<string, DerivedValue>>;
  readonly provenance: readonly FrameRange[];
}

/**
 * One reading of an opened, de-duplicated telemetry record, as a pipeline sees it. The
 * runner flattens a record (one frame's readings of one kind) into one of these per reading,
 * so windows and detectors work on readings while dedupe works on frames.
 */
export interface PipelineReading<R extends SourceReading | RepartitionedReading = SourceReading> {
  readonly deviceId: string;
  /** The frame's per-device sequence number. */
  readonly seq: bigint;
  /** Event time of this reading: the frame's event time plus the reading's `offsetMs`. */
  readonly timeMs: number;
  readonly gatewayId: string;
  /** The record's classification label; combine it into results with `combinedLabel()`. */
  readonly label: ClassificationLabel;
  readonly reading: R;
}

/**
 * What a pipeline's `build` emits; the runner turns each into a sealed `DerivedRecord` on
 * `derived.<pipeline>` with the Kafka key `${key}|${windowStartMs}|${windowEndMs}`, so a
 * later revision of the same window replaces the earlier one for a compacted or keyed reader.
 */
export interface DerivedOutput {
  /** Result key within the window: device id, unit, geofence id… (1–256 characters, no control characters). */
  readonly key: string;
  /** Event-time window [start, end) in ms; start = end for point events. */
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Finite numbers, strings ≤ 256 characters, booleans or null; a non-finite number is published as null. */
  readonly values: Readonly<Record<string, DerivedValue>>;
  /** 0 for the first result of a window, +1 per revision caused by late data. Default 0. */
  readonly revision?: number;
  /**
   * The label of the inputs behind this result (`combinedLabel()` in the window's
   * aggregate). Default: the combination of every record this partition has read, which
   * is never less restrictive than the true one.
   */
  readonly label?: ClassificationLabel;
  /** Input frames as per-device sequence ranges (`frameRanges()` in the aggregate). Default none. */
  readonly provenance?: readonly FrameRange[];
  /**
   * Sends the result to the pipeline's second stage instead of `derived.<name>`: to
   * `vigil.repartition.<name>`, on the partition this key hashes to, so every result with
   * the same key (a unit, a zone) reaches one second-stage chain whichever source partition
   * produced it. Only in the first stage of a pipeline with `repartition`; 1–256 characters.
   */
  readonly repartitionKey?: string;
}

/**
 * What `build` gets besides the event stream. `build` runs once per assigned source
 * partition (a fresh operator chain each time), so its operators must be created inside it.
 */
export interface PipelineContext {
  readonly pipeline: string;
  /** The source topic and partition this operator chain serves. */
  readonly topic: string;
  readonly partition: number;
  /** Processing-time scheduler (the worker's). Event-time operators do not need it. */
  readonly scheduler: SchedulerLike;
  /**
   * Registers a stateful operator (window, detector…) under a store name and returns it, so
   * it can be used inline: `events$.pipe(ctx.state('stats', keyedWindow({...})))`. The name
   * (1–64 of `[A-Za-z0-9._-]`, unique in the pipeline) is what the runtime matches state to
   * at a restore: reordering operators is safe, a renamed or removed store is refused with
   * `VIGIL_E_PIPELINE_CHECKPOINT`, an added one starts empty. Operators with keyed state
   * (`keyedWindow`, `dedupe`, the detectors) are checkpointed key by key; others whole.
   */
  state<I, O, S extends JsonValue>(name: string, operator: StatefulOperator<I, O, S>): StatefulOperator<I, O, S>;
  /** @deprecated Replaced by `state(name, operator)`; throws `VIGIL_E_PIPELINE_OPTIONS`. */
  stateful(operator: unknown): never;
}

/** What a pipeline's second stage (`PipelineSpec.repartition.build`) receives: the re-keyed results of the first, and watermarks. */
export type RepartitionedEvents = Observable<StreamEvent<PipelineReading<RepartitionedReading>>>;

/** The stream a pipeline's `build` receives: readings with their event time, and watermarks. */
export type PipelineEvents<K extends SourceKind = SourceKind> = Observable<StreamEvent<PipelineReading<Extract<SourceReading, { kind: K }>>>>;
