import fc from 'fast-check';
import { FileSpool, MemorySpool, SPOOL_PRIORITIES, type Spool, type SpoolBatch } from '../../../src/edge/spool';
import { entry, label, tempDir } from './helpers';

/*
 * Property: random sequences of append / peek / ack / nack (and, for the disk spool, close and
 * reopen) against a simple model of what each device has appended and had delivered. Every
 * batch must hand out, for each device in it, exactly that device's next undelivered entries;
 * a device with a waiting flash entry must be served first; at the end everything appended is
 * delivered exactly once.
 */

type Op =
  | { t: 'append'; items: Array<{ dev: number; prio: number }> }
  | { t: 'peek'; max: number }
  | { t: 'ack'; which: number }
  | { t: 'nack'; which: number }
  | { t: 'reopen' };

const DEVICES = ['a', 'b', 'c', 'd'];

const opArb = (withReopen: boolean): fc.Arbitrary<Op> => {
  const ops: Array<fc.WeightedArbitrary<Op>> = [
    { weight: 4, arbitrary: fc.record({ t: fc.constant('append' as const), items: fc.array(fc.record({ dev: fc.nat(3), prio: fc.nat(2) }), { minLength: 1, maxLength: 5 }) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('peek' as const), max: fc.integer({ min: 1, max: 6 }) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant('ack' as const), which: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('nack' as const), which: fc.nat(3) }) },
  ];
  if (withReopen) ops.push({ weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) });
  return fc.oneof(...ops);
};

interface DeviceModel {
  /** Labels and priorities appended, in order. */
  appended: Array<{ label: string; prio: number }>;
  delivered: number;
  inFlight: number;
}

async function check(ops: Op[], open: () => Promise<Spool>): Promise<void> {
  let spool = await open();
  try {
    const model = new Map<string, DeviceModel>(DEVICES.map((d) => [d, { appended: [], delivered: 0, inFlight: 0 }]));
    let outstanding: SpoolBatch[] = [];
    let counter = 0;
    const settle = (i: number, ok: boolean): void => {
      const b = outstanding[i % outstanding.length] as SpoolBatch;
      outstanding = outstanding.filter((x) => x !== b);
      const devices = new Set(b.entries.map((e) => e.deviceId));
      for (const d of devices) {
        const m = model.get(d) as DeviceModel;
        if (ok) m.delivered += m.inFlight;
        m.inFlight = 0;
      }
      if (ok) spool.ack(b);
      else spool.nack(b);
    };
    const peekAndCheck = async (max: number): Promise<SpoolBatch | null> => {
      const eligible = [...model.entries()].filter(([, m]) => m.inFlight === 0 && m.appended.length > m.delivered);
      const withFlash = eligible.filter(([, m]) => m.appended.slice(m.delivered).some((x) => x.prio === 0)).map(([d]) => d);
      const b = await spool.peek({ maxEntries: max });
      if (eligible.length === 0) {
        expect(b).toBeNull();
        return null;
      }
      expect(b).not.toBeNull();
      const batch = b as SpoolBatch;
      expect(batch.entries.length).toBeLessThanOrEqual(max);
      if (withFlash.length > 0) expect(withFlash).toContain(batch.entries[0]?.deviceId);
      const perDevice = new Map<string, string[]>();
      for (const e of batch.entries) perDevice.set(e.deviceId, [...(perDevice.get(e.deviceId) ?? []), label(e)]);
      for (const [d, got] of perDevice) {
        const m = model.get(d) as DeviceModel;
        expect(m.inFlight).toBe(0);
        expect(got).toEqual(m.appended.slice(m.delivered, m.delivered + got.length).map((x) => x.label));
        m.inFlight = got.length;
      }
      outstanding.push(batch);
      return batch;
    };
    for (const op of ops) {
      if (op.t === 'append') {
        const es = op.items.map(({ dev, prio }) => {
          const d = DEVICES[dev] as string;
          const e = entry(d, ++counter, SPOOL_PRIORITIES[prio]);
          (model.get(d) as DeviceModel).appended.push({ label: label(e), prio });
          return e;
        });
        await spool.append(es);
      } else if (op.t === 'peek') await peekAndCheck(op.max);
      else if (op.t === 'ack' || op.t === 'nack') {
        if (outstanding.length > 0) settle(op.which, op.t === 'ack');
      } else {
        await spool.close();
        spool = await open();
        outstanding = [];
        for (const m of model.values()) m.inFlight = 0;
      }
    }
    while (outstanding.length > 0) settle(0, true);
    for (let b = await peekAndCheck(7); b !== null; b = await peekAndCheck(7)) settle(outstanding.length - 1, true);
    for (const m of model.values()) expect(m.delivered).toBe(m.appended.length);
    expect(spool.stats()).toMatchObject({ entries: 0, bytes: 0, inFlightEntries: 0 });
  } finally {
    await spool.close();
  }
}

describe('Spool against a model (fast-check)', () => {
  it('MemorySpool', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(false), { maxLength: 60 }), (ops) => check(ops, async () => new MemorySpool())),
      { numRuns: 150 },
    );
  });

  it('FileSpool, with close and reopen', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(true), { maxLength: 50 }), async (ops) => {
        const { dir, cleanup } = await tempDir();
        try {
          await check(ops, () => FileSpool.open({ dir, fsync: 'never', segmentBytes: 4096 }));
        } finally {
          await cleanup();
        }
      }),
      { numRuns: 40 },
    );
  });
});
