import type { Observable } from 'rxjs';
import { validateLabel, READING_KINDS, type ClassificationLabel } from '../codec';
import { VigilError } from '../errors';
import type { DerivedOutput, PipelineContext, PipelineEvents, RepartitionedEvents, SourceKind, TelemetryTopic } from './types';

/** Every source kind a pipeline may name: the reading kinds and `rejected`. */
export const SOURCE_KINDS: readonly SourceKind[] = Object.freeze([...READING_KINDS, 'rejected']);

/**
 * A pipeline's second stage: reads `vigil.repartition.<name>`, where the first stage's
 * results with a `repartitionKey` land, one operator chain per partition of it, so every
 * result of one key (a unit, a zone) meets in one chain whichever source partition made
 * it. The topic has as many partitions as the sources and is co-partitioned with the
 * changelog like a source, so second-stage state is checkpointed, restored and moved in
 * rebalances as the first stage's is.
 */
export interface RepartitionSpec {
  /**
   * How far behind the first stage's watermark the second stage's runs, ms. Each
   * first-stage chain reports its watermark after the results it sent; a second-stage
   * chain's watermark is the least of them minus this: as much as the first stage's
   * results trail its watermark (0 for results of records, at the time of the record; a
   * window's length minus its slide for window results at their start). Default 0.
   */
  readonly maxOutOfOrderness?: number;
  /**
   * A first-stage chain whose watermark trails the newest by more than this (ms of event
   * time) stops holding the second stage back: a source partition whose devices fell
   * silent must not stop every result. What it sends later is late. Default 300,000.
   */
  readonly idleAfterMs?: number;
  /** Builds the operator chain of one partition of `vigil.repartition.<name>`; its results go to `derived.<name>` (a `repartitionKey` there is refused). */
  readonly build: (events$: RepartitionedEvents, ctx: PipelineContext) => Observable<DerivedOutput>;
}

/** What `definePipeline` takes. */
export interface PipelineSpec<K extends SourceKind = SourceKind> {
  /**
   * The pipeline's name: its derived topic is `derived.<name>`, its changelog
   * `vigil.changelog.<name>`, its consumer group `vigil.pipeline.<name>` (by default).
   * 1–64 of `[A-Za-z0-9._-]`.
   */
  readonly name: string;
  /**
   * Topics to read, `telemetry.<kind>` (or `telemetry.rejected`); the reading type in
   * `build` follows from them. Each source partition gets its own operator chain.
   */
  readonly sources: readonly TelemetryTopic<K>[];
  /**
   * The highest label the derived stream may carry: a result is published only if its
   * level is at most `ceiling.level` and it is releasable to everyone in
   * `ceiling.releasability`. Anything else is refused and counted, never published.
   * Default: no ceiling.
   */
  readonly ceiling?: ClassificationLabel;
  /**
   * Event-time watermarks, one per source partition (the operator chain's only input):
   * `max event time − maxOutOfOrderness`. Default 5,000 ms. Processing-time idleness and
   * clock-skew limits are deliberately absent: they would make results depend on when a
   * worker ran, and a restarted worker must produce what an uninterrupted one did (the
   * gateway already bounds clock skew at admission).
   */
  readonly watermarks?: { readonly maxOutOfOrderness?: number };
  /**
   * Dedupe window per device, in sequence numbers (a multiple of 32). Default 1024.
   * Frames further behind a device's highest sequence are dropped as too old.
   */
  readonly dedupeWindow?: number;
  /** Builds the operator chain of one source partition; see `PipelineContext`. */
  readonly build: (events$: PipelineEvents<K>, ctx: PipelineContext) => Observable<DerivedOutput>;
  /** A second stage over re-keyed first-stage results (`DerivedOutput.repartitionKey`). Default none. */
  readonly repartition?: RepartitionSpec;
}

/** A validated, frozen pipeline definition: pass it to `startPipeline`. */
export interface PipelineDefinition<K extends SourceKind = SourceKind> extends PipelineSpec<K> {
  readonly maxOutOfOrderness: number;
  readonly dedupeWindow: number;
  /** The reading kinds of `sources`, in order. */
  readonly kinds: readonly K[];
  readonly repartition?: RepartitionSpec & { readonly maxOutOfOrderness: number; readonly idleAfterMs: number };
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

function fail(pipeline: string, option: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "${pipeline}": option "${option}" is ${shown}; ${allowed}`, { details: { pipeline, option } });
}

/**
 * Declares a pipeline: what it reads, how it computes results, how sensitive its results
 * may be. Checked once here (`VIGIL_E_PIPELINE_OPTIONS`), then frozen.
 *
 * @example
 * import { map, filter } from 'rxjs';
 * import { definePipeline, keyedWindow, tumbling, aggregate, count, mean, combinedLabel, frameRanges, makeLabel } from 'vigil';
 *
 * export const powerStats = definePipeline({
 *   name: 'power-10s',
 *   sources: ['telemetry.power'],
 *   ceiling: makeLabel('SECRET', ['GBR']),
 *   build: (events$, ctx) =>
 *     events$.pipe(
 *       ctx.state('stats', keyedWindow({
 *         key: (r) => r.deviceId,
 *         window: tumbling(10_000),
 *         aggregate: aggregate({ n: count(), battery: mean((r) => r.reading.batteryPct ?? 0), label: combinedLabel(), frames: frameRanges() }),
 *       })),
 *       filter((w) => w.type !== 'early'),
 *       map((w) => ({
 *         key: w.key, windowStartMs: w.window.start, windowEndMs: w.window.end, revision: w.revision,
 *         values: { n: w.value.n, batteryPct: w.value.battery }, label: w.value.label, provenance: w.value.frames,
 *       })),
 *     ),
 * });
 */
export function definePipeline<K extends SourceKind>(spec: PipelineSpec<K>): PipelineDefinition<K> {
  if (typeof spec !== 'object' || spec === null) throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', 'definePipeline needs a pipeline spec object');
  const name = spec.name;
  if (typeof name !== 'string' || !NAME.test(name)) fail(String(name), 'name', name, 'expected 1-64 characters of [A-Za-z0-9._-]');
  if (!Array.isArray(spec.sources) || spec.sources.length === 0) fail(name, 'sources', spec.sources, 'expected a non-empty array of telemetry.<kind> topics');
  const kinds: K[] = [];
  for (const s of spec.sources as readonly string[]) {
    const kind = typeof s === 'string' && s.startsWith('telemetry.') ? s.slice('telemetry.'.length) : '';
    if (!(SOURCE_KINDS as readonly string[]).includes(kind)) fail(name, 'sources', s, `expected telemetry.<kind> with kind one of ${SOURCE_KINDS.join(', ')}`);
    if (kinds.includes(kind as K)) fail(name, 'sources', s, 'expected each topic once');
    kinds.push(kind as K);
  }
  let ceiling: ClassificationLabel | undefined;
  if (spec.ceiling !== undefined) {
    try {
      ceiling = validateLabel(spec.ceiling);
    } catch (err) {
      fail(name, 'ceiling', spec.ceiling, `expected a label from makeLabel() (${(err as Error).message})`);
    }
  }
  const ooo = spec.watermarks?.maxOutOfOrderness ?? 5_000;
  if (typeof ooo !== 'number' || !Number.isFinite(ooo) || ooo < 0) fail(name, 'watermarks.maxOutOfOrderness', ooo, 'expected a finite number of ms >= 0');
  const dedupeWindow = spec.dedupeWindow ?? 1024;
  if (!Number.isInteger(dedupeWindow) || dedupeWindow < 32 || dedupeWindow % 32 !== 0) fail(name, 'dedupeWindow', dedupeWindow, 'expected a multiple of 32, at least 32');
  if (typeof spec.build !== 'function') fail(name, 'build', spec.build, 'expected a function (events$, ctx) => Observable<DerivedOutput>');
  let repartition: PipelineDefinition['repartition'];
  if (spec.repartition !== undefined) {
    const r = spec.repartition as Partial<RepartitionSpec> | null;
    if (typeof r !== 'object' || r === null || typeof r.build !== 'function') fail(name, 'repartition.build', r?.build, 'expected a function (events$, ctx) => Observable<DerivedOutput>');
    const rooo = r.maxOutOfOrderness ?? 0;
    if (typeof rooo !== 'number' || !Number.isFinite(rooo) || rooo < 0) fail(name, 'repartition.maxOutOfOrderness', rooo, 'expected a finite number of ms >= 0');
    const idle = r.idleAfterMs ?? 300_000;
    if (typeof idle !== 'number' || !Number.isFinite(idle) || idle < 0) fail(name, 'repartition.idleAfterMs', idle, 'expected a finite number of ms >= 0');
    repartition = Object.freeze({ maxOutOfOrderness: rooo, idleAfterMs: idle, build: r.build });
  }
  return Object.freeze({
    name,
    sources: Object.freeze([...spec.sources]),
    ...(ceiling === undefined ? {} : { ceiling }),
    watermarks: Object.freeze({ maxOutOfOrderness: ooo }),
    maxOutOfOrderness: ooo,
    dedupeWindow,
    kinds: Object.freeze(kinds),
    build: spec.build,
    ...(repartition === undefined ? {} : { repartition }),
  });
}
