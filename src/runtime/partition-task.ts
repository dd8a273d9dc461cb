import { Observable, Subject, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { combineLabels, validateLabel, type ClassificationLabel } from '../codec';
import { VigilError } from '../errors';
import { dedupe, withWatermarks, type DedupeOperator, type DedupeSnapshot, type JsonValue, type StatefulOperator, type WithWatermarksOperator, type WithWatermarksSnapshot } from '../stream';
import type { PipelineDefinition } from './define-pipeline';
import { sameLabel } from './label-aggregate';
import type { PartitionCheckpoint } from './checkpoint-codec';
import type { SourceRecord } from './source-record';
import type { DerivedOutput, PipelineContext, PipelineEvents, PipelineReading, SourceReading } from './types';

type AnyStateful = StatefulOperator<never, unknown, JsonValue>;

/**
 * The operator chain of one source partition: dedupe (rejections pass) → one reading per element →
 * watermarks → the pipeline's own operators. Kafka keys telemetry by device, so every
 * device's keyed state lives in exactly one partition's chain, and a rebalance moves a
 * partition's whole state with it (DESIGN.md §4).
 *
 * Everything downstream of `push` is synchronous (event time only), so once `push`
 * returns, `drain()` holds every result the record caused.
 */
export class PartitionTask {
  /** The next offset to read; null before the first record of a partition never checkpointed. */
  position: string | null = null;
  /** Read past the last checkpoint. */
  dirty = false;
  /** Restored from a checkpoint at assignment. */
  restored = false;
  private readonly input = new Subject<SourceRecord>();
  private readonly dedupe: DedupeOperator<SourceRecord>;
  private readonly watermarks: WithWatermarksOperator<PipelineReading>;
  private readonly operators: AnyStateful[] = [];
  private readonly output$: Observable<DerivedOutput>;
  private outputs: DerivedOutput[] = [];
  private subscription: Subscription | undefined;
  private failure: { error: unknown } | undefined;
  /** Combination of every input label so far: the fallback label of results. */
  label: ClassificationLabel | null = null;

  constructor(
    private readonly definition: PipelineDefinition,
    readonly topic: string,
    readonly partition: number,
    scheduler: SchedulerLike,
    onDuplicate: (record: SourceRecord, reason: 'duplicate' | 'too-old') => void,
  ) {
    this.dedupe = dedupe<SourceRecord>({
      device: (r) => r.deviceId,
      // Sequence numbers beyond 2^53 cannot be tracked exactly; dedupe passes them as
      // unsequenced, and rejections too (a replayed frame repeats its number on purpose).
      sequence: (r) => (r.type !== 'rejected' && r.seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.seq) : -1),
      window: definition.dedupeWindow,
      onDrop: onDuplicate,
    });
    // One watermark per chain: the chain's only input is one source partition.
    this.watermarks = withWatermarks<PipelineReading>({ eventTime: (r) => r.timeMs, maxOutOfOrderness: definition.maxOutOfOrderness });
    const ctx: PipelineContext = {
      pipeline: definition.name,
      topic,
      partition,
      scheduler,
      stateful: (op) => {
        if (typeof op?.snapshot !== 'function' || typeof op.restore !== 'function') {
          throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "${definition.name}": ctx.stateful() needs a stateful stream operator (with snapshot/restore)`, { details: { pipeline: definition.name } });
        }
        this.operators.push(op);
        return op;
      },
    };
    const events$ = this.input.pipe(this.dedupe, flattenReadings(), this.watermarks) as PipelineEvents;
    const out = definition.build(events$, ctx);
    if (!(out instanceof Observable)) {
      throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "${definition.name}": build() must return an Observable of derived outputs`, { details: { pipeline: definition.name } });
    }
    this.output$ = out;
  }

  /** Puts a checkpoint's state into the (not yet started) chain. */
  restore(cp: PartitionCheckpoint): void {
    if (cp.operators.length !== this.operators.length) {
      throw new VigilError(
        'VIGIL_E_PIPELINE_CHECKPOINT',
        `checkpoint of ${this.topic}[${this.partition}] holds ${cp.operators.length} operator states, the pipeline registers ${this.operators.length}: the definition changed`,
        { details: { pipeline: this.definition.name, topic: this.topic, partition: this.partition } },
      );
    }
    try {
      this.dedupe.restore(cp.dedupe as DedupeSnapshot);
      this.watermarks.restore(cp.watermarks as WithWatermarksSnapshot);
      for (let i = 0; i < this.operators.length; i++) (this.operators[i] as AnyStateful).restore(cp.operators[i] as JsonValue);
      const l = cp.label as [string, string[]] | null;
      this.label = l === null ? null : validateLabel({ level: l[0], releasability: l[1] });
    } catch (err) {
      throw new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `checkpoint of ${this.topic}[${this.partition}] cannot be restored: ${(err as Error).message}`, {
        details: { pipeline: this.definition.name, topic: this.topic, partition: this.partition },
        cause: err,
      });
    }
    this.position = cp.offset;
    this.restored = true;
  }

  start(): void {
    this.subscription = this.output$.subscribe({
      next: (o) => this.outputs.push(o),
      error: (error: unknown) => (this.failure = { error }),
    });
  }

  /** Feeds one opened record; throws the chain's error if an operator failed. */
  push(record: SourceRecord): void {
    const l = this.label;
    this.label = l === null ? record.label : sameLabel(l, record.label) ? l : combineLabels(l, record.label);
    this.input.next(record);
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** The results produced since the last call. */
  drain(): DerivedOutput[] {
    const out = this.outputs;
    if (out.length > 0) this.outputs = [];
    return out;
  }

  snapshot(): PartitionCheckpoint {
    return {
      version: 1,
      pipeline: this.definition.name,
      topic: this.topic,
      partition: this.partition,
      offset: this.position as string,
      dedupe: this.dedupe.snapshot(),
      watermarks: this.watermarks.snapshot(),
      operators: this.operators.map((op) => op.snapshot()),
      label: this.label === null ? null : [this.label.level, [...this.label.releasability]],
    };
  }

  duplicates(): number {
    const s = this.dedupe.stats();
    return s.duplicates + s.tooOld;
  }

  /**
   * Drops the chain without completing it: completion would fire every open window as if
   * event time had ended, results an uninterrupted run never produces.
   */
  dispose(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }
}

/** One element per reading, with the reading's own event time. */
function flattenReadings(): OperatorFunction<SourceRecord, PipelineReading> {
  return (source) =>
    new Observable<PipelineReading>((subscriber) =>
      source.subscribe({
        next: (r) => {
          const readings = r.readings;
          for (let i = 0; i < readings.length; i++) {
            const reading = readings[i] as SourceReading;
            subscriber.next({ deviceId: r.deviceId, seq: r.seq, timeMs: r.eventTimeMs + reading.offsetMs, gatewayId: r.gatewayId, label: r.label, reading });
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

