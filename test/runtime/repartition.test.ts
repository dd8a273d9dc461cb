import { filter, map, Subject } from 'rxjs';
import { makeLabel } from '../../src/codec';
import { OriginWatermarks } from '../../src/runtime/origin-watermarks';
import type { SourceRecord } from '../../src/runtime/source-record';
import { definePipeline, type DerivedOutput, type VigilError } from '../../src';
import { groupCount, truth } from './group-count';
import { runPipeline } from '../pipelines/harness';
import { T0, deviceId, makeTelemetry } from './helpers';

const DEVICES = 7;
const partitionOf = (d: string): number => Number(d.slice(4)) % 4;

describe('second stage over re-keyed results (repartition)', () => {
  const records = makeTelemetry(DEVICES, 60);
  // A last frame per device far ahead moves every first-stage watermark, then the second stage's, past the windows.
  const closing = Array.from({ length: DEVICES }, (_, d) => ({ ...(records[d] as (typeof records)[number]), seq: 1000n, eventTimeMs: T0 + 200_000 }));
  const input = [...records, ...closing];
  const expected = [...truth(records)].filter(([k]) => Number(k.split('|')[2]) <= T0 + 60_000);
  const closed = (results: Awaited<ReturnType<typeof runPipeline>>): Array<[string, unknown]> => results.filter((r) => r.windowEndMs <= T0 + 60_000).map((r) => [r.kafkaKey, r.values.n]);

  it('brings every result of one key to one chain, whichever source partition made it', async () => {
    const results = await runPipeline(groupCount(), input, { partitions: 4, partitionOf });
    expect(closed(results).sort()).toEqual(expected.sort());
    // Devices of each group sit in several source partitions.
    expect(new Set([0, 3, 6].map((i) => partitionOf(deviceId(i)))).size).toBe(3);
  });

  it('counts a re-keyed result once when a crashed first stage sends it again', async () => {
    const n = input.length;
    const results = await runPipeline(groupCount(), input, { partitions: 4, partitionOf, crash: { checkpointAt: Math.floor(n / 4), crashAt: Math.floor((3 * n) / 4) } });
    expect(closed(results).sort()).toEqual(expected.sort());
  });

  it('refuses a repartitionKey outside the first stage of a pipeline with a second stage', async () => {
    const refused: VigilError[] = [];
    const { MemoryBus, startPipeline, generateStreamKey, StreamKeyring, RecordCodec, RECORD_KEY_ID_HEADER } = await import('../../src');
    const bus = new MemoryBus();
    try {
      await bus.admin().ensureTopics([{ topic: 'telemetry.power', partitions: 1 }]);
      const telemetry = generateStreamKey('telemetry.k1');
      const oneStage = definePipeline({
        name: 'one-stage',
        sources: ['telemetry.power'],
        build: (events$) => events$.pipe(filter((e) => e.kind === 'record'), map((e): DerivedOutput => ({ key: e.value.deviceId, windowStartMs: e.time, windowEndMs: e.time, values: {}, repartitionKey: 'x' }))),
      });
      const workers = await Promise.all(
        [oneStage, groupCount({ rekeyInSecondStage: true })].map((d) => startPipeline(d, { bus, keyring: new StreamKeyring([telemetry]), derivedKey: generateStreamKey(`derived.${d.name}.k1`), checkpointIntervalMs: 0, onRefused: (_o, e) => refused.push(e) })),
      );
      try {
        const producer = bus.producer();
        const codec = new RecordCodec();
        for (const r of input) {
          const sealed = codec.seal(r, telemetry);
          await producer.send('telemetry.power', [{ key: r.deviceId, partition: 0, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } }]);
        }
        await producer.close();
        const deadline = Date.now() + 20_000;
        while ((workers[0]?.stats().refused ?? 0) < input.length * 2 || (workers[1]?.stats().refused ?? 0) === 0) {
          if (Date.now() > deadline) throw new Error(`refusals: ${workers.map((w) => w.stats().refused).join(', ')}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await Promise.all(workers.map((w) => w.stop({ checkpoint: false })));
      }
      expect(workers[0]?.stats().outputs).toBe(0);
      expect(workers[1]?.stats().outputs).toBe(0);
      expect(refused.every((e) => e.code === 'VIGIL_E_PIPELINE_OUTPUT' && /repartitionKey/.test(e.message))).toBe(true);
    } finally {
      await bus.close();
    }
  });

  it('checks the second stage at definition', () => {
    expect(() => definePipeline({ name: 'x', sources: ['telemetry.power'], build: (e) => e.pipe(map(() => ({ key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} }))), repartition: { build: 'no' as never } })).toThrow(
      expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS', message: expect.stringContaining('repartition.build') }),
    );
    expect(() => definePipeline({ name: 'x', sources: ['telemetry.power'], build: (e) => e.pipe(map(() => ({ key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} }))), repartition: { maxOutOfOrderness: -1, build: (e) => e.pipe(map(() => ({ key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} }))) } })).toThrow(
      expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS', message: expect.stringContaining('repartition.maxOutOfOrderness') }),
    );
  });
});

describe('OriginWatermarks (second-stage event time)', () => {
  /** Feeds marks and returns the watermarks they produced. */
  function run(o: OriginWatermarks, marks: ReadonlyArray<readonly [string, number]>): number[] {
    const out: number[] = [];
    const input = new Subject<SourceRecord>();
    const sub = input.pipe(o.operator()).subscribe((e) => {
      if (e.kind === 'watermark') out.push(e.time);
    });
    for (const [origin, mark] of marks) input.next({ type: 'repartitioned', kind: 'repartitioned', deviceId: origin, seq: -1n, eventTimeMs: mark, gatewayId: origin, label: makeLabel('SECRET'), readings: [], mark });
    sub.unsubscribe();
    return out;
  }

  it('follows the slowest first-stage chain, minus the lag, and waits for chains not heard from yet', () => {
    const o = new OriginWatermarks(1_000, 300_000, ['a', 'b']);
    expect(run(o, [['a', 50_000], ['a', 90_000], ['b', 40_000], ['b', 70_000], ['a', 95_000], ['b', 100_000]])).toEqual([39_000, 69_000, 94_000]);
  });

  it('stops waiting for a chain that fell silent once the others are idleAfter ahead, and restores where it was', () => {
    const o = new OriginWatermarks(0, 60_000, ['a', 'b', 'empty']);
    // 'empty' never reports: it holds the watermark until the newest mark is 60 s past the first.
    expect(run(o, [['a', 10_000], ['b', 10_000], ['a', 60_000], ['b', 65_000], ['a', 80_000]])).toEqual([65_000]);
    const copy = new OriginWatermarks(0, 60_000, ['a', 'b', 'empty']);
    copy.restore(JSON.parse(JSON.stringify(o.snapshot())));
    // 'b' falls silent at 65 s: once 'a' is 60 s past it, 'a' alone moves the watermark.
    expect(run(copy, [['a', 100_000], ['a', 130_000]])).toEqual([130_000]);
    expect(copy.watermark()).toBe(130_000);
  });
});
