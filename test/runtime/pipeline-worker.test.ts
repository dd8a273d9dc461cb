import { MemoryBus } from '../../src/bus';
import { makeLabel } from '../../src/codec';
import { isVigilError, type VigilError } from '../../src/errors';
import { channels, type PipelineBatchEvent, type PipelineDropEvent } from '../../src/instrument';
import { startPipeline, type DerivedOutput, type PipelineDefinition, type PipelineWorker, type PipelineWorkerOptions } from '../../src/runtime';
import {
  CONFIDENTIAL_WIDE,
  SECRET_FVEY,
  SECRET_GBR,
  WINDOW_MS,
  derivedView,
  deviceId,
  endOffsetsOf,
  finalResults,
  makeKeys,
  makeTelemetry,
  powerPipeline,
  produceTelemetry,
  readAll,
  waitForPositions,
  type Keys,
} from './helpers';

const SOURCE = 'telemetry.power';
const DERIVED = 'derived.power-10s';
const PARTITIONS = 4;
const DEVICES = 8;
const FRAMES = 80;

/** A memory bus with the source topic, and everything made on it closed after the test. */
async function setup(): Promise<{ bus: MemoryBus; workers: PipelineWorker[] }> {
  const bus = new MemoryBus();
  await bus.admin().ensureTopics([{ topic: SOURCE, partitions: PARTITIONS }]);
  return { bus, workers: [] };
}

const buses: MemoryBus[] = [];
const running: PipelineWorker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop({ checkpoint: false })));
  await Promise.all(buses.splice(0).map((b) => b.close()));
});

async function start(bus: MemoryBus, keys: Keys, definition: PipelineDefinition<'power'> = powerPipeline(), extra: Partial<PipelineWorkerOptions> = {}): Promise<PipelineWorker> {
  const w = await startPipeline(definition, { bus, keyring: keys.workerKeyring(), derivedKey: keys.derived, checkpointIntervalMs: 0, ...extra });
  running.push(w);
  return w;
}

async function newBus(): Promise<MemoryBus> {
  const { bus } = await setup();
  buses.push(bus);
  return bus;
}

function derivedEnds(bus: MemoryBus, topic = DERIVED): number[] {
  return (bus.broker.topic(topic)?.logs ?? []).map((l) => l.endOffset);
}

async function derivedOf(bus: MemoryBus, keys: Keys, topic = DERIVED): Promise<ReturnType<typeof derivedView>> {
  return derivedView(await readAll(bus, topic, derivedEnds(bus, topic)), keys.analystKeyring);
}

/** Final results of one uninterrupted worker over `records`: the reference. */
async function referenceRun(keys: Keys, records = makeTelemetry(DEVICES, FRAMES)): Promise<Record<string, unknown>> {
  const bus = await newBus();
  const w = await start(bus, keys);
  await produceTelemetry(bus, SOURCE, records, keys.telemetry, PARTITIONS);
  await waitForPositions([w], SOURCE, endOffsetsOf(records, PARTITIONS));
  await w.checkpoint();
  const view = await derivedOf(bus, keys);
  expect(view.conflicts).toEqual([]);
  return finalResults(view);
}

describe('pipeline runtime on the memory bus', () => {
  it('reports, per batch, its source partition, the records left to read and the event-time watermark (for the lag metrics)', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    const events: PipelineBatchEvent[] = [];
    const listen = (e: PipelineBatchEvent): void => void events.push({ ...e });
    channels.pipelineBatch.subscribe(listen);
    try {
      const records = makeTelemetry(DEVICES, FRAMES);
      await produceTelemetry(bus, SOURCE, records, keys.telemetry, PARTITIONS);
      const w = await start(bus, keys, powerPipeline(), { consumer: { maxBatchMessages: 16 } });
      await waitForPositions([w], SOURCE, endOffsetsOf(records, PARTITIONS));
      const mine = events.filter((e) => e.pipeline === 'power-10s');
      expect(new Set(mine.map((e) => `${e.topic}:${e.partition}`))).toEqual(new Set(Array.from({ length: PARTITIONS }, (_, p) => `${SOURCE}:${p}`)));
      expect(Math.max(...mine.map((e) => e.lag as number))).toBeGreaterThan(0);
      for (let p = 0; p < PARTITIONS; p++) {
        const ofP = mine.filter((e) => e.partition === p);
        // Lag only falls as the worker reads, and is 0 once it has read everything produced.
        expect(ofP.map((e) => e.lag)).toEqual([...ofP.map((e) => e.lag as number)].sort((a, b) => b - a));
        expect(ofP[ofP.length - 1]?.lag).toBe(0);
        const wm = ofP[ofP.length - 1]?.watermarkMs as number;
        expect(wm).toBeGreaterThan(Math.min(...records.map((r) => r.eventTimeMs)));
        expect(wm).toBeLessThanOrEqual(Math.max(...records.map((r) => r.eventTimeMs)));
      }
    } finally {
      channels.pipelineBatch.unsubscribe(listen);
    }
  });

  it('publishes sealed per-device 10 s count/mean results with combined labels and deterministic keys', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    const w = await start(bus, keys);
    const records = makeTelemetry(DEVICES, FRAMES);
    await produceTelemetry(bus, SOURCE, records, keys.telemetry, PARTITIONS);
    await waitForPositions([w], SOURCE, endOffsetsOf(records, PARTITIONS));
    await w.checkpoint();

    const messages = await readAll(bus, DERIVED, derivedEnds(bus));
    // Sealed: the derived stream opens only with its own key, and holds no plaintext.
    expect(messages.length).toBeGreaterThan(0);
    for (const m of messages.slice(0, 5)) expect((m.value as Buffer).includes(Buffer.from('ugv-'))).toBe(false);
    expect(() => derivedView(messages, keys.workerKeyring())).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_UNKNOWN' }));
    const view = derivedView(messages, keys.analystKeyring);
    expect(view.conflicts).toEqual([]);

    // Expected from first principles: every reading of a device falls in [k·10 s, (k+1)·10 s).
    const expected = new Map<string, { n: number; sum: number; firstSeq: bigint; lastSeq: bigint; labels: Set<string> }>();
    for (const r of records) {
      for (const reading of r.readings) {
        if (reading.kind !== 'power') continue;
        const t = r.eventTimeMs + reading.offsetMs;
        const start = Math.floor(t / WINDOW_MS) * WINDOW_MS;
        const k = `${r.deviceId}|${start}|${start + WINDOW_MS}`;
        const e = expected.get(k) ?? { n: 0, sum: 0, firstSeq: r.seq, lastSeq: r.seq, labels: new Set<string>() };
        e.n++;
        e.sum += reading.batteryPct ?? 0;
        if (r.seq < e.firstSeq) e.firstSeq = r.seq;
        if (r.seq > e.lastSeq) e.lastSeq = r.seq;
        e.labels.add(`${r.label.level}/${r.label.releasability.join(',')}`);
        expected.set(k, e);
      }
    }
    // Windows close when the watermark (newest time − 5 s) passes their end: all but the last one or two per device.
    expect(view.latest.size).toBeGreaterThanOrEqual(DEVICES * (FRAMES / 10 - 2));
    let combined = 0;
    for (const [k, rec] of view.latest) {
      const e = expected.get(k);
      expect(e).toBeDefined();
      const [dev, start, end] = k.split('|');
      expect(rec).toMatchObject({ type: 'derived', pipeline: 'power-10s', key: dev, windowStartMs: Number(start), windowEndMs: Number(end), revision: 0 });
      expect(rec.values.n).toBe(e?.n);
      expect(rec.values.batteryPct).toBeCloseTo((e?.sum ?? 0) / (e?.n ?? 1), 9);
      const d = Number((dev as string).slice(4));
      // Device 1 mixes CONFIDENTIAL//FRA,GBR,USA with SECRET//GBR: the result is SECRET//GBR.
      const label = d === 1 && (e?.labels.size ?? 0) > 1 ? SECRET_GBR : d % 2 === 1 ? CONFIDENTIAL_WIDE : SECRET_FVEY;
      if (d === 1 && (e?.labels.size ?? 0) > 1) combined++;
      expect(rec.label).toEqual(label);
      // Frames are consecutive per window, so one range per device.
      expect(rec.provenance).toEqual([{ deviceId: dev, firstSeq: e?.firstSeq, lastSeq: e?.lastSeq }]);
    }
    expect(combined).toBeGreaterThan(0);
    expect(w.stats()).toMatchObject({ state: 'running', partitions: PARTITIONS, records: records.length, invalid: 0, duplicates: 0, refused: 0 });
    expect(w.stats().outputs).toBe(view.messages);
  });

  it('counts a redelivered frame (same device and sequence) once', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(DEVICES, FRAMES);
    const reference = await referenceRun(keys, records);

    const bus = await newBus();
    const w = await start(bus, keys);
    // At-least-once upstream: every tenth frame arrives twice, some a third time, later.
    const withDuplicates = records.flatMap((r, i) => (i % 10 === 0 ? [r, r] : [r]));
    const redelivered = withDuplicates.concat(records.filter((_, i) => i % 37 === 0 && i < records.length / 2));
    await produceTelemetry(bus, SOURCE, redelivered, keys.telemetry, PARTITIONS);
    await waitForPositions([w], SOURCE, endOffsetsOf(redelivered, PARTITIONS));
    await w.checkpoint();
    const view = await derivedOf(bus, keys);
    expect(view.conflicts).toEqual([]);
    expect(finalResults(view)).toEqual(reference);
    expect(w.stats().duplicates).toBe(redelivered.length - records.length);
  });

  it('a worker killed between checkpoints and restarted from the changelog ends with the same results', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(DEVICES, FRAMES);
    const reference = await referenceRun(keys, records);

    const bus = await newBus();
    const first = await start(bus, keys);
    const a = records.slice(0, records.length / 2);
    const b = records.slice(records.length / 2, (records.length * 3) / 4);
    const c = records.slice((records.length * 3) / 4);
    await produceTelemetry(bus, SOURCE, a, keys.telemetry, PARTITIONS);
    await waitForPositions([first], SOURCE, endOffsetsOf(a, PARTITIONS));
    await first.checkpoint();
    expect(first.stats().checkpoints).toBe(PARTITIONS);
    // Read and published past the checkpoint, mid-window, then killed: no last checkpoint.
    await produceTelemetry(bus, SOURCE, b, keys.telemetry, PARTITIONS);
    await waitForPositions([first], SOURCE, endOffsetsOf([...a, ...b], PARTITIONS));
    const publishedBeforeKill = first.stats().outputs;
    await first.stop({ checkpoint: false });
    expect(first.stats().state).toBe('stopped');

    const second = await start(bus, keys);
    expect(second.stats().restored).toBe(PARTITIONS);
    await produceTelemetry(bus, SOURCE, c, keys.telemetry, PARTITIONS);
    await waitForPositions([second], SOURCE, endOffsetsOf(records, PARTITIONS));
    await second.checkpoint();
    // The second worker re-read b (from the checkpoint) and re-published its results.
    expect(second.stats().records).toBe(b.length + c.length);

    const view = await derivedOf(bus, keys);
    // Results published after the checkpoint were published again, under the same keys with the same values.
    expect(publishedBeforeKill).toBeGreaterThan(0);
    expect(view.messages).toBeGreaterThan(view.distinct);
    expect(view.conflicts).toEqual([]);
    expect(finalResults(view)).toEqual(reference);
  });

  it('two workers in one group split the partitions and together produce what one worker does', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(DEVICES, FRAMES);
    const reference = await referenceRun(keys, records);

    const bus = await newBus();
    const w1 = await start(bus, keys);
    const w2 = await start(bus, keys);
    await produceTelemetry(bus, SOURCE, records, keys.telemetry, PARTITIONS);
    await waitForPositions([w1, w2], SOURCE, endOffsetsOf(records, PARTITIONS));
    expect(w1.stats().partitions).toBe(PARTITIONS / 2);
    expect(w2.stats().partitions).toBe(PARTITIONS / 2);
    expect(w1.stats().records + w2.stats().records).toBe(records.length);
    await Promise.all([w1.checkpoint(), w2.checkpoint()]);
    const view = await derivedOf(bus, keys);
    expect(view.conflicts).toEqual([]);
    expect(finalResults(view)).toEqual(reference);
  });

  it('a second worker joining mid-stream takes partitions with their state, and results stay the same', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(DEVICES, FRAMES);
    const reference = await referenceRun(keys, records);

    const bus = await newBus();
    const w1 = await start(bus, keys);
    const a = records.slice(0, records.length / 2);
    const b = records.slice(records.length / 2, (records.length * 3) / 4);
    await produceTelemetry(bus, SOURCE, a, keys.telemetry, PARTITIONS);
    await waitForPositions([w1], SOURCE, endOffsetsOf(a, PARTITIONS));
    await w1.checkpoint();
    // Join without waiting for w1 to read b: the rebalance lands mid-stream, mid-window.
    await produceTelemetry(bus, SOURCE, b, keys.telemetry, PARTITIONS);
    const w2 = await start(bus, keys);
    expect(w1.stats().partitions).toBe(PARTITIONS / 2);
    expect(w2.stats().partitions).toBe(PARTITIONS / 2);
    await produceTelemetry(bus, SOURCE, records.slice((records.length * 3) / 4), keys.telemetry, PARTITIONS);
    await waitForPositions([w1, w2], SOURCE, endOffsetsOf(records, PARTITIONS));
    // w2 restored w1's last commit of what moved (a revocation commits nothing) and re-read from its offset.
    expect(w2.stats().restored).toBe(PARTITIONS / 2);
    await Promise.all([w1.checkpoint(), w2.checkpoint()]);
    const view = await derivedOf(bus, keys);
    expect(view.conflicts).toEqual([]);
    expect(finalResults(view)).toEqual(reference);
  });

  it('refuses and counts results above the stream ceiling, and never publishes them', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    const refused: Array<{ output: DerivedOutput; error: VigilError }> = [];
    const drops: PipelineDropEvent[] = [];
    const listener = (e: PipelineDropEvent): void => void drops.push({ ...e });
    channels.pipelineDrop.subscribe(listener);
    try {
      // Ceiling SECRET releasable to GBR and USA: even devices fit; odd ones are CONFIDENTIAL
      // but releasable to GBR and USA too; device 1's SECRET//GBR frames make its windows not releasable to USA.
      const w = await start(bus, keys, powerPipeline({ ceiling: SECRET_FVEY }), { onRefused: (output, error) => refused.push({ output, error }) });
      const records = makeTelemetry(DEVICES, 40);
      const topSecret = makeTelemetry(1, 40).map((r) => ({ ...r, deviceId: deviceId(4), seq: r.seq + 1000n, label: makeLabel('TOP_SECRET', ['GBR', 'USA']) }));
      // Device 4 sends TOP_SECRET frames in the same windows as its SECRET ones.
      const input = [...records, ...topSecret.slice(0, 10)];
      await produceTelemetry(bus, SOURCE, input, keys.telemetry, PARTITIONS);
      await waitForPositions([w], SOURCE, endOffsetsOf(input, PARTITIONS));
      await w.checkpoint();

      const view = await derivedOf(bus, keys);
      expect(refused.length).toBeGreaterThan(0);
      expect(w.stats().refused).toBe(refused.length);
      for (const { output, error } of refused) {
        expect(isVigilError(error, 'VIGIL_E_PIPELINE_CEILING')).toBe(true);
        expect([deviceId(1), deviceId(4)]).toContain(output.key);
        // Never published: at most an earlier revision of that window (before the TOP_SECRET frames arrived late) is there.
        const published = view.latest.get(`${output.key}|${output.windowStartMs}|${output.windowEndMs}`);
        if (published !== undefined) expect(published.revision).toBeLessThan(output.revision ?? 0);
      }
      expect(refused.some((r) => r.output.key === deviceId(4) && r.output.label?.level === 'TOP_SECRET')).toBe(true);
      for (const rec of view.latest.values()) expect(rec.label.level === 'TOP_SECRET' || !rec.label.releasability.includes('USA')).toBe(false);
      expect(view.latest.size).toBeGreaterThan(0);
      expect(drops.filter((d) => d.stage === 'output' && d.reason === 'VIGIL_E_PIPELINE_CEILING')).toHaveLength(refused.length);
    } finally {
      channels.pipelineDrop.unsubscribe(listener);
    }
  });

  it('counts source messages it cannot open, and goes on', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    const invalid: string[] = [];
    const w = await start(bus, keys, powerPipeline(), { onInvalidInput: (_m, e) => invalid.push(e.code) });
    const producer = bus.producer();
    await producer.send(SOURCE, [
      { key: 'ugv-00', partition: 0, value: Buffer.from('not a record'), headers: { 'vigil-key-id': 'telemetry.power.k1' } },
      { key: 'ugv-00', partition: 0, value: Buffer.from('x'), headers: { 'vigil-key-id': 'other.k9' } },
      { key: 'ugv-00', partition: 0, value: Buffer.from('x') },
    ]);
    await producer.close();
    const records = makeTelemetry(4, 30);
    await produceTelemetry(bus, SOURCE, records, keys.telemetry, PARTITIONS);
    await waitForPositions([w], SOURCE, endOffsetsOf(records, PARTITIONS, [3]));
    expect(invalid).toEqual(['VIGIL_E_RECORD_INVALID', 'VIGIL_E_KEY_UNKNOWN', 'VIGIL_E_RECORD_INVALID']);
    expect(w.stats()).toMatchObject({ invalid: 3, records: records.length + 3 });
    await w.checkpoint();
    expect((await derivedOf(bus, keys)).latest.size).toBeGreaterThan(0);
  });

  it('checkpoints on its interval and restores a stopped worker from the last one', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    const w = await start(bus, keys, powerPipeline(), { checkpointIntervalMs: 50 });
    const records = makeTelemetry(4, 30);
    // Commits are checked after each batch (inside the consumer loop): a second round of
    // records after the interval makes the worker commit what the first round changed.
    await produceTelemetry(bus, SOURCE, records.slice(0, 60), keys.telemetry, PARTITIONS);
    await waitForPositions([w], SOURCE, endOffsetsOf(records.slice(0, 60), PARTITIONS));
    await new Promise((r) => setTimeout(r, 80));
    await produceTelemetry(bus, SOURCE, records.slice(60), keys.telemetry, PARTITIONS);
    await waitForPositions([w], SOURCE, endOffsetsOf(records, PARTITIONS));
    const deadline = Date.now() + 5_000;
    while (w.stats().checkpoints < PARTITIONS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(w.stats().checkpoints).toBeGreaterThanOrEqual(PARTITIONS);
    await w.stop();
    const changelog = bus.compactedView('vigil.changelog.power-10s');
    // Co-partitioned: one commit record per source partition, in the changelog partition of the same number.
    const metas = changelog.filter((m) => (m.key as Buffer).toString() === `${SOURCE}\u0000~meta`);
    expect(metas.map((m) => m.partition).sort()).toEqual([0, 1, 2, 3]);
    // Incremental: one record per store entry (window, dedupe device), each far below a whole partition's state.
    const entries = changelog.filter((m) => (m.key as Buffer).toString().startsWith(`${SOURCE}\u0000stats/windows\u0000`));
    expect(entries.length).toBeGreaterThan(0);
    for (const m of changelog) expect((m.value?.length ?? 0) + (m.key?.length ?? 0)).toBeLessThan(4096);
    // Sealed state: no device id in clear on the changelog.
    for (const m of changelog) expect((m.value as Buffer).includes(Buffer.from('ugv-'))).toBe(false);
    const again = await start(bus, keys);
    expect(again.stats().restored).toBe(4);
    expect(again.positions().map((p) => Number(p.offset))).toEqual(endOffsetsOf(records, PARTITIONS).filter((n) => n > 0));
  });

  it('refuses to restore a checkpoint it cannot open, instead of starting over', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    const w = await start(bus, keys);
    const records = makeTelemetry(4, 10);
    await produceTelemetry(bus, SOURCE, records, keys.telemetry, PARTITIONS);
    await waitForPositions([w], SOURCE, endOffsetsOf(records, PARTITIONS));
    await w.stop();
    // Another deployment with another derived (= state) key cannot read the state.
    const errors: VigilError[] = [];
    const other = makeKeys();
    const w2 = await startPipeline(powerPipeline(), { bus, keyring: other.workerKeyring(), derivedKey: other.derived, checkpointIntervalMs: 0, onError: (e) => errors.push(e) });
    running.push(w2);
    await new Promise((r) => setTimeout(r, 50));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('VIGIL_E_PIPELINE_FAILED');
    expect(isVigilError(errors[0]?.cause, 'VIGIL_E_PIPELINE_CHECKPOINT')).toBe(true);
    expect(w2.stats().state).toBe('failed');
  });
});


describe('startPipeline options', () => {
  it('refuses bad options and missing source topics before joining anything', async () => {
    const keys = makeKeys();
    const bus = await newBus();
    await expect(startPipeline(powerPipeline(), { bus, keyring: keys.workerKeyring(), derivedKey: { keyId: 'k', key: new Uint8Array(3) } })).rejects.toMatchObject({ code: 'VIGIL_E_PIPELINE_OPTIONS' });
    await expect(startPipeline(powerPipeline(), { bus, keyring: keys.workerKeyring(), derivedKey: keys.derived, checkpointIntervalMs: -1 })).rejects.toMatchObject({ code: 'VIGIL_E_PIPELINE_OPTIONS' });
    await expect(startPipeline(powerPipeline(), { bus, keyring: keys.workerKeyring(), derivedKey: keys.derived, topicPrefix: 'nowhere.' })).rejects.toMatchObject({ code: 'VIGIL_E_BUS_TOPIC_UNKNOWN' });
  });
});
