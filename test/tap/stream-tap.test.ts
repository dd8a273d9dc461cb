import { MemoryBus, type Bus, type BusConsumer, type BusConsumerOptions } from '../../src/bus';
import { RECORD_KEY_ID_HEADER, type VigilRecord } from '../../src/codec';
import { generateStreamKey, StreamKeyring } from '../../src/crypto';
import { isVigilError, VigilError } from '../../src/errors';
import { StreamTap, type TapRecord, type TapUnreadable } from '../../src/tap';
import { position, produce, sealed, until, vitals } from './helpers';

const STREAM = 'derived.vitals';
const vitalsKey = generateStreamKey('derived.vitals-1');
const otherKey = generateStreamKey('derived.unit-picture-1');

describe('StreamTap', () => {
  let bus: MemoryBus;
  const taps: StreamTap[] = [];

  beforeEach(async () => {
    bus = new MemoryBus();
    await bus.admin().ensureTopics([{ topic: STREAM, partitions: 2 }, { topic: 'telemetry.position', partitions: 1 }]);
  });
  afterEach(async () => {
    await Promise.all(taps.splice(0).map((t) => t.close()));
    await bus.close();
  });

  async function open(keys = [vitalsKey], extra: { fromBeginning?: boolean; stream?: string } = {}): Promise<{ tap: StreamTap; got: TapRecord[]; bad: TapUnreadable[]; errors: VigilError[] }> {
    const got: TapRecord[] = [];
    const bad: TapUnreadable[] = [];
    const errors: VigilError[] = [];
    const tap = await StreamTap.open({
      bus, stream: extra.stream ?? STREAM, keyring: new StreamKeyring(keys), fromBeginning: extra.fromBeginning === true,
      onRecord: (r) => void got.push(r), onUnreadable: (u) => void bad.push(u), onError: (e) => void errors.push(e),
    });
    taps.push(tap);
    return { tap, got, bad, errors };
  }

  it('opens and hands out derived records sealed under the analyst key, from the latest record on', async () => {
    await produce(bus, STREAM, [sealed(vitals(0), vitalsKey)]); // before the tap: not shown
    const { tap, got } = await open();
    const records = [vitals(1), vitals(2, { key: 'sol-002' }), vitals(1, { revision: 1 })];
    await produce(bus, STREAM, records.map((r) => sealed(r, vitalsKey)));
    await until(() => got.length === 3, 5000, 'three records');
    const byWindow = (a: VigilRecord, b: VigilRecord): number => JSON.stringify(a, big).localeCompare(JSON.stringify(b, big));
    expect(got.map((r) => r.record).sort(byWindow)).toEqual([...records].sort(byWindow));
    expect(got.every((r) => r.stream === STREAM && r.keyId === 'derived.vitals-1' && /^\d+$/.test(r.offset))).toBe(true);
    expect(tap.stats()).toEqual({ records: 3, unreadable: 0, unreadableByCode: {}, tombstones: 0, restarts: 0 });
  });

  it('replays what the bus holds with fromBeginning, and reads raw telemetry with the telemetry key', async () => {
    const telemetryKey = generateStreamKey('telemetry.position-1');
    await produce(bus, 'telemetry.position', [sealed(position('veh-001', 0), telemetryKey), sealed(position('veh-001', 1), telemetryKey)]);
    const { got } = await open([telemetryKey], { fromBeginning: true, stream: 'telemetry.position' });
    await until(() => got.length === 2);
    expect(got.map((r) => r.record.type === 'telemetry' && r.record.seq)).toEqual([1000n, 1001n]);
  });

  it('refuses a stream sealed under a key the analyst does not hold, naming the stream and the key ids', async () => {
    const { tap, got, errors } = await open([otherKey]);
    await produce(bus, STREAM, [sealed(vitals(1), vitalsKey)]);
    const err = await tap.done().then(() => undefined, (e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_E_TAP_NO_KEY')).toBe(true);
    expect((err as VigilError).message).toBe('stream derived.vitals is sealed under key derived.vitals-1; your key files hold: derived.unit-picture-1');
    expect((err as VigilError).details).toEqual({ stream: STREAM, keyId: 'derived.vitals-1', held: ['derived.unit-picture-1'] });
    expect(errors).toEqual([err]);
    expect(got).toEqual([]);
  });

  it('counts and reports records that fail to open, and keeps reading', async () => {
    const { tap, got, bad } = await open([vitalsKey]);
    const good = sealed(vitals(1), vitalsKey);
    const flipped = Buffer.from(sealed(vitals(2), vitalsKey).value as Buffer);
    flipped[flipped.length - 1] ^= 0x01;
    // All on one partition, so the order below is the order read.
    await produce(bus, STREAM, [
      { ...good, partition: 0 },
      { ...good, value: flipped, partition: 0 },
      { ...good, value: Buffer.from('not a record'), partition: 0 },
      { value: good.value, partition: 0 },
      { ...sealed(vitals(3), otherKey), partition: 0 },
      { key: 'sol-001', value: null, partition: 0 },
      { ...sealed(vitals(4), vitalsKey), partition: 0 },
    ]);
    await until(() => got.length === 2 && bad.length === 4);
    expect(bad.map((u) => [u.code, u.keyId, u.offset])).toEqual([
      ['VIGIL_E_RECORD_AUTH', 'derived.vitals-1', '1'],
      ['VIGIL_E_RECORD_INVALID', 'derived.vitals-1', '2'],
      ['VIGIL_E_RECORD_INVALID', null, '3'],
      ['VIGIL_E_KEY_UNKNOWN', 'derived.unit-picture-1', '4'],
    ]);
    expect(bad[2]?.message).toMatch(new RegExp(`no ${RECORD_KEY_ID_HEADER} header`));
    expect(tap.stats()).toEqual({
      records: 2, unreadable: 4, tombstones: 1, restarts: 0,
      unreadableByCode: { VIGIL_E_RECORD_AUTH: 1, VIGIL_E_RECORD_INVALID: 2, VIGIL_E_KEY_UNKNOWN: 1 },
    });
  });

  it('gives every tap its own consumer group, so two analysts both see every record', async () => {
    const a = await open();
    const b = await open();
    await produce(bus, STREAM, [1, 2, 3, 4].map((i) => sealed(vitals(i, { key: `sol-00${i}` }), vitalsKey)));
    await until(() => a.got.length === 4 && b.got.length === 4);
    expect(a.got.length + b.got.length).toBe(8);
  });

  it('applies backpressure: the next record waits for a slow handler', async () => {
    let active = 0;
    let maxActive = 0;
    const seen: number[] = [];
    const tap = await StreamTap.open({
      bus, stream: STREAM, keyring: new StreamKeyring([vitalsKey]),
      onRecord: async (r) => {
        maxActive = Math.max(maxActive, ++active);
        await new Promise((res) => setTimeout(res, 5));
        if (r.record.type === 'derived') seen.push(r.record.windowStartMs);
        active--;
      },
    });
    taps.push(tap);
    await produce(bus, STREAM, [1, 2, 3, 4, 5].map((i) => ({ ...sealed(vitals(i), vitalsKey), partition: 1 })));
    await until(() => seen.length === 5);
    expect(maxActive).toBe(1);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
  });

  it('survives a retriable bus failure: rebuilds its consumer and resumes where it was, no record lost or repeated', async () => {
    // The first consumer fails (as a Kafka coordinator still loading would) after its first batch.
    let made = 0;
    const flaky: Bus = Object.assign(Object.create(bus) as Bus, {
      consumer: (options: BusConsumerOptions): BusConsumer => {
        const real = bus.consumer(options);
        if (made++ > 0) return real;
        const wrapped: BusConsumer = {
          subscribe: (t) => real.subscribe(t),
          commit: (o) => real.commit(o),
          seek: (p) => real.seek(p),
          assignment: () => real.assignment(),
          pause: (p) => real.pause(p),
          resume: (p) => real.resume(p),
          close: () => real.close(),
          run: (handlers) => real.run({
            ...handlers,
            eachBatch: async (batch) => {
              await handlers.eachBatch(batch);
              setImmediate(() => {
                void real.close();
                handlers.onError?.(new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'coordinator is loading'));
              });
            },
          }),
        };
        return wrapped;
      },
    });
    const got: number[] = [];
    const tap = await StreamTap.open({ bus: flaky, stream: STREAM, keyring: new StreamKeyring([vitalsKey]), onRecord: (r) => void got.push(r.record.type === 'derived' ? r.record.windowStartMs : 0) });
    taps.push(tap);
    await produce(bus, STREAM, [1, 2, 3].map((i) => ({ ...sealed(vitals(i), vitalsKey), partition: 0 })));
    await until(() => tap.stats().restarts === 1 && made === 2, 5000, 'a restart');
    await new Promise((r) => setTimeout(r, 50));
    await produce(bus, STREAM, [4, 5, 6].map((i) => ({ ...sealed(vitals(i), vitalsKey), partition: 0 })));
    await until(() => got.length >= 6, 5000, 'six records');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([1, 2, 3, 4, 5, 6].map((i) => vitals(i).windowStartMs));
  });

  it('refuses bad options and unknown streams with clear codes', async () => {
    const keyring = new StreamKeyring([vitalsKey]);
    await expect(StreamTap.open({ bus, stream: 'no such/topic', keyring, onRecord: () => undefined })).rejects.toMatchObject({ code: 'VIGIL_E_TAP_OPTIONS' });
    await expect(StreamTap.open({ bus, stream: STREAM, keyring: new StreamKeyring(), onRecord: () => undefined })).rejects.toMatchObject({ code: 'VIGIL_E_TAP_OPTIONS', message: expect.stringMatching(/holds no keys/) });
    await expect(StreamTap.open({ bus, stream: 'derived.nothing', keyring, onRecord: () => undefined })).rejects.toMatchObject({
      code: 'VIGIL_E_BUS_TOPIC_UNKNOWN', message: 'stream derived.nothing does not exist on the bus',
    });
  });

  it('closes cleanly: done() resolves and nothing more is handed out', async () => {
    const { tap, got } = await open();
    await tap.close();
    await expect(tap.done()).resolves.toBeUndefined();
    await produce(bus, STREAM, [sealed(vitals(1), vitalsKey)]);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([]);
  });
});

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
