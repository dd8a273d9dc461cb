import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { KafkaBus, MemoryBus } from '../../src/bus';
import { startPipeline, type PipelineWorker } from '../../src/runtime';
import { until } from '../harness/until';
import { groupCount, truth } from './group-count';
import { derivedView, endOffsetsOf, finalResults, makeKeys, makeTelemetry, powerPipeline, produceTelemetry, readAll, T0, waitForPositions, type Keys } from './helpers';

// Restart equivalence end to end through the real KRaft broker the harness starts: a
// worker killed between checkpoints and a successor restoring from the compacted changelog
// end with the same final results as an uninterrupted run.
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');
const PARTITIONS = 3;
const DEVICES = 6;
const FRAMES = 60;
/** Devices of the second-stage test: each of its three groups spread over the partitions. */
const GROUP_DEVICES = 7;
const consumer = { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, rebalanceTimeoutMs: 5_000, maxWaitMs: 100 };

describe('pipeline runtime on Kafka', () => {
  const prefix = `vigil-test.${randomUUID().slice(0, 8)}.`;
  const source = `${prefix}telemetry.power`;
  let bus: KafkaBus;
  let admin: Admin;
  const workers: PipelineWorker[] = [];

  beforeAll(async () => {
    bus = new KafkaBus({ brokers, clientId: 'vigil-test-runtime', logLevel: 'nothing', retries: 3, sendTimeoutMs: 10_000 });
    admin = new Kafka({ brokers, clientId: 'vigil-test-runtime-admin', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop({ checkpoint: false }).catch(() => undefined)));
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
    await bus.close();
  });

  async function start(keys: Keys, topicPrefix = prefix): Promise<PipelineWorker> {
    const w = await startPipeline(powerPipeline(), { bus, keyring: keys.workerKeyring(), derivedKey: keys.derived, topicPrefix, checkpointIntervalMs: 0, consumer });
    workers.push(w);
    return w;
  }

  async function ends(topic: string): Promise<number[]> {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
  }

  /** Final results of one uninterrupted worker over the same partitions, on the memory bus. */
  async function memoryReference(keys: Keys, records: ReturnType<typeof makeTelemetry>): Promise<Record<string, unknown>> {
    const memory = new MemoryBus();
    try {
      await memory.admin().ensureTopics([{ topic: 'telemetry.power', partitions: PARTITIONS }]);
      const w = await startPipeline(powerPipeline(), { bus: memory, keyring: keys.workerKeyring(), derivedKey: keys.derived, checkpointIntervalMs: 0 });
      await produceTelemetry(memory, 'telemetry.power', records, keys.telemetry, PARTITIONS);
      await waitForPositions([w], 'telemetry.power', endOffsetsOf(records, PARTITIONS));
      await w.stop();
      const derived = 'derived.power-10s';
      return finalResults(derivedView(await readAll(memory, derived, (memory.broker.topic(derived)?.logs ?? []).map((l) => l.endOffset)), keys.analystKeyring));
    } finally {
      await memory.close();
    }
  }

  it('a worker killed mid-window and restarted from the changelog ends with the results of an uninterrupted run', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(DEVICES, FRAMES);

    const reference = await memoryReference(keys, records);
    expect(Object.keys(reference).length).toBeGreaterThan(DEVICES * 3);

    const kafkaAdmin = bus.admin();
    await kafkaAdmin.ensureTopics([{ topic: source, partitions: PARTITIONS }]);
    await kafkaAdmin.close();
    const a = records.slice(0, records.length / 2);
    const b = records.slice(records.length / 2, (records.length * 3) / 4);
    const c = records.slice((records.length * 3) / 4);

    const first = await start(keys);
    await produceTelemetry(bus, source, a, keys.telemetry, PARTITIONS);
    await waitForPositions([first], source, endOffsetsOf(a, PARTITIONS), 30_000);
    await first.checkpoint();
    await produceTelemetry(bus, source, b, keys.telemetry, PARTITIONS);
    await waitForPositions([first], source, endOffsetsOf([...a, ...b], PARTITIONS), 30_000);
    // Published past the checkpoint, then killed without a last checkpoint.
    await first.stop({ checkpoint: false });
    const publishedByFirst = first.stats().outputs;

    const second = await start(keys);
    expect(second.stats().restored).toBe(PARTITIONS);
    await produceTelemetry(bus, source, c, keys.telemetry, PARTITIONS);
    await waitForPositions([second], source, endOffsetsOf(records, PARTITIONS), 30_000);
    await second.stop();
    expect(second.stats().records).toBe(b.length + c.length);

    const derived = `${prefix}derived.power-10s`;
    const view = derivedView(await readAll(bus, derived, await ends(derived), 30_000), keys.analystKeyring);
    expect(publishedByFirst).toBeGreaterThan(0);
    expect(view.messages).toBeGreaterThan(view.distinct);
    expect(view.conflicts).toEqual([]);
    expect(finalResults(view)).toEqual(reference);
    // The changelog is compacted, in segments small enough for the cleaner to keep up.
    const describer = bus.admin();
    const description = await describer.describeTopic(`${prefix}vigil.changelog.power-10s`);
    await describer.close();
    expect(description?.config).toMatchObject({ 'cleanup.policy': 'compact', 'segment.bytes': String(64 * 1024 * 1024), 'segment.ms': '3600000', 'min.cleanable.dirty.ratio': '0.3' });
  });

  it('a second worker joining mid-stream, then the first leaving: the state moves with the partitions through two Kafka rebalances, results unchanged', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(DEVICES, FRAMES);
    const reference = await memoryReference(keys, records);
    const p = `${prefix}rebalance.`;
    const topic = `${p}telemetry.power`;
    const kafkaAdmin = bus.admin();
    await kafkaAdmin.ensureTopics([{ topic, partitions: PARTITIONS }]);
    await kafkaAdmin.close();
    const a = records.slice(0, records.length / 3);
    const b = records.slice(records.length / 3, (records.length * 2) / 3);
    const c = records.slice((records.length * 2) / 3);

    const w1 = await start(keys, p);
    await produceTelemetry(bus, topic, a, keys.telemetry, PARTITIONS);
    await waitForPositions([w1], topic, endOffsetsOf(a, PARTITIONS), 30_000);
    // A commit while w1 owns everything; a revocation commits nothing (the group has already
    // handed the partition on when the member hears of it), so w2 restores this and re-reads b.
    await w1.checkpoint();
    // Joins while w1 still has b to read: the rebalance lands mid-window.
    await produceTelemetry(bus, topic, b, keys.telemetry, PARTITIONS);
    const w2 = await start(keys, p);
    await until(() => w1.stats().partitions + w2.stats().partitions === PARTITIONS && w1.stats().partitions > 0 && w2.stats().partitions > 0, 30_000, 'both workers own partitions');
    const movedToW2 = w2.stats().partitions;
    await waitForPositions([w1, w2], topic, endOffsetsOf([...a, ...b], PARTITIONS), 30_000);
    // w1 leaves gracefully (last checkpoint of what it owns); w2 takes everything over.
    await w1.stop();
    await until(() => w2.stats().partitions === PARTITIONS, 30_000, 'w2 owns every partition');
    await produceTelemetry(bus, topic, c, keys.telemetry, PARTITIONS);
    await waitForPositions([w2], topic, endOffsetsOf(records, PARTITIONS), 30_000);
    await w2.stop();
    // Every partition w2 took over was restored from a checkpoint, not re-read from scratch.
    expect(w2.stats().restored).toBe(PARTITIONS);
    expect(movedToW2).toBeGreaterThan(0);

    const derived = `${p}derived.power-10s`;
    const view = derivedView(await readAll(bus, derived, await ends(derived), 30_000), keys.analystKeyring);
    expect(view.conflicts).toEqual([]);
    expect(finalResults(view)).toEqual(reference);
  });

  // The second stage: re-keyed results on explicit partitions of vigil.repartition.<name>,
  // watermark marks in order behind them, and results a restarted first stage sends again.
  it('a pipeline with a second stage counts every re-keyed result once, across partitions and a worker killed between checkpoints', async () => {
    const keys = makeKeys();
    const records = makeTelemetry(GROUP_DEVICES, FRAMES);
    // A last frame per device far ahead closes every window of both stages.
    const closing = records.slice(0, GROUP_DEVICES).map((r) => ({ ...r, seq: 1000n, eventTimeMs: T0 + 200_000 }));
    const all = [...records, ...closing];
    const expected = Object.fromEntries([...truth(records)].filter(([k]) => Number(k.split('|')[2]) <= T0 + 60_000).map(([k, n]) => [k, { n }]));

    // Topics of its own (under the file's prefix, so they are cleaned up with the rest).
    const own = `${prefix}rk.`;
    const source = `${own}telemetry.power`;
    const kafkaAdmin = bus.admin();
    await kafkaAdmin.ensureTopics([{ topic: source, partitions: PARTITIONS }]);
    await kafkaAdmin.close();
    const start = async (): Promise<PipelineWorker> => {
      const w = await startPipeline(groupCount(), { bus, keyring: keys.workerKeyring(), derivedKey: keys.derived, topicPrefix: own, checkpointIntervalMs: 0, consumer });
      workers.push(w);
      return w;
    };
    const repartition = `${own}vigil.repartition.group-count`;
    const a = all.slice(0, all.length / 3);
    const b = all.slice(all.length / 3, (all.length * 2) / 3);
    const c = all.slice((all.length * 2) / 3);

    const first = await start();
    await produceTelemetry(bus, source, a, keys.telemetry, PARTITIONS);
    await waitForPositions([first], source, endOffsetsOf(a, PARTITIONS), 30_000);
    await first.checkpoint();
    await produceTelemetry(bus, source, b, keys.telemetry, PARTITIONS);
    await waitForPositions([first], source, endOffsetsOf([...a, ...b], PARTITIONS), 30_000);
    // Its re-keyed results past the checkpoint (two readings per record) are in Kafka, then it dies without a commit.
    const rekeyed = async (): Promise<number> => (await ends(repartition)).reduce((x, y) => x + y, 0);
    await until(async () => (await rekeyed()) >= 2 * (a.length + b.length), 30_000, 're-keyed results of the first worker in Kafka');
    await first.stop({ checkpoint: false });

    const second = await start();
    await produceTelemetry(bus, source, c, keys.telemetry, PARTITIONS);
    await waitForPositions([second], source, endOffsetsOf(all, PARTITIONS), 30_000);
    await second.checkpoint();
    await waitForPositions([second], repartition, await ends(repartition), 30_000);
    // The restarted first stage sent results again, which the second stage dropped.
    const dropped = second.stats().duplicates;
    await second.stop();

    const derived = `${own}derived.group-count`;
    const view = derivedView(await readAll(bus, derived, await ends(derived), 30_000), keys.analystKeyring);
    expect(view.conflicts).toEqual([]);
    const results = finalResults(view);
    const closed = Object.fromEntries(Object.entries(results).filter(([k]) => Number(k.split('|')[2]) <= T0 + 60_000).map(([k, r]) => [k, { n: (r as { values: { n: number } }).values.n }]));
    expect(closed).toEqual(expected);
    expect(dropped).toBeGreaterThan(0);
  });
});
