import { join } from 'node:path';
import type { BusAdmin, BusBatch, BusConsumer, BusMessage, BusProducer, OutgoingMessage, TopicPartition, TopicPartitionOffset } from '../bus';
import { parseOffset, partitionForKey } from '../bus';
import { RECORD_KEY_ID_HEADER, RecordCodec, type DerivedRecord, type DerivedValue } from '../codec';
import type { StreamDataKey } from '../crypto';
import { VigilError, isVigilError } from '../errors';
import { channels, type PipelineBatchEvent, type PipelineDropEvent } from '../instrument';
import { withinCeiling } from './ceiling';
import { MAX_RECORD_BYTES, PartitionState, StateMemory, memoryStateDir, openLmdbStateDir, openState, parseRecordKey, readRanges, sealState, type LocalStateDir, type PartitionRange, type PreparedCommit } from '../state';
import type { PipelineDefinition } from './define-pipeline';
import { PartitionTask } from './partition-task';
import { Serial } from './serial';
import { markRecord, rejectedSourceRecord, repartitionedRecord, repartitionedSourceRecord, type SourceRecord } from './source-record';
import type { DerivedOutput, SourceKind } from './types';
import { resolveWorkerOptions, type PipelineWorkerOptions, type ResolvedWorkerOptions } from './worker-options';

/** Counters of a worker since it started. */
export interface PipelineWorkerStats {
  readonly state: 'running' | 'stopping' | 'stopped' | 'failed';
  /** Source partitions this worker owns now. */
  readonly partitions: number;
  /** Source messages read (re-reads after a restore included). */
  readonly records: number;
  /** Source messages that could not be opened, or were not telemetry of their topic's kind. */
  readonly invalid: number;
  /** Frames dropped by dedupe (duplicates and too old), over the partitions owned now. */
  readonly duplicates: number;
  /** Derived records handed to the producer. */
  readonly outputs: number;
  /** Results refused: above the ceiling, or not publishable. */
  readonly refused: number;
  /** Checkpoint records written. */
  readonly checkpoints: number;
  /** Checkpoint writes that failed (retried at the next interval). */
  readonly checkpointFailures: number;
  /** Partitions whose state was restored at assignment (from the local store and/or the changelog). */
  readonly restored: number;
  /** Changelog records read by restores. */
  readonly restoreRecords: number;
  /** Heap the state caches hold now (estimate), bytes; bounded by `stateCacheBytes`. */
  readonly stateCacheBytes: number;
  /** Cached entries evicted to the local store so far. */
  readonly stateEvictions: number;
  /** Commits started early because the state cache was full of changed entries. */
  readonly pressureCommits: number;
}

/** How `stop` ends the worker. */
export interface StopOptions {
  /**
   * Write a last checkpoint before leaving the group. Default true. `false` leaves as a
   * crash would: whoever takes the partitions over restarts from the last checkpoint.
   */
  readonly checkpoint?: boolean;
}

const tpKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/** What a chain reads: a source kind, or the pipeline's own re-keyed results (its second stage). */
type ChainKind = SourceKind | 'repartitioned';

/** Most bytes of changelog records in one producer call (Kafka refuses requests above its message size limit, 1 MiB by default). */
const COMMIT_SEND_BYTES = 512 * 1024;
/** Bytes of derived results sent but not yet acknowledged beyond which the batch loop waits for them. */
const OUTPUT_BACKLOG_BYTES = 8 * 1024 * 1024;
/** Changelog requests of one commit in flight at once. */
const COMMIT_SENDS_IN_FLIGHT = 4;

/**
 * Runs a pipeline as one member of its consumer group: reads `telemetry.<kind>`, opens
 * the sealed records, drops duplicate frames, runs the operators of each source partition,
 * seals results under the derived stream's key with their label (refusing any above the
 * ceiling) and produces them to `derived.<name>` with deterministic keys. State and offsets
 * are checkpointed together to the compacted `vigil.changelog.<name>`; a partition's new
 * owner (after a restart or a rebalance) restores the last checkpoint and reads on from its
 * offset, re-producing identical results under identical keys: effectively once.
 *
 * Build one with `startPipeline`.
 */
export class PipelineWorker {
  private readonly tasks = new Map<string, PartitionTask>();
  private readonly serial = new Serial();
  private readonly codec = new RecordCodec();
  private readonly kinds = new Map<string, ChainKind>();
  private readonly derivedTopic: string;
  /** `vigil.repartition.<name>` when the pipeline has a second stage. */
  private readonly repartitionTopic: string | undefined;
  private repartitionPartitions = 1;
  /** Every source partition, `<topic>:<partition>`: the first-stage chains a second-stage chain hears from. */
  private origins: string[] = [];
  private readonly changelogTopic: string;
  private producer: BusProducer | undefined;
  private consumer: BusConsumer | undefined;
  private admin: BusAdmin | undefined;
  private local: LocalStateDir | undefined;
  private readonly memory: StateMemory;
  private lastCommit = 0;
  /** Bytes of derived results handed to the producer and not yet acknowledged. */
  private outputBacklog = 0;
  private state: PipelineWorkerStats['state'] = 'running';
  private killed = false;
  private sendFailure: unknown;
  private stopping: Promise<void> | undefined;
  private readonly counters = { records: 0, invalid: 0, outputs: 0, refused: 0, checkpoints: 0, checkpointFailures: 0, restored: 0, restoreRecords: 0, pressureCommits: 0 };
  // One payload per call site, reused (docs/architecture.md §8.8); subscribers read it synchronously.
  private readonly batchEvent: PipelineBatchEvent;
  private readonly dropEvent: PipelineDropEvent;

  /** Use `startPipeline`. */
  constructor(
    readonly definition: PipelineDefinition,
    private readonly options: ResolvedWorkerOptions,
  ) {
    const prefix = options.topicPrefix;
    definition.sources.forEach((s, i) => this.kinds.set(prefix + s, definition.kinds[i] as SourceKind));
    this.derivedTopic = `${prefix}derived.${definition.name}`;
    this.changelogTopic = `${prefix}vigil.changelog.${definition.name}`;
    this.repartitionTopic = definition.repartition === undefined ? undefined : `${prefix}vigil.repartition.${definition.name}`;
    if (this.repartitionTopic !== undefined) this.kinds.set(this.repartitionTopic, 'repartitioned');
    this.batchEvent = { pipeline: definition.name, topic: '', partition: 0, lag: null, watermarkMs: null, records: 0, outputs: 0, seconds: 0 };
    this.dropEvent = { pipeline: definition.name, stage: 'input', reason: '' };
    if (!options.keyring.has(options.stateKey.keyId)) options.keyring.add(options.stateKey);
    this.memory = new StateMemory(options.stateCacheBytes);
    this.derivedKey = options.derivedKey;
    this.stateKey = options.stateKey;
    this.stateKeyFollowsDerived = options.stateKey === options.derivedKey;
  }

  private derivedKey: StreamDataKey;
  private stateKey: StreamDataKey;
  private readonly stateKeyFollowsDerived: boolean;

  /**
   * A rotated key ring, without a restart: `read` keys are added to the keyring (records and
   * checkpoints sealed under any of them open), and `derived`, when given, seals results
   * (and checkpoints, unless a separate `stateKey` was given) from the next batch on.
   * Records carry their key id, so readers holding the ring open old and new alike.
   */
  useKeys(keys: { readonly derived?: StreamDataKey; readonly read?: readonly StreamDataKey[] }): void {
    for (const k of keys.read ?? []) this.options.keyring.add(k);
    if (keys.derived !== undefined) {
      this.options.keyring.add(keys.derived);
      this.derivedKey = keys.derived;
      if (this.stateKeyFollowsDerived) this.stateKey = keys.derived;
    }
  }

  /** The topics this worker reads and writes (with the prefix applied). */
  topics(): { readonly sources: readonly string[]; readonly derived: string; readonly changelog: string; readonly repartition?: string } {
    const sources = [...this.kinds.keys()].filter((t) => t !== this.repartitionTopic);
    return { sources, derived: this.derivedTopic, changelog: this.changelogTopic, ...(this.repartitionTopic === undefined ? {} : { repartition: this.repartitionTopic }) };
  }

  /** @internal Creates the topics, opens the local state store and joins the group. */
  async start(): Promise<void> {
    const o = this.options;
    const admin = o.bus.admin();
    this.admin = admin;
    let most = 1;
    for (const topic of this.topics().sources) {
      const d = await admin.describeTopic(topic);
      if (d === null) throw new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `pipeline "${this.definition.name}": source topic "${topic}" does not exist`, { details: { topic } });
      most = Math.max(most, d.partitions);
      for (let p = 0; p < d.partitions; p++) this.origins.push(`${topic}:${p}`);
    }
    // Co-partitioned: changelog partition p holds the state of source partition p.
    // The repartition topic is read like a source: as many partitions, so the changelog covers it too.
    await admin.ensureTopics([
      { topic: this.derivedTopic, partitions: o.derivedPartitions ?? most },
      { topic: this.changelogTopic, partitions: most, compacted: true },
      ...(this.repartitionTopic === undefined ? [] : [{ topic: this.repartitionTopic, partitions: most }]),
    ]);
    if (this.repartitionTopic !== undefined) {
      const n = (await admin.describeTopic(this.repartitionTopic))?.partitions ?? most;
      if (n > most) {
        throw new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `pipeline "${this.definition.name}": ${this.repartitionTopic} has ${n} partitions, more than the changelog's ${most}, which must hold the state of each; recreate it with ${most}`, {
          details: { topic: this.repartitionTopic, partitions: n, expected: most },
        });
      }
      this.repartitionPartitions = n;
    }
    const changelogPartitions = (await admin.describeTopic(this.changelogTopic))?.partitions ?? most;
    if (changelogPartitions < most) {
      throw new VigilError(
        'VIGIL_E_PIPELINE_CHECKPOINT',
        `pipeline "${this.definition.name}": changelog ${this.changelogTopic} has ${changelogPartitions} partition(s), the sources up to ${most}; partition p of the changelog holds the state of source partition p. It was probably made by an older Vigil: delete it (and the workers' stateDir) to start the pipeline's state over from the retained sources`,
        { details: { topic: this.changelogTopic, partitions: changelogPartitions, expected: most } },
      );
    }
    this.local = o.stateDir === undefined ? memoryStateDir() : openLmdbStateDir(join(o.stateDir, this.definition.name));
    this.producer = o.bus.producer();
    // Fetches of at most 4 MiB: a response stays in memory until its last message is processed.
    const consumer = o.bus.consumer({ fromBeginning: true, maxFetchBytes: 4 * 1024 * 1024, ...o.consumer, groupId: o.groupId, partitionsConsumedConcurrently: 1 });
    this.consumer = consumer;
    await consumer.subscribe([...this.kinds.keys()]);
    await consumer.run({
      eachBatch: (batch) => this.serial.run(() => this.process(batch)),
      onAssign: (parts) => this.serial.run(() => this.assign(parts)),
      onRevoke: (parts) => this.serial.run(() => this.revoke(parts)),
      onError: (err) => this.fail(err),
    });
    this.lastCommit = performance.now();
  }

  /**
   * Checkpoints now every partition read since its last checkpoint: waits until every
   * result produced so far is durable, then writes state + offset per partition to the
   * changelog, then commits the offsets (the changelog is what a restore trusts; the
   * commit only keeps group tooling honest). Runs between batches, never inside one.
   */
  checkpoint(): Promise<void> {
    return this.serial.run(() => this.checkpointTasks([...this.tasks.values()]));
  }

  /**
   * Leaves the group and closes the worker's clients (not the bus). By default writes a
   * last checkpoint first; `{ checkpoint: false }` leaves as a crash would. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.checkpoint !== false && this.state === 'running');
    return this.stopping;
  }

  /** Next offset to read of each owned source partition that has one. */
  positions(): TopicPartitionOffset[] {
    const out: TopicPartitionOffset[] = [];
    for (const t of this.tasks.values()) if (t.position !== null) out.push({ topic: t.topic, partition: t.partition, offset: t.position });
    return out;
  }

  stats(): PipelineWorkerStats {
    let duplicates = 0;
    for (const t of this.tasks.values()) duplicates += t.duplicates();
    return { state: this.state, partitions: this.tasks.size, duplicates, ...this.counters, stateCacheBytes: Math.max(0, Math.round(this.memory.used)), stateEvictions: this.memory.evictions };
  }

  // --- consumer callbacks (serialised) ------------------------------------------------

  private async assign(parts: readonly TopicPartition[]): Promise<void> {
    const mine = parts.filter((p) => this.kinds.has(p.topic));
    if (mine.length === 0 || this.state !== 'running') return;
    const local = this.local as LocalStateDir;
    const started = performance.now();
    const tasks = mine.map(({ topic, partition }) => {
      const state = new PartitionState(topic, local.kv(`${topic}:${partition}`), this.memory);
      return new PartitionTask(this.definition, topic, partition, this.options.scheduler, state, (_r, reason) => this.dropped('duplicate', reason === 'duplicate' ? 'VIGIL_E_REPLAY' : 'VIGIL_E_SEQ_TOO_OLD'), topic === this.repartitionTopic, this.origins);
    });
    // What to read per changelog partition: from the local commit's tail (a clean restart on
    // the same disk), else from the start; up to the end now. A previous owner wrote its last
    // commit before giving the partition up, so the end includes it.
    const offsets = new Map((await (this.admin as BusAdmin).offsets(this.changelogTopic)).map((p) => [p.partition, p]));
    // Candidates a restore holds in memory before they spill to the local store's scratch
    // space: together a quarter of the state cache budget, since every partition restores at once.
    const heldChars = Math.max(1 << 20, Math.floor(this.memory.limit / 4 / tasks.length));
    const plans = tasks.map((task) => {
      const o = offsets.get(task.partition);
      const start = o === undefined ? 0 : parseOffset(o.start);
      const commit = local.persistent ? task.state.localCommit() : null;
      const useLocal = commit !== null && commit.tailFrom !== null;
      const from = useLocal ? Math.max(start, parseOffset(commit.tailFrom as string)) : start;
      return { task, useLocal, from, end: o?.end ?? '0', builder: task.state.restoreBuilder(useLocal, { heldChars }) };
    });
    const ranges = new Map<number, PartitionRange>();
    for (const p of plans) {
      const r = ranges.get(p.task.partition);
      if (r === undefined || parseOffset(r.from) > p.from) ranges.set(p.task.partition, { partition: p.task.partition, from: String(p.from), to: p.end });
    }
    const byPartition = new Map<number, typeof plans>();
    for (const p of plans) byPartition.set(p.task.partition, [...(byPartition.get(p.task.partition) ?? []), p]);
    const keyring = this.options.keyring;
    await readRanges({
      bus: this.options.bus,
      topic: this.changelogTopic,
      ranges: [...ranges.values()],
      groupPrefix: this.options.groupId,
      stallTimeoutMs: this.options.syncTimeoutMs,
      ...(this.options.consumer === undefined ? {} : { consumer: this.options.consumer }),
      onMessage: (m) => {
        this.counters.restoreRecords++;
        const key = m.key === null ? '' : m.key.toString('utf8');
        const parsed = parseRecordKey(key);
        if (parsed === null) {
          if (key.startsWith('~fence~')) return; // fences of the older, whole-partition changelog reader
          throw new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `changelog ${this.changelogTopic}[${m.partition}]@${m.offset}: key ${JSON.stringify(key.slice(0, 80))} is not a state key of this Vigil (a changelog written by an older version?); delete the changelog to start the state over`, {
            details: { topic: this.changelogTopic, partition: m.partition },
          });
        }
        const off = parseOffset(m.offset);
        for (const p of byPartition.get(m.partition) ?? []) {
          if (parsed.topic !== p.task.topic || off < p.from) continue;
          const where = (): string => (parsed.type === 'meta' ? `commit record of ${parsed.topic}[${m.partition}]` : `store "${parsed.store}" key ${JSON.stringify(parsed.key)} of ${parsed.topic}[${m.partition}]`);
          const opened = m.value === null ? null : openState(m.value, m.headers[RECORD_KEY_ID_HEADER]?.toString('utf8') ?? '', keyring, where);
          p.builder.add({ parsed, opened });
        }
      },
    });
    for (const p of plans) {
      const { task } = p;
      task.restore(p.builder.finish(p.end));
      if (task.position !== null) {
        (this.consumer as BusConsumer).seek({ topic: task.topic, partition: task.partition, offset: task.position });
        this.counters.restored++;
      }
      task.start();
      this.tasks.set(tpKey(task.topic, task.partition), task);
    }
    if (channels.pipelineRestore.hasSubscribers) channels.pipelineRestore.publish({ pipeline: this.definition.name, partitions: plans.length, assigned: plans.map((p) => tpKey(p.task.topic, p.task.partition)), local: plans.filter((p) => p.useLocal).length, spilled: plans.filter((p) => p.task.state.restoreSpills > 0).length, seconds: (performance.now() - started) / 1000 });
  }

  private async revoke(parts: readonly TopicPartition[]): Promise<void> {
    const lost: PartitionTask[] = [];
    for (const { topic, partition } of parts) {
      const t = this.tasks.get(tpKey(topic, partition));
      if (t !== undefined) lost.push(t);
    }
    if (lost.length === 0) return;
    // No last commit here: the bus reports a revocation after the group has already handed
    // the partitions on, so the new owner may be restoring while we would write (a zombie
    // commit mixing into its state). The new owner restores our last commit and re-reads
    // from its offset, re-producing the same results under the same keys.
    for (const t of lost) {
      t.dispose();
      this.tasks.delete(tpKey(t.topic, t.partition));
    }
    if (channels.pipelineRevoke.hasSubscribers) channels.pipelineRevoke.publish({ pipeline: this.definition.name, partitions: lost.map((t) => ({ topic: t.topic, partition: t.partition })) });
  }

  private async process(batch: BusBatch): Promise<void> {
    const task = this.tasks.get(tpKey(batch.topic, batch.partition));
    if (task === undefined || this.state !== 'running') return;
    const started = performance.now();
    const kind = this.kinds.get(batch.topic) as ChainKind;
    // Records before the restored position can arrive when a seek raced a fetch: skip them.
    const from = task.position === null ? -1 : parseOffset(task.position);
    const messages = batch.messages;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as BusMessage;
      if (Number(m.offset) < from) continue;
      this.counters.records++;
      const record = this.open(m, kind);
      if (record !== null) task.push(record);
    }
    task.position = batch.nextOffset;
    task.dirty = true;
    const memory = this.memory;
    let commitNow = false;
    memory.maybeTrim();
    if (memory.pressure) {
      // The cache is full of changed entries: commit them, then they can be evicted.
      this.counters.pressureCommits++;
      commitNow = true;
    }
    const outputs = task.drain();
    const produced = outputs.length > 0 ? this.publish(task, outputs) : 0;
    if (this.repartitionTopic !== undefined && !task.secondStage) this.sendMark(task);
    if (channels.pipelineBatch.hasSubscribers) {
      const e = this.batchEvent;
      e.topic = batch.topic;
      e.partition = batch.partition;
      e.lag = batch.highWatermark === undefined ? null : Math.max(0, Number(batch.highWatermark) - Number(batch.nextOffset));
      e.watermarkMs = task.watermark();
      e.records = messages.length;
      e.outputs = produced;
      e.seconds = (performance.now() - started) / 1000;
      channels.pipelineBatch.publish(e);
    }
    // Backpressure: when a watermark fires a window for every device of a partition at once,
    // results pile up faster than Kafka takes them; the next batch waits for them instead of
    // holding ever more sealed results in memory.
    // (A failed send has already failed the worker: its error is not thrown twice.)
    if (this.outputBacklog > OUTPUT_BACKLOG_BYTES) await (this.producer as BusProducer).flush().catch(() => undefined);
    // Commits run here, inside the consumer's batch loop, never on a timer: the group cannot
    // hand a partition to another member while a batch of it is being processed, so a
    // member never commits state of a partition it has already lost.
    const interval = this.options.checkpointIntervalMs;
    if (commitNow || (interval > 0 && performance.now() - this.lastCommit >= interval)) await this.checkpointTasks([...this.tasks.values()]);
  }

  // --- records in, records out -------------------------------------------------------

  private open(m: BusMessage, kind: ChainKind): SourceRecord | null {
    try {
      if (m.value === null) throw new VigilError('VIGIL_E_RECORD_INVALID', `${m.topic}[${m.partition}]@${m.offset}: empty message (tombstone)`, { details: { field: 'value' } });
      if (kind === 'rejected') return rejectedSourceRecord(m.value, m.headers, this.options.keyring);
      const keyId = m.headers[RECORD_KEY_ID_HEADER];
      if (keyId === undefined) throw new VigilError('VIGIL_E_RECORD_INVALID', `${m.topic}[${m.partition}]@${m.offset}: no ${RECORD_KEY_ID_HEADER} header`, { details: { field: RECORD_KEY_ID_HEADER } });
      const record = this.codec.open(m.value, this.options.keyring.get(keyId.toString('utf8')));
      if (kind === 'repartitioned') {
        if (record.type !== 'derived') throw new VigilError('VIGIL_E_RECORD_INVALID', `${m.topic}[${m.partition}]@${m.offset}: a telemetry record on a repartition topic`, { details: { field: 'type' } });
        return repartitionedSourceRecord(record, this.definition.name);
      }
      if (record.type !== 'telemetry' || record.kind !== kind) {
        throw new VigilError('VIGIL_E_RECORD_INVALID', `${m.topic}[${m.partition}]@${m.offset}: a ${record.type === 'telemetry' ? `${record.kind} record` : 'derived record'} on a ${kind} topic`, { details: { field: 'kind' } });
      }
      return record;
    } catch (err) {
      const e = isVigilError(err) ? err : new VigilError('VIGIL_E_INTERNAL', `opening ${m.topic}[${m.partition}]@${m.offset}: ${String(err)}`, { cause: err });
      this.counters.invalid++;
      this.dropped('input', e.code);
      this.options.onInvalidInput?.(m, e);
      return null;
    }
  }

  /** Seals and sends results; returns how many were sent. The send is awaited at the next checkpoint. */
  private publish(task: PartitionTask, outputs: readonly DerivedOutput[]): number {
    const { ceiling, name } = this.definition;
    const messages: OutgoingMessage[] = [];
    const rekeyed: OutgoingMessage[] = [];
    for (const out of outputs) {
      const label = out.label ?? task.label;
      try {
        if (label === null) throw new VigilError('VIGIL_E_PIPELINE_OUTPUT', `pipeline "${name}": a result without a label before any input`, { details: { pipeline: name, key: String(out.key) } });
        if (ceiling !== undefined && !withinCeiling(label, ceiling)) {
          throw new VigilError('VIGIL_E_PIPELINE_CEILING', `pipeline "${name}": result ${JSON.stringify(out.key)} is labelled ${label.level} [${label.releasability.join(' ')}], above the stream ceiling ${ceiling.level} [${ceiling.releasability.join(' ')}]`, {
            details: { pipeline: name, level: label.level, ceiling: ceiling.level },
          });
        }
        const rk = out.repartitionKey;
        if (rk !== undefined) {
          rekeyed.push(this.rekey(task, { ...out, repartitionKey: rk, values: finiteValues(out.values) }, label));
          continue;
        }
        const record: DerivedRecord = {
          type: 'derived',
          pipeline: name,
          windowStartMs: out.windowStartMs,
          windowEndMs: out.windowEndMs,
          key: out.key,
          values: finiteValues(out.values),
          revision: out.revision ?? 0,
          label,
          provenance: out.provenance ?? [],
        };
        const sealed = this.seal(record, this.derivedKey);
        messages.push({
          // Deterministic: a re-run after a restore writes the same key, and a revision replaces its window's earlier result.
          key: `${out.key}|${out.windowStartMs}|${out.windowEndMs}`,
          value: Buffer.from(sealed.value.buffer, sealed.value.byteOffset, sealed.value.byteLength),
          headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId },
        });
      } catch (err) {
        const e = isVigilError(err) ? err : new VigilError('VIGIL_E_PIPELINE_OUTPUT', `pipeline "${name}": ${String(err)}`, { cause: err });
        this.counters.refused++;
        this.dropped('output', e.code);
        this.options.onRefused?.(out, e);
      }
    }
    if (messages.length > 0) this.send(this.derivedTopic, messages);
    if (rekeyed.length > 0) this.send(this.repartitionTopic as string, rekeyed);
    this.counters.outputs += messages.length;
    return messages.length;
  }

  /**
   * Tells every second-stage chain how far this first-stage chain's event time has come,
   * after the results it sent (same producer, same partitions: in order), when it moved
   * since the last time; see `OriginWatermarks`.
   */
  private sendMark(task: PartitionTask): void {
    const w = task.watermark();
    if (w === null || w <= task.markSent || task.label === null) return;
    task.markSent = w;
    const sealed = this.seal(markRecord(this.definition.name, `${task.topic}:${task.partition}`, w, task.label), this.stateKey);
    const value = Buffer.from(sealed.value.buffer, sealed.value.byteOffset, sealed.value.byteLength);
    const marks: OutgoingMessage[] = [];
    for (let p = 0; p < this.repartitionPartitions; p++) marks.push({ key: `${task.topic}:${task.partition}`, partition: p, value, headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } });
    this.send(this.repartitionTopic as string, marks);
  }

  /** Seals a result, refusing one the codec refuses with `VIGIL_E_PIPELINE_OUTPUT`. */
  private seal(record: DerivedRecord, key: StreamDataKey): ReturnType<RecordCodec['seal']> {
    try {
      return this.codec.seal(record, key);
    } catch (err) {
      throw new VigilError('VIGIL_E_PIPELINE_OUTPUT', `pipeline "${record.pipeline}": result ${JSON.stringify(record.key)} is not a valid derived record: ${(err as Error).message}`, { details: { pipeline: record.pipeline }, cause: err });
    }
  }

  /**
   * A first-stage result for the second stage: numbered with its chain's running count
   * (checkpointed with the offset, so a re-run repeats the numbers and the second stage's
   * dedupe drops the copies), sealed under the state key like the changelog (it is the
   * pipeline's internal data), on the partition of `vigil.repartition.<name>` its key hashes to.
   */
  private rekey(task: PartitionTask, out: DerivedOutput & { readonly repartitionKey: string }, label: NonNullable<PartitionTask['label']>): OutgoingMessage {
    const name = this.definition.name;
    const rk = out.repartitionKey;
    if (this.repartitionTopic === undefined || task.secondStage) {
      throw new VigilError('VIGIL_E_PIPELINE_OUTPUT', `pipeline "${name}": result ${JSON.stringify(out.key)} has a repartitionKey, which only the first stage of a pipeline with a second stage (repartition) may set`, { details: { pipeline: name } });
    }
    if (typeof rk !== 'string' || rk.length === 0 || rk.length > 256) throw new VigilError('VIGIL_E_PIPELINE_OUTPUT', `pipeline "${name}": repartitionKey of result ${JSON.stringify(out.key)} must be 1-256 characters`, { details: { pipeline: name } });
    const sealed = this.seal(repartitionedRecord(name, out, `${task.topic}:${task.partition}`, task.rekeyed, label), this.stateKey);
    task.rekeyed++;
    return {
      key: rk,
      partition: partitionForKey(Buffer.from(rk, 'utf8'), this.repartitionPartitions),
      value: Buffer.from(sealed.value.buffer, sealed.value.byteOffset, sealed.value.byteLength),
      headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId },
    };
  }

  /** Sends without waiting: the producer group-commits across batches; a checkpoint waits for it, and the batch loop waits when too much is unacknowledged (see process()). */
  private send(topic: string, messages: OutgoingMessage[]): void {
    let bytes = 0;
    for (const m of messages) bytes += (m.value as Buffer).length + 64;
    this.outputBacklog += bytes;
    (this.producer as BusProducer)
      .send(topic, messages)
      .catch((err: unknown) => {
        this.sendFailure ??= err;
        this.fail(err);
      })
      .finally(() => {
        this.outputBacklog -= bytes;
      });
  }

  // --- checkpoints -------------------------------------------------------------------

  private async checkpointTasks(tasks: readonly PartitionTask[]): Promise<void> {
    const producer = this.producer;
    if (producer === undefined || this.killed) return;
    const started = performance.now();
    this.lastCommit = started;
    // Results first: a checkpoint must never claim offsets whose results could be lost.
    await producer.flush();
    if (this.sendFailure !== undefined) throw this.sendFailure;
    const stateKey = this.stateKey;
    const headers = { [RECORD_KEY_ID_HEADER]: stateKey.keyId };
    const prepared: Array<[PartitionTask, PreparedCommit]> = [];
    for (const t of tasks) {
      const c = t.prepareCommit();
      if (c !== null) prepared.push([t, c]);
    }
    if (prepared.length === 0) return;
    let records = 0;
    let bytes = 0;
    let largest = 0;
    try {
      // Sealed and sent in requests of at most COMMIT_SEND_BYTES (a Kafka request must stay
      // under the broker's message size limit), at most COMMIT_SENDS_IN_FLIGHT at a time, so
      // a commit of a few hundred thousand entries does not hold them all sealed (and again
      // encoded by the client) at once. The producer writes them in call order, each commit
      // record after its entries; a commit that lands in part is what the slots are for.
      const inFlight: Array<Promise<void>> = [];
      let failure: unknown;
      let chunk: OutgoingMessage[] = [];
      let size = 0;
      const flushChunk = async (): Promise<void> => {
        if (chunk.length === 0) return;
        const sent = producer.send(this.changelogTopic, chunk);
        chunk = [];
        size = 0;
        sent.catch((err: unknown) => {
          failure ??= err;
        });
        inFlight.push(sent);
        if (inFlight.length >= COMMIT_SENDS_IN_FLIGHT) await (inFlight.shift() as Promise<void>).catch(() => undefined);
        if (failure !== undefined) throw failure;
      };
      for (const [t, c] of prepared) {
        for (const r of c.records) {
          const value = r.plain === null ? null : sealState(r.plain, stateKey);
          const recordBytes = Buffer.byteLength(r.key) + (value?.length ?? 0);
          if (recordBytes > MAX_RECORD_BYTES) throw new VigilError('VIGIL_E_INTERNAL', `state record ${JSON.stringify(r.key)} would be ${recordBytes} bytes, above ${MAX_RECORD_BYTES}`);
          bytes += recordBytes;
          records++;
          if (recordBytes > largest) largest = recordBytes;
          if (size + recordBytes > COMMIT_SEND_BYTES) await flushChunk();
          chunk.push({ key: r.key, value, partition: t.partition, headers });
          size += recordBytes + 64;
        }
      }
      await flushChunk();
      await Promise.all(inFlight.map((p) => p.catch(() => undefined)));
      if (failure !== undefined) throw failure;
    } catch (err) {
      this.counters.checkpointFailures++;
      // The commit may have landed in part or whole: which slot holds each entry's committed
      // value is unknown now, so the partitions must be restored from the changelog.
      const e = new VigilError('VIGIL_E_PIPELINE_FAILED', `pipeline "${this.definition.name}": a state commit to ${this.changelogTopic} failed (${(err as Error).message}); the worker stops so that its partitions are restored from the changelog`, {
        retriable: true,
        details: { topic: this.changelogTopic },
        cause: err,
      });
      this.fail(e);
      throw e;
    }
    let ends: Map<number, string> | null = null;
    if ((this.local as LocalStateDir).persistent) {
      // Where a clean restart's tail starts: everything after this commit lies beyond these offsets.
      ends = await (this.admin as BusAdmin)
        .offsets(this.changelogTopic)
        .then((list) => new Map(list.map((p) => [p.partition, p.end])))
        .catch(() => null);
    }
    for (const [t, c] of prepared) {
      c.finish(ends?.get(t.partition) ?? null);
      t.dirty = false;
    }
    this.counters.checkpoints += prepared.length;
    if (channels.pipelineCheckpoint.hasSubscribers) {
      channels.pipelineCheckpoint.publish({ pipeline: this.definition.name, partitions: prepared.length, records, bytes, maxRecordBytes: largest, seconds: (performance.now() - started) / 1000 });
    }
    const owned = prepared.filter(([t]) => this.tasks.get(tpKey(t.topic, t.partition)) === t).map(([t]) => ({ topic: t.topic, partition: t.partition, offset: t.position as string }));
    // Informational (the changelog is the source of truth); a partition that just moved refuses it.
    if (owned.length > 0) await this.consumer?.commit(owned).catch(() => undefined);
  }

  // --- lifecycle ---------------------------------------------------------------------

  private dropped(stage: PipelineDropEvent['stage'], reason: string): void {
    if (!channels.pipelineDrop.hasSubscribers) return;
    const e = this.dropEvent;
    e.stage = stage;
    e.reason = reason;
    channels.pipelineDrop.publish(e);
  }

  private fail(err: unknown): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'failed';
    const cause = err instanceof Error ? err : new Error(String(err));
    const e = new VigilError('VIGIL_E_PIPELINE_FAILED', `pipeline "${this.definition.name}" worker stopped: ${cause.message}`, {
      retriable: isVigilError(cause) ? cause.retriable : false,
      details: { pipeline: this.definition.name, cause: isVigilError(cause) ? cause.code : cause.name },
      cause,
    });
    try {
      this.options.onError?.(e);
    } finally {
      this.stopping ??= this.shutdown(false);
    }
  }

  private async shutdown(checkpoint: boolean): Promise<void> {
    if (this.state === 'running') this.state = 'stopping';
    let error: unknown;
    if (checkpoint) {
      try {
        await this.serial.run(() => this.checkpointTasks([...this.tasks.values()]));
      } catch (err) {
        error = err;
      }
    }
    // From here on a revocation must not checkpoint: with `checkpoint: false` that is the
    // point, otherwise the last checkpoint was just written.
    this.killed = true;
    await this.consumer?.close();
    await this.producer?.close();
    await this.admin?.close().catch(() => undefined);
    for (const t of this.tasks.values()) t.dispose();
    this.tasks.clear();
    await this.local?.close().catch(() => undefined);
    if (this.state !== 'failed') this.state = 'stopped';
    if (error !== undefined) throw error;
  }
}

/** Derived values must be finite: NaN (e.g. the mean of an empty selection) and ±Infinity become null. */
function finiteValues(values: Readonly<Record<string, DerivedValue>>): Readonly<Record<string, DerivedValue>> {
  for (const k in values) {
    const v = values[k];
    if (typeof v === 'number' && !Number.isFinite(v)) {
      const out: Record<string, DerivedValue> = {};
      for (const j in values) {
        const w = values[j] as DerivedValue;
        out[j] = typeof w === 'number' && !Number.isFinite(w) ? null : w;
      }
      return out;
    }
  }
  return values;
}

/**
 * Starts a worker of `definition` on a bus: creates `derived.<name>` and the compacted
 * `vigil.changelog.<name>` when missing, joins the consumer group and resolves once the
 * first assignment is restored. Run several (processes or instances) with the same group
 * to split the source partitions; a rebalance moves each partition's state with it.
 *
 * @example
 * const worker = await startPipeline(powerStats, {
 *   bus: new KafkaBus({ brokers: ['127.0.0.1:9092'] }),
 *   keyring: new StreamKeyring([await readStreamKeyFile('telemetry.key.json')]),
 *   derivedKey: await readStreamKeyFile('derived-power.key.json'),
 *   onError: (err) => log.error(err),
 * });
 * // … on SIGTERM:
 * await worker.stop();
 * @throws VigilError `VIGIL_E_PIPELINE_OPTIONS`, `VIGIL_E_BUS_TOPIC_UNKNOWN` (a source topic is missing), bus errors
 */
export async function startPipeline<K extends SourceKind>(definition: PipelineDefinition<K>, options: PipelineWorkerOptions): Promise<PipelineWorker> {
  if (typeof definition !== 'object' || definition === null || typeof definition.build !== 'function' || !Array.isArray(definition.kinds)) {
    throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', 'startPipeline needs a definition made by definePipeline()');
  }
  // The worker only hands build() what the definition's sources carry; K matters to the author, not to it.
  const worker = new PipelineWorker(definition as unknown as PipelineDefinition, resolveWorkerOptions(definition.name, options));
  try {
    await worker.start();
  } catch (err) {
    await worker.stop({ checkpoint: false }).catch(() => undefined);
    throw err;
  }
  return worker;
}
