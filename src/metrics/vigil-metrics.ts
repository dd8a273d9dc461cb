import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ERROR_CODES } from '../errors';
import { channels, type ConnectionEvent, type DurabilityEvent, type FrameAdmissionEvent, type GaugeSample, type PipelineBatchEvent, type PipelineCheckpointEvent, type PipelineDropEvent, type PipelineFailureEvent, type PipelineRevokeEvent, type ReleaseEvent, type SpoolDropSample } from '../instrument';

export interface MetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event-loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
  /** Constant labels on every series, e.g. `{ gateway: 'gw-1' }`. */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Series that exist at zero from the start, so that `rate()`/`increase()` and alerts see
   * the first event: a gateway's frame and spool-loss counters, and per pipeline named here
   * its record, output, checkpoint and restart counters.
   */
  readonly gateway?: boolean;
  readonly pipelines?: readonly string[];
}

const PRIORITIES = ['flash', 'immediate', 'routine'] as const;
const SPOOL_LOSSES = ['shed', 'expired', 'corrupt'] as const;

/** A Prometheus registry fed by Vigil's diagnostics channels. */
export interface VigilMetrics {
  readonly registry: Registry;
  /** Unsubscribes from the channels (the registry keeps its last values). */
  close(): void;
}

const GAUGE_NAME = /^[a-z][a-z0-9_]*$/;

/** Seconds, 1 ms to 10 s: a batch made durable (Kafka acknowledgement or spool fsync; an outage shows in the top buckets). */
const DURABLE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds, 0.5 ms to 1 s: steps that are short when all is well (a replay fsync, one pipeline batch). */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/**
 * Subscribes prom-client metrics to the instrumentation channels (`src/instrument`). Names
 * follow the Prometheus guide: `vigil_<component>_<what>_<unit>`, `_total` on counters.
 * Label children are cached so a frame costs a Map lookup, not a label-set hash.
 *
 * @example
 * const metrics = createMetrics({ labels: { gateway: 'gw-1' } });
 * res.end(await metrics.registry.metrics());
 */
export function createMetrics(options: MetricsOptions = {}): VigilMetrics {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels({ ...options.labels });
  if (options.processMetrics !== false) {
    // Conventional names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, …), so
    // stock Node.js dashboards and alerts work unchanged.
    collectDefaultMetrics({ register: registry });
    // prom-client names a few gauges `*_total` (active handles, requests, resources), which
    // the Prometheus naming rules and `promtool check metrics` refuse; drop them.
    for (const m of registry.getMetricsAsArray()) {
      if (m.name.endsWith('_total') && !(m instanceof Counter)) registry.removeSingleMetric(m.name);
    }
  }

  // Per-frame counts are plain numbers, added to the counters when they are collected (a
  // scrape): three prom-client increments per frame were ~3% of the gateway's CPU.
  const frameCounts = new Map<string, { readonly child: Counter.Internal; n: number }>();
  const tally = { readings: 0, bytes: 0 };
  const frames = new Counter({
    name: 'vigil_gateway_frames_total',
    help: 'Frames that finished admission, by result and rejection reason (VIGIL_E_ code, "none" when accepted).',
    labelNames: ['result', 'reason'] as const,
    registers: [registry],
    collect() {
      for (const c of frameCounts.values()) {
        if (c.n > 0) c.child.inc(c.n);
        c.n = 0;
      }
    },
  });
  new Counter({
    name: 'vigil_gateway_readings_total',
    help: 'Readings in admitted frames.',
    registers: [registry],
    collect() {
      this.inc(tally.readings);
      tally.readings = 0;
    },
  });
  new Counter({
    name: 'vigil_gateway_frame_bytes_total',
    help: 'Bytes of frames that finished admission, accepted or not.',
    registers: [registry],
    collect() {
      this.inc(tally.bytes);
      tally.bytes = 0;
    },
  });
  const durable = new Histogram({
    name: 'vigil_gateway_durable_seconds',
    help: 'Time from receiving a batch of frames to it being durable (Kafka acked or spool fsynced).',
    labelNames: ['sink'] as const,
    buckets: DURABLE_BUCKETS,
    registers: [registry],
  });
  const durableWrite = new Histogram({
    name: 'vigil_gateway_write_seconds',
    help: 'The durable write of a batch alone: Kafka send to acknowledgement, or spool append to fsync (vigil_gateway_durable_seconds minus the wait for the lane).',
    labelNames: ['sink'] as const,
    buckets: DURABLE_BUCKETS,
    registers: [registry],
  });
  const replayFlush = new Histogram({
    name: 'vigil_gateway_replay_flush_seconds',
    help: 'Making the replay entries of a durable batch durable (an fsync with the file store), the last step before its PUBACKs.',
    buckets: FAST_BUCKETS,
    registers: [registry],
  });
  const durableFrames = new Counter({ name: 'vigil_gateway_durable_frames_total', help: 'Frames made durable, by sink.', labelNames: ['sink'] as const, registers: [registry] });
  const spoolDropped = new Counter({
    name: 'vigil_spool_dropped_frames_total',
    help: 'Frames that left the spool without reaching Kafka: shed when full, expired, or unreadable (corrupt).',
    labelNames: ['reason', 'priority'] as const,
    registers: [registry],
  });
  const up = new Gauge({ name: 'vigil_connection_up', help: '1 when the connection to the peer is up.', labelNames: ['peer'] as const, registers: [registry] });
  const gauges = new Map<string, Gauge>();
  const pipeRecords = new Counter({ name: 'vigil_pipeline_records_total', help: 'Sealed records a pipeline worker read (duplicates and unreadable ones included).', labelNames: ['pipeline'] as const, registers: [registry] });
  const pipeOutputs = new Counter({ name: 'vigil_pipeline_outputs_total', help: 'Derived records a pipeline worker handed to the producer.', labelNames: ['pipeline'] as const, registers: [registry] });
  const pipeBatch = new Histogram({
    name: 'vigil_pipeline_batch_seconds',
    help: 'Time a pipeline worker took to process one batch of one source partition.',
    labelNames: ['pipeline'] as const,
    buckets: FAST_BUCKETS,
    registers: [registry],
  });
  const pipeLag = new Gauge({
    name: 'vigil_pipeline_consumer_lag_records',
    help: 'Records of a source partition a pipeline worker has not read yet (end offset − position), after its last batch of it.',
    labelNames: ['pipeline', 'topic', 'partition'] as const,
    registers: [registry],
  });
  const pipeWatermark = new Gauge({
    name: 'vigil_pipeline_watermark_timestamp_seconds',
    help: 'Event-time watermark of a source partition (Unix time): watermark lag = time() - this.',
    labelNames: ['pipeline', 'topic', 'partition'] as const,
    registers: [registry],
  });
  const pipeCheckpoints = new Counter({ name: 'vigil_pipeline_checkpoints_total', help: 'Checkpoints (state and offsets) a pipeline worker wrote to its changelog.', labelNames: ['pipeline'] as const, registers: [registry] });
  const pipeCheckpointBytes = new Gauge({ name: 'vigil_pipeline_checkpoint_bytes', help: 'Size of the last checkpoint a pipeline worker wrote.', labelNames: ['pipeline'] as const, registers: [registry] });
  const pipeCheckpointTime = new Gauge({
    name: 'vigil_pipeline_last_checkpoint_timestamp_seconds',
    help: 'When a pipeline worker last wrote a checkpoint (Unix time); checkpoint age = time() - this.',
    labelNames: ['pipeline'] as const,
    registers: [registry],
  });
  const pipeDropped = new Counter({
    name: 'vigil_pipeline_dropped_total',
    help: 'What a pipeline worker dropped instead of using: unreadable inputs, duplicates, refused outputs; by stage and VIGIL_E_ reason.',
    labelNames: ['pipeline', 'stage', 'reason'] as const,
    registers: [registry],
  });

  const pipeFailures = new Counter({
    name: 'vigil_pipeline_failures_total',
    help: 'Times a pipeline stopped on an error, by VIGIL_E_ reason and what the worker did: restart (retriable, started again from its last checkpoint) or stopped (for good).',
    labelNames: ['pipeline', 'reason', 'action'] as const,
    registers: [registry],
  });

  const onFrame = (e: FrameAdmissionEvent): void => {
    const key = e.reason === null ? e.result : `${e.result}|${e.reason}`;
    let c = frameCounts.get(key);
    if (!c) frameCounts.set(key, (c = { child: frames.labels(e.result, e.reason ?? 'none'), n: 0 }));
    c.n++;
    tally.bytes += e.bytes;
    if (e.result === 'accepted') tally.readings += e.readings;
  };
  const onDurable = (e: DurabilityEvent): void => {
    durable.labels(e.sink).observe(e.seconds);
    durableWrite.labels(e.sink).observe(e.writeSeconds);
    durableFrames.labels(e.sink).inc(e.frames);
  };
  const onRelease = (e: ReleaseEvent): void => replayFlush.observe(e.replayFlushSeconds);
  const onDrop = (e: SpoolDropSample): void => spoolDropped.labels(e.reason, e.priority).inc();
  const onConnection = (e: ConnectionEvent): void => up.labels(e.peer).set(e.connected ? 1 : 0);
  const onGauges = (s: GaugeSample): void => {
    for (const [k, v] of Object.entries(s.values)) {
      const name = `vigil_${s.component}_${k}`;
      if (!GAUGE_NAME.test(name)) continue;
      let g = gauges.get(name);
      if (!g) gauges.set(name, (g = new Gauge({ name, help: `Sampled ${k.replace(/_/g, ' ')} of the ${s.component}.`, registers: [registry] })));
      g.set(v);
    }
  };

  const onPipeBatch = (e: PipelineBatchEvent): void => {
    pipeRecords.labels(e.pipeline).inc(e.records);
    pipeOutputs.labels(e.pipeline).inc(e.outputs);
    pipeBatch.labels(e.pipeline).observe(e.seconds);
    const p = String(e.partition);
    if (e.lag !== null) pipeLag.labels(e.pipeline, e.topic, p).set(e.lag);
    if (e.watermarkMs !== null) pipeWatermark.labels(e.pipeline, e.topic, p).set(e.watermarkMs / 1000);
  };
  const onPipeRevoke = (e: PipelineRevokeEvent): void => {
    for (const { topic, partition } of e.partitions) {
      pipeLag.remove(e.pipeline, topic, String(partition));
      pipeWatermark.remove(e.pipeline, topic, String(partition));
    }
  };
  const onPipeCheckpoint = (e: PipelineCheckpointEvent): void => {
    pipeCheckpoints.labels(e.pipeline).inc();
    pipeCheckpointBytes.labels(e.pipeline).set(e.bytes);
    pipeCheckpointTime.labels(e.pipeline).set(Date.now() / 1000);
  };
  const onPipeDrop = (e: PipelineDropEvent): void => pipeDropped.labels(e.pipeline, e.stage, e.reason).inc();
  const onPipeFailure = (e: PipelineFailureEvent): void => pipeFailures.labels(e.pipeline, e.reason, e.action).inc();

  if (options.gateway === true) {
    frames.labels('accepted', 'none').inc(0);
    for (const reason of SPOOL_LOSSES) for (const priority of PRIORITIES) spoolDropped.labels(reason, priority).inc(0);
  }
  for (const p of options.pipelines ?? []) {
    pipeRecords.labels(p).inc(0);
    pipeOutputs.labels(p).inc(0);
    pipeCheckpoints.labels(p).inc(0);
    // "Since start" until the first commit: a worker whose commits all fail still ages.
    pipeCheckpointTime.labels(p).set(Date.now() / 1000);
    // A retriable failure restarts the worker: every such reason exists at zero.
    for (const [code, info] of Object.entries(ERROR_CODES)) if (info.retriable) pipeFailures.labels(p, code, 'restart').inc(0);
  }

  channels.frameAdmission.subscribe(onFrame);
  channels.pipelineBatch.subscribe(onPipeBatch);
  channels.pipelineRevoke.subscribe(onPipeRevoke);
  channels.pipelineCheckpoint.subscribe(onPipeCheckpoint);
  channels.pipelineDrop.subscribe(onPipeDrop);
  channels.pipelineFailure.subscribe(onPipeFailure);
  channels.durability.subscribe(onDurable);
  channels.release.subscribe(onRelease);
  channels.spoolShed.subscribe(onDrop);
  channels.spoolExpired.subscribe(onDrop);
  channels.spoolCorrupt.subscribe(onDrop);
  channels.connection.subscribe(onConnection);
  channels.gauges.subscribe(onGauges);
  return {
    registry,
    close() {
      channels.frameAdmission.unsubscribe(onFrame);
      channels.pipelineBatch.unsubscribe(onPipeBatch);
      channels.pipelineRevoke.unsubscribe(onPipeRevoke);
      channels.pipelineCheckpoint.unsubscribe(onPipeCheckpoint);
      channels.pipelineDrop.unsubscribe(onPipeDrop);
      channels.pipelineFailure.unsubscribe(onPipeFailure);
      channels.durability.unsubscribe(onDurable);
      channels.release.unsubscribe(onRelease);
      channels.spoolShed.unsubscribe(onDrop);
      channels.spoolExpired.unsubscribe(onDrop);
      channels.spoolCorrupt.unsubscribe(onDrop);
      channels.connection.unsubscribe(onConnection);
      channels.gauges.unsubscribe(onGauges);
    },
  };
}
