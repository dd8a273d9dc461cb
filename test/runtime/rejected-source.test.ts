import { map } from 'rxjs';
import { MemoryBus } from '../../src/bus';
import { encodeRejectionRecord, rejectionMac, rejectionMessage, type RejectionRecord } from '../../src/codec';
import { generateStreamKey } from '../../src/crypto';
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
      ctx.state('stats', 
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
    const signed = (r: RejectionRecord, key = keys.telemetry): { key: string; partition: number; value: Buffer; headers: Record<string, Buffer | string> } => {
      const m = rejectionMessage(r, key);
      return { key: m.key, partition: 0, value: Buffer.from(m.value), headers: m.headers };
    };
    const junk = Buffer.from('{"reason":"nope"}');
    const forged = rejection('uav-1', 8, T0 + 1_500, 'VIGIL_E_FRAME_AUTH');
    await producer.send(SOURCE, [
      ...records.map((r) => signed(r)),
      // Well-formed and authenticated, but not a rejection record.
      { key: 'junk', partition: 0, value: junk, headers: { 'vigil-key-id': keys.telemetry.keyId, 'vigil-mac': rejectionMac(junk, keys.telemetry) } },
      // Forged tampering alarms: no MAC at all; a MAC under a key the worker does not hold the id of;
      // a MAC under another key claiming the telemetry key id; a changed value under a valid MAC.
      { key: 'uav-1', partition: 0, value: Buffer.from(encodeRejectionRecord(forged)) },
      signed(forged, generateStreamKey('attacker-1')),
      signed(forged, generateStreamKey(keys.telemetry.keyId)),
      { ...signed(forged), value: Buffer.from(encodeRejectionRecord({ ...forged, reason: 'VIGIL_E_REPLAY' })) },
    ]);
    await producer.close();
    await waitForPositions([worker], SOURCE, [records.length + 5]);
    await worker.checkpoint();

    expect(invalid.map((e) => [e.code, e.details?.field])[0]).toEqual(['VIGIL_E_RECORD_INVALID', 'reason']);
    expect(invalid.map((e) => e.code)).toEqual(['VIGIL_E_RECORD_INVALID', 'VIGIL_E_RECORD_AUTH', 'VIGIL_E_KEY_UNKNOWN', 'VIGIL_E_RECORD_AUTH', 'VIGIL_E_RECORD_AUTH']);
    expect(worker.stats().invalid).toBe(5);
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
