import { channel, type Channel } from 'node:diagnostics_channel';

/**
 * Instrumentation events, published by domain code on `node:diagnostics_channel` and turned
 * into Prometheus metrics by `src/metrics` (domain code never imports prom-client). This
 * file is the one list of channels and payloads both sides agree on.
 *
 * Hot-path rule: publishers check `hasSubscribers` first and may reuse one mutable payload
 * object per call site; subscribers must read the payload synchronously and not keep it.
 */
export interface TypedChannel<T> {
  readonly name: string;
  readonly hasSubscribers: boolean;
  publish(message: T): void;
  subscribe(listener: (message: T) => void): void;
  unsubscribe(listener: (message: T) => void): void;
}

function typed<T>(name: string): TypedChannel<T> {
  const ch: Channel = channel(name);
  return {
    name,
    get hasSubscribers() {
      return ch.hasSubscribers;
    },
    publish: (m: T) => ch.publish(m),
    subscribe: (l: (m: T) => void) => ch.subscribe(l as (m: unknown) => void),
    unsubscribe: (l: (m: T) => void) => {
      ch.unsubscribe(l as (m: unknown) => void);
    },
  };
}

/** A frame finished admission at a gateway. `reason` is the VIGIL_E_ code of a rejection. */
export interface FrameAdmissionEvent {
  result: 'accepted' | 'rejected';
  reason: string | null;
  readings: number;
  bytes: number;
}

/** A batch reached durability: Kafka acked it, or the spool fsynced it. */
export interface DurabilityEvent {
  /** `kafka`, or `memory` for the in-process bus (`vigil demo`), or the gateway's disk `spool`. */
  sink: 'kafka' | 'memory' | 'spool';
  frames: number;
  /** From the batch's first frame to durability: waiting for the lane plus the write. */
  seconds: number;
  /** The write alone: Kafka send to acknowledgement, or spool append to fsync. */
  writeSeconds: number;
}

/**
 * The admitted frames of a batch that reached durability, for per-frame latency (the e2e
 * bench's publish → acknowledged by Kafka): their event times (device clock, ms) and the
 * gateway time it happened. Published per batch, only when subscribed; the arrays are the
 * gateway's own and valid only during the call.
 */
export interface FramesDurableEvent {
  sink: 'kafka' | 'memory' | 'spool';
  atMs: number;
  /** Event times of the batch's admitted frames, [0, count). */
  eventTimesMs: readonly number[];
  count: number;
}

/** Durable frames were acknowledged: their replay entries made durable first (`replayFlushSeconds`), then their PUBACKs released. */
export interface ReleaseEvent {
  frames: number;
  replayFlushSeconds: number;
}

/** A frame left the spool without reaching Kafka: shed when full, expired, or unreadable. */
export interface SpoolDropSample {
  readonly reason: 'shed' | 'expired' | 'corrupt';
  readonly deviceId: string;
  readonly priority: 'flash' | 'immediate' | 'routine';
  readonly bytes: number;
  readonly enqueuedAt: number;
  readonly at: number;
}

/** A periodic sample of a component's gauges. */
export interface GaugeSample {
  component: string;
  values: Readonly<Record<string, number>>;
}

/** A connection went up or down. */
export interface ConnectionEvent {
  peer: 'kafka' | 'mqtt';
  connected: boolean;
}

/** A pipeline worker processed one batch of one source partition. */
export interface PipelineBatchEvent {
  pipeline: string;
  /** The source partition of the batch. */
  topic: string;
  partition: number;
  /** Records of the partition not yet read after this batch (end offset − next offset); null when the bus does not say. */
  lag: number | null;
  /** The partition's event-time watermark after the batch, ms since the epoch; null before the first. */
  watermarkMs: number | null;
  /** Sealed records read (duplicates and unreadable ones included). */
  records: number;
  /** Derived records handed to the producer. */
  outputs: number;
  seconds: number;
}

/** A pipeline worker wrote a checkpoint (state and offsets of its partitions) to its changelog. */
export interface PipelineCheckpointEvent {
  pipeline: string;
  /** Source partitions committed. */
  partitions: number;
  /** Changelog records written (changed entries, tombstones and one commit record per partition). */
  records: number;
  /** Bytes of those records (keys and sealed values). */
  bytes: number;
  /** The largest record (key + value), bytes; the runtime keeps it at most 256 KiB. */
  maxRecordBytes: number;
  seconds: number;
}

/** A pipeline worker restored the state of newly assigned partitions. */
export interface PipelineRestoreEvent {
  pipeline: string;
  partitions: number;
  /** The partitions, as `<topic>:<partition>`. */
  assigned: readonly string[];
  /** Of them, restored from the local store plus the changelog's tail (a clean restart on the same disk). */
  local: number;
  /** Of them, restored through the scratch space: more state in the changelog than the restore may hold in memory. */
  spilled: number;
  seconds: number;
}

/** A pipeline worker gave source partitions up (rebalance or stop): their per-partition gauges go. */
export interface PipelineRevokeEvent {
  pipeline: string;
  partitions: ReadonlyArray<{ readonly topic: string; readonly partition: number }>;
}

/** A pipeline worker dropped something instead of using it; `reason` is a VIGIL_E_ code. */
export interface PipelineDropEvent {
  pipeline: string;
  /** `input`: a source record that cannot be opened or is of the wrong kind; `duplicate`; `output`: a refused derived result. */
  stage: 'input' | 'duplicate' | 'output';
  reason: string;
}

export interface PipelineFailureEvent {
  pipeline: string;
  /** The `VIGIL_E_` code of what stopped it (the cause of `VIGIL_E_PIPELINE_FAILED`). */
  reason: string;
  /** `restart`: retriable, the worker starts it again; `stopped`: it stays stopped. */
  action: 'restart' | 'stopped';
}

export const channels = {
  frameAdmission: typed<FrameAdmissionEvent>('vigil:edge:frame'),
  durability: typed<DurabilityEvent>('vigil:edge:durable'),
  framesDurable: typed<FramesDurableEvent>('vigil:edge:frames-durable'),
  release: typed<ReleaseEvent>('vigil:edge:release'),
  spoolShed: typed<SpoolDropSample>('vigil:spool:shed'),
  spoolExpired: typed<SpoolDropSample>('vigil:spool:expired'),
  spoolCorrupt: typed<SpoolDropSample>('vigil:spool:corrupt'),
  /** A disk spool finished recovery; the payload is its recovery report plus `dir`. */
  spoolRecovered: typed<Readonly<Record<string, unknown>>>('vigil:spool:recovered'),
  gauges: typed<GaugeSample>('vigil:gauges'),
  connection: typed<ConnectionEvent>('vigil:connection'),
  pipelineBatch: typed<PipelineBatchEvent>('vigil:pipeline:batch'),
  pipelineCheckpoint: typed<PipelineCheckpointEvent>('vigil:pipeline:checkpoint'),
  pipelineRestore: typed<PipelineRestoreEvent>('vigil:pipeline:restore'),
  pipelineRevoke: typed<PipelineRevokeEvent>('vigil:pipeline:revoke'),
  pipelineDrop: typed<PipelineDropEvent>('vigil:pipeline:drop'),
  pipelineFailure: typed<PipelineFailureEvent>('vigil:pipeline:failure'),
} as const;
