import { map } from 'rxjs';
import { MemoryBus } from '../../src/bus';
import { encodeRejectionRecord, type RejectionRecord } from '../../src/codec';
import type { VigilError } from '../../src/errors';
import { definePipeline, startPipeline, UNATTRIBUTED, type PipelineWorker } from '../../src/runtime';
import { aggregate, count, keyedWindow, sum, tumbling } from '../../src/stream';
import { derivedView, makeKeys, readAll, T0, waitForPositions } from './helpers';

const SOURCE = 'telemetry.rejected';
const DERIVED = 'derived.rejections-10s';

/** Per claimed device, 10 s tumbling: rejections, replays among them, distinct-looking sequence numbers seen. */
const rejections = definePipeline({
  name: 'rejections-10s',
  sources: ['telemetry.rejected'],
  watermarks: { maxOutOfOrderness: 0 },
  build: (events$, ctx) =>
    events$.pipe(
      ctx.stateful(
        keyedWindow({
          key: (r) => r.deviceId,
          window: tumbling(10_000),
          aggregate: aggregate({ n: count(), replays: sum((r) => (r.reading.reason === 'VIGIL_E_REPLAY' ? 1 : 0)), seqSum: sum((r) => Number(r.seq)) }),
        }),
      ),
      map((w) => ({ key: w.key, windowStartMs: w.window.start, windowEndMs: w.window.end, revision: w.revision, values: { n: w.value.n, replays: w.value.replays, seqSum: w.value.seqSum } })),
    ),
});

function rejection(deviceId: string | null, seq: number, atMs: number, reason: RejectionRecord['reason']): RejectionRecord {
  return {
    reason,
    message: 'test',
    header: deviceId === null ? null : { deviceId, epoch: 1, seq: String(seq), eventTimeMs: atMs - 5 },
    sha256: (deviceId ?? 'x').padEnd(8, '0').replace(/[^0-9a-f]/g, 'a').slice(0, 8).repeat(8),
    bytes: 120,
    gatewayId: 'gw-1',
    atMs,
  };
}

describe('a pipeline reading telemetry.rejected', () => {
  let bus: MemoryBus;
  let worker: PipelineWorker | undefined;
  afterEach(async () => {
    await worker?.stop({ checkpoint: false });
    await bus.close();
  });

  it('sees each rejection as a reading of the claimed device at the gateway time, replays not deduplicated, labelled UNCLASSIFIED', async () => {
    bus = new MemoryBus();
    await bus.admin().ensureTopics([{ topic: SOURCE, partitions: 1 }]);
    const keys = makeKeys();
    const invalid: VigilError[] = [];
    worker = await startPipeline(rejections, { bus, keyring: keys.workerKeyring(), derivedKey: keys.derived, checkpointIntervalMs: 0, onInvalidInput: (_m, e) => invalid.push(e) });
    const records = [
      rejection('uav-1', 7, T0 + 1_000, 'VIGIL_E_REPLAY'),
      rejection('uav-1', 7, T0 + 2_000, 'VIGIL_E_REPLAY'), // the same frame replayed again: counted again
      rejection('uav-1', 9, T0 + 3_000, 'VIGIL_E_FRAME_AUTH'),
      rejection(null, 0, T0 + 4_000, 'VIGIL_E_FRAME_MALFORMED'),
      rejection('uav-2', 1, T0 + 5_000, 'VIGIL_E_DEVICE_UNKNOWN'),
      rejection('uav-2', 2, T0 + 25_000, 'VIGIL_E_DEVICE_UNKNOWN'), // moves the watermark past the first window
    ];
    const producer = bus.producer();
    await producer.send(SOURCE, [
      ...records.map((r) => ({ key: r.header?.deviceId ?? r.sha256, partition: 0, value: Buffer.from(encodeRejectionRecord(r)) })),
      { key: 'junk', partition: 0, value: Buffer.from('{"reason":"nope"}') },
    ]);
    await producer.close();
    await waitForPositions([worker], SOURCE, [records.length + 1]);
    await worker.checkpoint();

    expect(invalid.map((e) => [e.code, e.details?.field])).toEqual([['VIGIL_E_RECORD_INVALID', 'reason']]);
    expect(worker.stats().invalid).toBe(1);
    const ends = (bus.broker.topic(DERIVED)?.logs ?? []).map((l) => l.endOffset);
    const view = derivedView(await readAll(bus, DERIVED, ends), keys.analystKeyring);
    const got = Object.fromEntries([...view.latest].map(([k, r]) => [k, { ...r.values, level: r.label.level }]));
    expect(got).toEqual({
      [`uav-1|${T0}|${T0 + 10_000}`]: { n: 3, replays: 2, seqSum: 23, level: 'UNCLASSIFIED' },
      [`${UNATTRIBUTED}|${T0}|${T0 + 10_000}`]: { n: 1, replays: 0, seqSum: 0, level: 'UNCLASSIFIED' },
      [`uav-2|${T0}|${T0 + 10_000}`]: { n: 1, replays: 0, seqSum: 1, level: 'UNCLASSIFIED' },
    });
  });

  it('is a source definePipeline accepts, next to the reading kinds; anything else is refused naming the allowed kinds', () => {
    expect(() => definePipeline({ name: 'x', sources: ['telemetry.rejects' as 'telemetry.rejected'], build: (e) => e.pipe(map(() => ({ key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} }))) })).toThrow(/kind one of position, vitals, vehicle, ugs, power, metric, rejected/);
  });
});
