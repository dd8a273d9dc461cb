import { Observable, Subject, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { combineLabels, validateLabel, type ClassificationLabel } from '../codec';
import { VigilError } from '../errors';
import { dedupe, isKeyedStateful, withWatermarks, type DedupeOperator, type JsonValue, type KeyedState, type KeyedStateful, type StatefulOperator, type StreamEvent, type WithWatermarksOperator, type WithWatermarksSnapshot } from '../stream';
import type { PartitionState, PreparedCommit } from '../state';
import type { PipelineDefinition } from './define-pipeline';
import { sameLabel } from './label-aggregate';
import { OriginWatermarks } from './origin-watermarks';
import type { SourceRecord } from './source-record';
import type { DerivedOutput, PipelineContext, PipelineEvents, PipelineReading, RepartitionedEvents, RepartitionedReading, SourceReading } from './types';

type AnyStateful = StatefulOperator<never, unknown, JsonValue>;

/** Names of stores: what `ctx.state(name, …)` accepts. `~` prefixes the runtime's own. */
const STORE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const DEDUPE = '~dedupe';
/** Entry key of an operator without keyed state: its whole snapshot in one (chunked) entry. */
const WHOLE = '*';

/** The commit record of a source partition (inside the sealed meta record). */
interface PartitionMeta {
  readonly v: 2;
  readonly pipeline: string;
  readonly topic: string;
  readonly partition: number;
  /** The next source offset to read. */
  readonly offset: string;
  readonly watermarks: JsonValue;
  readonly label: JsonValue;
  /** Operator-wide state per registered store name (null for whole-snapshot operators). */
  readonly ops: { readonly [name: string]: JsonValue };
  /** Re-keyed results this chain has sent to the second stage (absent: none). */
  readonly rekeyed?: number;
}

type Registered =
  | { readonly kind: 'keyed'; readonly name: string; readonly op: KeyedStateful }
  | { readonly kind: 'whole'; readonly name: string; readonly op: AnyStateful; readonly store: KeyedState<JsonValue> };

/**
 * The operator chain of one source partition: dedupe (rejections pass) → one reading per element →
 * watermarks → the pipeline's own operators. Kafka keys telemetry by device, so every
 * device's keyed state lives in exactly one partition's chain, and a rebalance moves a
 * partition's whole state with it (docs/architecture.md §4).
 *
 * State: the pipeline's named stores (`ctx.state`) and dedupe live in `state` (a bounded
 * cache over the local store); a commit writes the entries changed since the last one,
 * then the partition's commit record (offset, watermark, operator counters).
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
  /** Event time: from the records (a source chain) or from the first stage's marks (a second-stage chain). */
  private readonly clock: { readonly operator: OperatorFunction<SourceRecord, StreamEvent<AnyReading>>; snapshot(): JsonValue; restore(state: JsonValue): void; watermark(): number };
  private readonly registered: Registered[] = [];
  private readonly output$: Observable<DerivedOutput>;
  private outputs: DerivedOutput[] = [];
  private subscription: Subscription | undefined;
  private failure: { error: unknown } | undefined;
  /** Combination of every input label so far: the fallback label of results. */
  label: ClassificationLabel | null = null;
  /**
   * Re-keyed results sent to the second stage so far: each is numbered with it, and it is
   * checkpointed with the offset, so a re-run from a checkpoint numbers its results as the
   * first run did and the second stage's dedupe drops the copies.
   */
  rekeyed = 0;
  /** The watermark this (first-stage) chain last reported to the second stage; not checkpointed: a restarted chain reports again. */
  markSent = -Infinity;

  constructor(
    private readonly definition: PipelineDefinition,
    readonly topic: string,
    readonly partition: number,
    scheduler: SchedulerLike,
    readonly state: PartitionState,
    onDuplicate: (record: SourceRecord, reason: 'duplicate' | 'too-old') => void,
    /** A chain of the pipeline's second stage (a partition of `vigil.repartition.<name>`). */
    readonly secondStage = false,
    /** For a second-stage chain: every first-stage chain (`<topic>:<partition>` of each source) that reports to it. */
    origins: readonly string[] = [],
  ) {
    const second = secondStage ? definition.repartition : undefined;
    if (secondStage && second === undefined) throw new VigilError('VIGIL_E_INTERNAL', `pipeline "${definition.name}" has no second stage`);
    this.dedupe = dedupe<SourceRecord>({
      device: (r) => r.deviceId,
      // Sequence numbers beyond 2^53 cannot be tracked exactly; dedupe passes them as
      // unsequenced, and rejections too (a replayed frame repeats its number on purpose).
      // A re-keyed result's number is its first-stage chain's count (see `rekeyed`).
      sequence: (r) => (r.type !== 'rejected' && r.seq >= 0n && r.seq <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.seq) : -1),
      window: definition.dedupeWindow,
      onDrop: onDuplicate,
    });
    this.dedupe.bindState(state.provider(DEDUPE));
    // One watermark per chain: the chain's only input is one source partition.
    if (second === undefined) {
      const w: WithWatermarksOperator<AnyReading> = withWatermarks<AnyReading>({ eventTime: (r) => r.timeMs, maxOutOfOrderness: definition.maxOutOfOrderness });
      this.clock = { operator: (s) => s.pipe(flattenReadings(), w), snapshot: () => w.snapshot(), restore: (j) => w.restore(j as WithWatermarksSnapshot), watermark: () => w.stats().watermark };
    } else {
      const o = new OriginWatermarks(second.maxOutOfOrderness, second.idleAfterMs, origins);
      this.clock = { operator: o.operator(), snapshot: () => o.snapshot(), restore: (j) => o.restore(j), watermark: () => o.watermark() };
    }
    const names = new Set<string>();
    const optionsError = (message: string): VigilError => new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "${definition.name}": ${message}`, { details: { pipeline: definition.name } });
    const ctx: PipelineContext = {
      pipeline: definition.name,
      topic,
      partition,
      scheduler,
      state: (name, op) => {
        if (typeof name !== 'string' || !STORE_NAME.test(name)) throw optionsError(`ctx.state() needs a store name of 1-64 characters of [A-Za-z0-9._-], got ${JSON.stringify(name)}`);
        if (names.has(name)) throw optionsError(`ctx.state(): the store name "${name}" is used twice; give each stateful operator its own`);
        names.add(name);
        if (isKeyedStateful(op)) {
          op.bindState(state.provider(name));
          this.registered.push({ kind: 'keyed', name, op });
        } else if (typeof op?.snapshot === 'function' && typeof op.restore === 'function') {
          const store = state.provider(name).store<JsonValue>('whole', { save: (v) => v, load: (j) => j });
          this.registered.push({ kind: 'whole', name, op: op as unknown as AnyStateful, store });
        } else {
          throw optionsError(`ctx.state("${name}", …) needs a stateful stream operator (keyedWindow, a detector, or one with snapshot/restore)`);
        }
        return op;
      },
      stateful: () => {
        throw optionsError('ctx.stateful(op) was replaced by ctx.state(name, op): state is matched to checkpoints by name, not by position');
      },
    };
    const events$ = this.input.pipe(this.dedupe, this.clock.operator);
    const out = second === undefined ? definition.build(events$ as PipelineEvents, ctx) : second.build(events$ as RepartitionedEvents, ctx);
    if (!(out instanceof Observable)) {
      throw optionsError('build() must return an Observable of derived outputs');
    }
    this.output$ = out;
  }

  /**
   * Puts the restored state into the (not yet started) chain: `meta` is the partition's
   * last commit record (null: never committed), the stores already hold its entries.
   */
  restore(meta: JsonValue | null): void {
    const where = { pipeline: this.definition.name, topic: this.topic, partition: this.partition };
    const fail = (message: string, cause?: unknown): VigilError =>
      new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `state of ${this.topic}[${this.partition}]: ${message}`, { details: where, ...(cause === undefined ? {} : { cause }) });
    if (meta === null) {
      this.dedupe.restoreMeta(null);
      for (const r of this.registered) if (r.kind === 'keyed') r.op.restoreMeta(null);
      return;
    }
    const m = meta as Partial<PartitionMeta>;
    if (typeof m !== 'object' || m === null || m.v !== 2 || m.pipeline !== this.definition.name || m.topic !== this.topic || m.partition !== this.partition || typeof m.offset !== 'string' || !/^(0|[1-9][0-9]*)$/.test(m.offset) || typeof m.ops !== 'object' || m.ops === null) {
      throw fail('the commit record does not belong to this pipeline and partition, or is malformed');
    }
    const names = new Set(this.registered.map((r) => r.name));
    for (const name of Object.keys(m.ops)) {
      if (name !== DEDUPE && !names.has(name)) {
        throw fail(`the changelog holds state of store "${name}", which the pipeline no longer registers (renamed or removed; registered: ${[...names].join(', ') || 'none'}). Deploy the changed pipeline under a new name, or delete its changelog and local state to start over`);
      }
    }
    let current = DEDUPE;
    try {
      this.dedupe.restoreMeta(m.ops[DEDUPE] ?? null);
      this.clock.restore(m.watermarks as JsonValue);
      for (const r of this.registered) {
        current = r.name;
        // A store added since the commit starts empty.
        if (r.kind === 'keyed') r.op.restoreMeta(m.ops[r.name] ?? null);
        else {
          const whole = r.store.get(WHOLE);
          if (whole !== undefined) r.op.restore(whole);
        }
      }
      const l = m.label as [string, string[]] | null;
      this.label = l === null ? null : validateLabel({ level: l[0], releasability: l[1] });
      if (m.rekeyed !== undefined && (!Number.isSafeInteger(m.rekeyed) || m.rekeyed < 0)) throw new Error(`re-keyed count ${String(m.rekeyed)} is not a count`);
      this.rekeyed = m.rekeyed ?? 0;
    } catch (err) {
      throw fail(`store "${current}" cannot be restored: ${(err as Error).message}`, err);
    }
    this.position = m.offset;
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

  /** The next commit of this partition (changed entries, then the commit record), or null when there is nothing new. */
  prepareCommit(): PreparedCommit | null {
    if (!this.dirty || this.position === null) return null;
    const ops: Record<string, JsonValue> = { [DEDUPE]: this.dedupe.saveMeta() };
    for (const r of this.registered) {
      if (r.kind === 'keyed') ops[r.name] = r.op.saveMeta();
      else {
        r.store.set(WHOLE, r.op.snapshot());
        ops[r.name] = null;
      }
    }
    const meta: PartitionMeta = {
      v: 2,
      pipeline: this.definition.name,
      topic: this.topic,
      partition: this.partition,
      offset: this.position,
      watermarks: this.clock.snapshot(),
      label: this.label === null ? null : [this.label.level, [...this.label.releasability]],
      ops,
      ...(this.rekeyed === 0 ? {} : { rekeyed: this.rekeyed }),
    };
    return this.state.prepare(meta as unknown as JsonValue);
  }

  /** The partition's event-time watermark, ms; null before the first. */
  watermark(): number | null {
    const w = this.clock.watermark();
    return Number.isFinite(w) ? w : null;
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
    this.state.dispose();
  }
}

type AnyReading = PipelineReading<SourceReading | RepartitionedReading>;

/** One element per reading, with the reading's own event time. */
function flattenReadings(): OperatorFunction<SourceRecord, AnyReading> {
  return (source) =>
    new Observable<AnyReading>((subscriber) =>
      source.subscribe({
        next: (r) => {
          const readings = r.readings;
          for (let i = 0; i < readings.length; i++) {
            const reading = readings[i] as SourceReading | RepartitionedReading;
            subscriber.next({ deviceId: r.deviceId, seq: r.seq, timeMs: r.eventTimeMs + reading.offsetMs, gatewayId: r.gatewayId, label: r.label, reading });
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      }),
    );
}

