import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { isVigilError } from '../../../src/errors';
import { SPOOL_CHANNELS, spoolEntrySize, type Spool, type SpoolBatch, type SpoolDropEvent, type SpoolEntry, type SpoolOptions } from '../../../src/edge/spool';
import { entry, label, labels, manualClock } from './helpers';

/** Opens a spool for one test; `dispose` closes it and removes whatever it left behind. */
export type SpoolFactory = (options: SpoolOptions) => Promise<{ spool: Spool; dispose: () => Promise<void> }>;

async function drainAll(spool: Spool, maxEntries = 1000): Promise<string[]> {
  const out: string[] = [];
  for (let b = await spool.peek({ maxEntries }); b !== null; b = await spool.peek({ maxEntries })) {
    out.push(...labels(b));
    spool.ack(b);
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/**
 * The behaviour every `Spool` implementation must have (docs/architecture.md §8.6): run it against each
 * one with a factory.
 */
export function spoolContract(name: string, factory: SpoolFactory): void {
  describe(`Spool contract: ${name}`, () => {
    const disposers: Array<() => Promise<void>> = [];
    const open = async (options: SpoolOptions = {}): Promise<Spool> => {
      const { spool, dispose } = await factory(options);
      disposers.push(dispose);
      return spool;
    };
    afterEach(async () => {
      while (disposers.length > 0) await (disposers.pop() as () => Promise<void>)();
    });

    it('hands entries out in append order and forgets them once acked', async () => {
      const spool = await open();
      await spool.append([entry('a', 1), entry('b', 1), entry('a', 2)]);
      const batch = (await spool.peek()) as SpoolBatch;
      expect(labels(batch)).toEqual(['a#1', 'b#1', 'a#2']);
      expect(spool.stats()).toMatchObject({ entries: 3, inFlightEntries: 3 });
      spool.ack(batch);
      expect(await spool.peek()).toBeNull();
      expect(spool.stats()).toMatchObject({ entries: 0, bytes: 0, inFlightEntries: 0, counters: { appended: 3, acked: 3 } });
    });

    it('returns entries byte for byte: key, headers, value, expiry, enqueue time', async () => {
      const spool = await open();
      const e: SpoolEntry = {
        deviceId: 'ugs-17 ✓',
        priority: 'immediate',
        topic: 'telemetry.acoustic',
        key: Buffer.from([0, 1, 2, 255]),
        value: Buffer.from('sealed-record-bytes'),
        headers: { 'vigil-key-id': 'k-2024-07', 'vigil-nonce': Buffer.from([9, 8, 7]), empty: '' },
        enqueuedAt: 1_700_000_000_123,
        expiresAt: 9_000_000_000_000,
      };
      const bare: SpoolEntry = { deviceId: 'x', priority: 'routine', topic: 't', value: Buffer.alloc(0), enqueuedAt: 5 };
      await spool.append([e, bare]);
      const batch = (await spool.peek()) as SpoolBatch;
      expect(batch.entries).toHaveLength(2);
      const [got, gotBare] = batch.entries as [SpoolEntry, SpoolEntry];
      expect({ ...got, key: Buffer.from(got.key as Buffer), value: Buffer.from(got.value) }).toEqual(e);
      expect(gotBare).toEqual(bare);
      expect(gotBare.key).toBeUndefined();
      expect(gotBare.headers).toBeUndefined();
      expect(gotBare.expiresAt).toBeUndefined();
      expect(batch.bytes).toBe(spoolEntrySize(e) + spoolEntrySize(bare));
    });

    it('drains flash first, then immediate, then routine, oldest first within a class', async () => {
      const spool = await open();
      await spool.append([entry('r1', 1, 'routine'), entry('i1', 1, 'immediate'), entry('f1', 1, 'flash')]);
      await spool.append([entry('r2', 1, 'routine'), entry('f2', 1, 'flash'), entry('i2', 1, 'immediate')]);
      expect(await drainAll(spool, 2)).toEqual(['f1#1', 'f2#1', 'i1#1', 'i2#1', 'r1#1', 'r2#1']);
    });

    it('never lets a device\'s newer urgent entry overtake its older ones: they are promoted with it', async () => {
      const spool = await open();
      await spool.append([entry('d', 1, 'routine'), entry('e', 1, 'routine'), entry('d', 2, 'immediate'), entry('d', 3, 'flash'), entry('d', 4, 'routine')]);
      const batch = await spool.peek({ maxEntries: 3 });
      // d#3 is flash: d#1 and d#2 go just before it; e's routine entry waits.
      expect(labels(batch)).toEqual(['d#1', 'd#2', 'd#3']);
      spool.ack(batch as SpoolBatch);
      expect(await drainAll(spool)).toEqual(['e#1', 'd#4']);
    });

    it('keeps a prefix in order when a promotion does not fit the batch', async () => {
      const spool = await open();
      await spool.append([entry('d', 1, 'routine'), entry('d', 2, 'routine'), entry('d', 3, 'flash')]);
      const b1 = await spool.peek({ maxEntries: 2 });
      expect(labels(b1)).toEqual(['d#1', 'd#2']);
      spool.ack(b1 as SpoolBatch);
      expect(await drainAll(spool)).toEqual(['d#3']);
    });

    it('keeps a device with a batch in flight out of the next batch until it is settled', async () => {
      const spool = await open();
      await spool.append([entry('a', 1), entry('a', 2), entry('b', 1)]);
      const b1 = (await spool.peek({ maxEntries: 1 })) as SpoolBatch;
      expect(labels(b1)).toEqual(['a#1']);
      const b2 = (await spool.peek()) as SpoolBatch;
      expect(labels(b2)).toEqual(['b#1']); // a#2 waits for a#1
      expect(await spool.peek()).toBeNull();
      spool.ack(b1);
      expect(labels(await spool.peek())).toEqual(['a#2']);
      spool.ack(b2);
    });

    it('redelivers a nacked batch in its places, before newer entries', async () => {
      const spool = await open();
      await spool.append([entry('a', 1), entry('a', 2), entry('b', 1)]);
      const b1 = (await spool.peek({ maxEntries: 2 })) as SpoolBatch;
      expect(labels(b1)).toEqual(['a#1', 'a#2']);
      await spool.append([entry('a', 3)]);
      spool.nack(b1);
      expect(spool.stats().counters.nacked).toBe(2);
      expect(await drainAll(spool, 10)).toEqual(['a#1', 'a#2', 'b#1', 'a#3']);
    });

    it('keeps order per device while appends continue during the drain', async () => {
      const spool = await open();
      const devices = ['a', 'b', 'c', 'd'];
      const next = new Map(devices.map((d) => [d, 1]));
      const seen = new Map<string, number[]>(devices.map((d) => [d, []]));
      const prio = ['routine', 'immediate', 'flash'] as const;
      let round = 0;
      const appendSome = async (): Promise<void> => {
        const batch: SpoolEntry[] = [];
        for (let i = 0; i < 7; i++) {
          const d = devices[(round * 3 + i) % devices.length] as string;
          const n = next.get(d) as number;
          next.set(d, n + 1);
          batch.push(entry(d, n, prio[(round + i) % 3]));
        }
        round++;
        await spool.append(batch);
      };
      for (let i = 0; i < 5; i++) await appendSome();
      for (let step = 0; step < 60; step++) {
        const b = await spool.peek({ maxEntries: 1 + (step % 5) });
        if (step < 40) await appendSome();
        if (b === null) continue;
        if (step % 7 === 3) {
          spool.nack(b);
          continue;
        }
        for (const e of b.entries) (seen.get(e.deviceId) as number[]).push(Number(label(e).split('#')[1]));
        spool.ack(b);
      }
      for (const e of await drainAll(spool, 3)) {
        const [d, n] = e.split('#') as [string, string];
        (seen.get(d) as number[]).push(Number(n));
      }
      for (const d of devices) {
        const total = (next.get(d) as number) - 1;
        expect(seen.get(d)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      }
    });

    it('returns at least one entry even when it exceeds maxBytes, and respects maxBytes otherwise', async () => {
      const spool = await open();
      await spool.append([entry('a', 1, 'routine', {}, 4000), entry('b', 1, 'routine', {}, 100), entry('c', 1, 'routine', {}, 100)]);
      const b1 = (await spool.peek({ maxBytes: 1000 })) as SpoolBatch;
      expect(labels(b1)).toEqual(['a#1']);
      const b2 = (await spool.peek({ maxBytes: spoolEntrySize(entry('b', 1, 'routine', {}, 100)) + 10 })) as SpoolBatch;
      expect(labels(b2)).toEqual(['b#1']);
      spool.ack(b1);
      spool.ack(b2);
    });

    it('accounts budget bytes exactly and reports them per class', async () => {
      const spool = await open();
      const es = [entry('a', 1, 'flash'), entry('b', 1, 'immediate', {}, 200), entry('c', 1, 'routine', {}, 300), entry('c', 2, 'routine')];
      await spool.append(es);
      const size = (e: SpoolEntry): number => spoolEntrySize(e);
      const s = spool.stats();
      expect(s.bytes).toBe(es.reduce((n, e) => n + size(e), 0));
      expect(s.byPriority).toEqual({
        flash: { entries: 1, bytes: size(es[0] as SpoolEntry) },
        immediate: { entries: 1, bytes: size(es[1] as SpoolEntry) },
        routine: { entries: 2, bytes: size(es[2] as SpoolEntry) + size(es[3] as SpoolEntry) },
      });
      await drainAll(spool);
      expect(spool.stats()).toMatchObject({ entries: 0, bytes: 0, byPriority: { flash: { entries: 0, bytes: 0 }, routine: { entries: 0, bytes: 0 } } });
    });

    it('sheds the oldest routine entries first, then immediate, counting and reporting each', async () => {
      const one = spoolEntrySize(entry('x', 1));
      const drops: SpoolDropEvent[] = [];
      const clock = manualClock();
      const spool = await open({ budgetBytes: one * 4, onDrop: (e) => drops.push(e), now: clock.now });
      await spool.append([entry('i', 1, 'immediate'), entry('r', 1, 'routine'), entry('f', 1, 'flash'), entry('r', 2, 'routine')]);
      await spool.append([entry('f', 2, 'flash')]);
      expect(drops.map((d) => [d.reason, d.deviceId, d.priority])).toEqual([['shed', 'r', 'routine']]);
      await spool.append([entry('f', 3, 'flash'), entry('f', 4, 'flash')]);
      expect(drops.map((d) => d.priority)).toEqual(['routine', 'routine', 'immediate']);
      expect(drops[0]).toMatchObject({ bytes: one, enqueuedAt: 1_001, at: clock.now() });
      const s = spool.stats();
      expect(s.counters.shed).toEqual({ flash: 0, immediate: 1, routine: 2 });
      expect(s.bytes).toBeLessThanOrEqual(s.budgetBytes);
      expect(await drainAll(spool)).toEqual(['f#1', 'f#2', 'f#3', 'f#4']);
    });

    it('never sheds flash: refuses the whole append with a retriable VIGIL_E_SPOOL_FULL, changing nothing', async () => {
      const one = spoolEntrySize(entry('x', 1));
      const drops: SpoolDropEvent[] = [];
      const spool = await open({ budgetBytes: one * 3, onDrop: (e) => drops.push(e) });
      await spool.append([entry('f', 1, 'flash'), entry('f', 2, 'flash'), entry('r', 1, 'routine')]);
      const err = await rejection(spool.append([entry('f', 3, 'flash'), entry('f', 4, 'flash')]));
      expect(isVigilError(err, 'VIGIL_E_SPOOL_FULL')).toBe(true);
      expect((err as { retriable: boolean }).retriable).toBe(true);
      expect(drops).toEqual([]); // the planned shedding of r#1 did not happen either
      expect(spool.stats().entries).toBe(3);
      expect(await drainAll(spool)).toEqual(['f#1', 'f#2', 'r#1']);
    });

    it('with shedding off, refuses what does not fit whatever its class and drops nothing it holds', async () => {
      const one = spoolEntrySize(entry('x', 1));
      const drops: SpoolDropEvent[] = [];
      const spool = await open({ budgetBytes: one * 3, shed: false, onDrop: (e) => drops.push(e) });
      await spool.append([entry('r', 1, 'routine'), entry('i', 1, 'immediate'), entry('r', 2, 'routine')]);
      for (const p of ['flash', 'immediate', 'routine'] as const) {
        const err = await rejection(spool.append([entry('n', 1, p)]));
        expect(isVigilError(err, 'VIGIL_E_SPOOL_FULL')).toBe(true);
        expect((err as Error).message).toContain('shedding is off');
      }
      expect(drops).toEqual([]);
      expect(spool.stats().counters.shed).toEqual({ flash: 0, immediate: 0, routine: 0 });
      expect(await drainAll(spool)).toEqual(['i#1', 'r#1', 'r#2']);
    });

    it('does not let a routine entry displace an immediate one', async () => {
      const one = spoolEntrySize(entry('x', 1));
      const spool = await open({ budgetBytes: one * 2 });
      await spool.append([entry('i', 1, 'immediate'), entry('i', 2, 'immediate')]);
      expect(isVigilError(await rejection(spool.append([entry('r', 1, 'routine')])), 'VIGIL_E_SPOOL_FULL')).toBe(true);
      await spool.append([entry('i', 3, 'immediate')]);
      expect(spool.stats().counters.shed.immediate).toBe(1);
      expect(await drainAll(spool)).toEqual(['i#2', 'i#3']);
    });

    it('does not shed entries in flight', async () => {
      const one = spoolEntrySize(entry('x', 1));
      const spool = await open({ budgetBytes: one * 3 });
      await spool.append([entry('r', 1), entry('s', 1), entry('v', 1)]);
      const b = (await spool.peek({ maxEntries: 2 })) as SpoolBatch;
      expect(labels(b)).toEqual(['r#1', 's#1']);
      await spool.append([entry('t', 1, 'flash')]); // sheds v#1, the only waiting routine entry
      expect(isVigilError(await rejection(spool.append([entry('u', 1)])), 'VIGIL_E_SPOOL_FULL')).toBe(true);
      spool.ack(b);
      expect(await drainAll(spool)).toEqual(['t#1']);
      expect(spool.stats().counters.shed.routine).toBe(1);
    });

    it('publishes shed and expiry events on diagnostics_channel', async () => {
      const one = spoolEntrySize(entry('x', 1));
      const clock = manualClock();
      const got: Array<[string, unknown]> = [];
      const onShed = (m: unknown): void => void got.push(['shed', m]);
      const onExpired = (m: unknown): void => void got.push(['expired', m]);
      subscribe(SPOOL_CHANNELS.shed, onShed);
      subscribe(SPOOL_CHANNELS.expired, onExpired);
      try {
        const spool = await open({ budgetBytes: one, now: clock.now });
        await spool.append([entry('a', 1, 'routine', { expiresAt: clock.now() + 10 })]);
        clock.advance(5);
        await spool.append([entry('b', 1, 'routine', { expiresAt: clock.now() + 10 })]);
        clock.advance(20);
        expect(await spool.peek()).toBeNull();
      } finally {
        unsubscribe(SPOOL_CHANNELS.shed, onShed);
        unsubscribe(SPOOL_CHANNELS.expired, onExpired);
      }
      expect(got).toEqual([
        ['shed', expect.objectContaining({ reason: 'shed', deviceId: 'a', priority: 'routine' })],
        ['expired', expect.objectContaining({ reason: 'expired', deviceId: 'b', priority: 'routine' })],
      ]);
    });

    it('drops entries past expiresAt at drain time and counts them', async () => {
      const clock = manualClock();
      const drops: SpoolDropEvent[] = [];
      const spool = await open({ now: clock.now, onDrop: (e) => drops.push(e) });
      const t = clock.now();
      await spool.append([
        entry('a', 1, 'flash', { expiresAt: t + 100 }),
        entry('a', 2, 'routine'),
        entry('b', 1, 'immediate', { expiresAt: t + 1000 }),
        entry('c', 1, 'routine', { expiresAt: t + 50 }),
      ]);
      expect(spool.stats().oldestAgeMs).toBe(t - 1_001);
      clock.advance(100);
      expect(await drainAll(spool)).toEqual(['b#1', 'a#2']);
      expect(drops.map((d) => [d.reason, d.deviceId])).toEqual([['expired', 'a'], ['expired', 'c']]);
      expect(spool.stats().counters.expired).toEqual({ flash: 1, immediate: 0, routine: 1 });
      expect(spool.stats()).toMatchObject({ entries: 0, bytes: 0, oldestAgeMs: 0 });
    });

    it('rejects malformed entries atomically with VIGIL_E_SPOOL_ENTRY_INVALID', async () => {
      const spool = await open({ budgetBytes: 10_000 });
      const bad: unknown[] = [
        { ...entry('a', 1), deviceId: '' },
        { ...entry('a', 1), priority: 'urgent' },
        { ...entry('a', 1), value: 'not a buffer' },
        { ...entry('a', 1), topic: undefined },
        { ...entry('a', 1), enqueuedAt: Number.NaN },
        { ...entry('a', 1), headers: { k: 42 } },
        entry('a', 1, 'flash', {}, 20_000), // larger than the whole budget
      ];
      for (const b of bad) {
        const err = await rejection(spool.append([entry('ok', 1), b as SpoolEntry]));
        expect(isVigilError(err, 'VIGIL_E_SPOOL_ENTRY_INVALID')).toBe(true);
      }
      expect(spool.stats().entries).toBe(0);
    });

    it('refuses to settle a batch twice or one it did not issue', async () => {
      const spool = await open();
      await spool.append([entry('a', 1)]);
      const b = (await spool.peek()) as SpoolBatch;
      spool.ack(b);
      expect(() => spool.ack(b)).toThrow(expect.objectContaining({ code: 'VIGIL_E_SPOOL_BATCH' }));
      expect(() => spool.nack({ id: b.id, entries: [], bytes: 0 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_SPOOL_BATCH' }));
    });

    it('validates peek limits', async () => {
      const spool = await open();
      expect(isVigilError(await rejection(spool.peek({ maxEntries: 0 })), 'VIGIL_E_SPOOL_OPTIONS')).toBe(true);
      expect(isVigilError(await rejection(spool.peek({ maxBytes: 1.5 })), 'VIGIL_E_SPOOL_OPTIONS')).toBe(true);
    });

    it('refuses work once closed', async () => {
      const spool = await open();
      await spool.close();
      await spool.close(); // idempotent
      expect(isVigilError(await rejection(spool.append([entry('a', 1)])), 'VIGIL_E_SPOOL_CLOSED')).toBe(true);
      expect(isVigilError(await rejection(spool.peek()), 'VIGIL_E_SPOOL_CLOSED')).toBe(true);
    });
  });
}
