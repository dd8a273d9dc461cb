/**
 * Conventions shared by the pipelines in this folder: the default ceiling, how point
 * events (detector transitions) become derived outputs, and a record filter that lets
 * watermarks through. Not a pipeline itself; `index.ts` lists the pipelines.
 */
import { filter, type MonoTypeOperatorFunction, type OperatorFunction } from 'rxjs';
import { makeLabel, type ClassificationLabel, type DerivedOutput, type DerivedValue, type PipelineReading, type SourceReading, type StreamEvent } from '../src';

/**
 * Ceiling of every pipeline here unless its options say otherwise: results up to SECRET,
 * whatever their releasability. A TOP SECRET input never reaches an analyst of these
 * streams; narrow it (e.g. `makeLabel('SECRET', ['GBR'])`) for a coalition feed.
 */
export const DEFAULT_CEILING: ClassificationLabel = makeLabel('SECRET');

/**
 * Allowed lateness of every window here: a gateway may spool for hours in a DDIL outage,
 * and its backlog should revise the windows it belongs to rather than go to the side output.
 */
export const DEFAULT_LATENESS_MS = 6 * 3_600_000;

/** Options every pipeline factory here takes. */
export interface CommonPipelineOptions {
  /** Highest label the derived stream may carry (results above it are refused and counted). Default `DEFAULT_CEILING`. */
  readonly ceiling?: ClassificationLabel;
  /** Watermark bound: how far a partition's records may trail its newest. Default `DEFAULT_MAX_OUT_OF_ORDERNESS_MS`. */
  readonly maxOutOfOrdernessMs?: number;
}

/**
 * One second: gateways forward frames as they arrive and a device's frames stay in order,
 * so records of one partition rarely trail each other by more. Anything later still counts:
 * within the 6 h allowed lateness it publishes a revision. A short bound is what lets an
 * analyst see a window about a second after it ends instead of several.
 */
export const DEFAULT_MAX_OUT_OF_ORDERNESS_MS = 1_000;

/**
 * Keeps the records `keep` accepts and every watermark: detectors after it still see
 * event time advance, and readings that lack the measured field (a `null`) are not
 * mistaken for a zero.
 */
export function keepRecords<T>(keep: (record: T) => boolean): MonoTypeOperatorFunction<StreamEvent<T>> {
  return filter((ev) => ev.kind === 'watermark' || keep(ev.value));
}

/**
 * Keeps the readings of one kind (and every watermark), typed as that kind: for a pipeline
 * with several sources, whose `build` runs once per source partition and sees one kind.
 */
export function keepKind<R extends SourceReading, K extends R['kind']>(kind: K): OperatorFunction<StreamEvent<PipelineReading<R>>, StreamEvent<PipelineReading<Extract<R, { kind: K }>>>> {
  return filter((ev): ev is StreamEvent<PipelineReading<Extract<R, { kind: K }>>> => ev.kind === 'watermark' || ev.value.reading.kind === kind);
}

/**
 * A detector transition as a derived output: a point window `[timeMs, timeMs]`, so its
 * Kafka key is `${key}|${timeMs}|${timeMs}`. No label: the runtime then uses the
 * combination of every record the partition has read, because a transition depends on a
 * run of earlier records (or, for silence, on other devices' records moving event time)
 * and the triggering record's own label could be less restrictive than the truth.
 */
export function pointEvent(key: string, timeMs: number, values: Readonly<Record<string, DerivedValue>>): DerivedOutput {
  return { key, windowStartMs: timeMs, windowEndMs: timeMs, values };
}
