import { randomUUID } from 'node:crypto';
import { isVigilError, type VigilError } from '../../src/errors';
import type { Bus, BusBatch, BusConsumer, BusConsumerHandlers, BusConsumerOptions, BusMessage, TopicPartition, TopicSpec } from '../../src/bus';

/** How the contract gets buses of one implementation. */
export interface BusHarness {
  /** A bus on the shared broker of this run. */
  create(): Bus;
  /** A bus whose broker cannot be reached (its sends must fail fast, retriably). */
  unreachable(): Bus;
  /** Consumer options that make group changes quick in tests. */
  readonly consumerDefaults?: Partial<BusConsumerOptions>;
  /** What a fully compacted topic holds, where the implementation can show it. */
  compactedView?(bus: Bus, topic: string): BusMessage[];
  /** Longest a delivery or rebalance may take, ms. */
  readonly patienceMs: number;
}

async function rejection(p: Promise<unknown>): Promise<VigilError> {
  try {
    await p;
  } catch (err) {
    if (isVigilError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const str = (b: Buffer | null): string | null => (b === null ? null : b.toString('utf8'));

/** Collects what a consumer receives. */
class Recorder {
  readonly messages: BusMessage[] = [];
  readonly batches: BusBatch[] = [];
  readonly assigned: TopicPartition[][] = [];
  readonly revoked: TopicPartition[][] = [];
  readonly errors: Error[] = [];

  handlers(consumer: BusConsumer, opts: { commit?: boolean; onAssign?: BusConsumerHandlers['onAssign'] } = {}): BusConsumerHandlers {
    return {
      eachBatch: async (batch) => {
        this.batches.push(batch);
        this.messages.push(...batch.messages);
        if (opts.commit === true) await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }]);
      },
      onAssign: async (ps) => {
        this.assigned.push([...ps]);
        await opts.onAssign?.(ps);
      },
      onRevoke: (ps) => {
        this.revoked.push([...ps]);
      },
      onError: (err) => {
        this.errors.push(err);
      },
    };
  }

  values(): Array<string | null> {
    return this.messages.map((m) => str(m.value));
  }
}

/**
 * The behaviour every `Bus` implementation must have (docs/architecture.md §8.6). Run it against each
 * one with a harness: memory in the unit project, Kafka against the real broker.
 */
export function busContract(name: string, harness: BusHarness): void {
  describe(`Bus contract: ${name}`, () => {
    const patience = harness.patienceMs;
    let bus: Bus;
    const topics: string[] = [];
    const extraBuses: Bus[] = [];

    const topic = async (partitions: number, extra: Partial<TopicSpec> = {}): Promise<string> => {
      const t = `vigil-test.bus.${randomUUID()}`;
      topics.push(t);
      const admin = bus.admin();
      await admin.ensureTopics([{ topic: t, partitions, ...extra }]);
      await admin.close();
      return t;
    };
    const consumer = (groupId: string, opts: Partial<BusConsumerOptions> = {}): BusConsumer =>
      bus.consumer({ ...harness.consumerDefaults, groupId, fromBeginning: true, ...opts });
    const group = (): string => `vigil-test.group.${randomUUID()}`;

    beforeAll(() => {
      bus = harness.create();
    });

    afterAll(async () => {
      const admin = bus.admin();
      await admin.deleteTopics(topics);
      await admin.close();
      await bus.close();
      await Promise.all(extraBuses.map((b) => b.close()));
    });

    it('round-trips keys, values, tombstones, headers and timestamps, with string offsets rising per partition', async () => {
      const t = await topic(1);
      const producer = bus.producer();
      await producer.send(t, [
        { key: 'ugv-7', value: Buffer.from([0, 1, 2, 255]), headers: { 'vigil-key-id': 'k-2026-01', bin: Buffer.from([9, 8, 7]) }, timestamp: 1_700_000_000_123 },
        { key: Buffer.from('ugv-8'), value: 'text' },
        { key: null, value: null },
      ]);
      const c = consumer(group());
      const rec = new Recorder();
      await c.subscribe([t]);
      await c.run(rec.handlers(c));
      await waitFor('3 messages', () => rec.messages.length >= 3, patience);
      const [a, b, tomb] = rec.messages as [BusMessage, BusMessage, BusMessage];
      expect(a.value).toEqual(Buffer.from([0, 1, 2, 255]));
      expect(str(a.key)).toBe('ugv-7');
      expect(a.headers).toEqual({ 'vigil-key-id': Buffer.from('k-2026-01'), bin: Buffer.from([9, 8, 7]) });
      expect(a.timestamp).toBe(1_700_000_000_123);
      expect(a.topic).toBe(t);
      expect(a.partition).toBe(0);
      expect(str(b.value)).toBe('text');
      expect(b.headers).toEqual({});
      expect(Math.abs(b.timestamp - Date.now())).toBeLessThan(60_000);
      expect(tomb.key).toBeNull();
      expect(tomb.value).toBeNull();
      expect(typeof a.offset).toBe('string');
      expect([Number(a.offset) < Number(b.offset), Number(b.offset) < Number(tomb.offset)]).toEqual([true, true]);
      expect(rec.batches[rec.batches.length - 1]?.nextOffset).toBe(String(Number(tomb.offset) + 1));
      await c.close();
      await producer.close();
    });

    it('keeps order per key across partitions, one partition per key', async () => {
      const t = await topic(4);
      const producer = bus.producer();
      const KEYS = 20;
      const PER_KEY = 50;
      for (let round = 0; round < PER_KEY; round += 10) {
        const msgs = [];
        for (let s = round; s < round + 10; s++) for (let k = 0; k < KEYS; k++) msgs.push({ key: `dev-${k}`, value: String(s) });
        await producer.send(t, msgs);
      }
      const c = consumer(group());
      const rec = new Recorder();
      await c.subscribe([t]);
      await c.run(rec.handlers(c));
      await waitFor('all messages', () => rec.messages.length >= KEYS * PER_KEY, patience);
      const seqs = new Map<string, number[]>();
      const partOf = new Map<string, Set<number>>();
      for (const m of rec.messages) {
        const k = str(m.key) as string;
        (seqs.get(k) ?? seqs.set(k, []).get(k))?.push(Number(str(m.value)));
        (partOf.get(k) ?? partOf.set(k, new Set()).get(k))?.add(m.partition);
      }
      expect(seqs.size).toBe(KEYS);
      for (const [k, s] of seqs) expect({ k, s }).toEqual({ k, s: Array.from({ length: PER_KEY }, (_, i) => i) });
      for (const ps of partOf.values()) expect(ps.size).toBe(1);
      expect(new Set([...partOf.values()].map((ps) => [...ps][0])).size).toBeGreaterThan(1);
      await c.close();
      await producer.close();
    });

    it('group-commits 1000 concurrent sends: every one resolves, all land once, in order per key', async () => {
      const t = await topic(3);
      const producer = bus.producer();
      const N = 1000;
      await Promise.all(Array.from({ length: N }, (_, i) => producer.send(t, [{ key: `dev-${i % 10}`, value: String(i), headers: { seq: String(i) } }])));
      await producer.flush();
      const c = consumer(group());
      const rec = new Recorder();
      await c.subscribe([t]);
      await c.run(rec.handlers(c));
      await waitFor('1000 messages', () => rec.messages.length >= N, patience);
      expect(rec.messages).toHaveLength(N);
      const byKey = new Map<string, number[]>();
      for (const m of rec.messages) (byKey.get(str(m.key) as string) ?? byKey.set(str(m.key) as string, []).get(str(m.key) as string))?.push(Number(str(m.value)));
      for (const [k, vs] of byKey) expect({ k, vs }).toEqual({ k, vs: [...vs].sort((x, y) => x - y) });
      expect(new Set(rec.values()).size).toBe(N);
      await c.close();
      await producer.close();
    });

    it('splits partitions between two members of a group: every message exactly once between them', async () => {
      const t = await topic(4);
      const gid = group();
      const a = consumer(gid);
      const b = consumer(gid);
      const ra = new Recorder();
      const rb = new Recorder();
      await a.subscribe([t]);
      await b.subscribe([t]);
      await Promise.all([a.run(ra.handlers(a, { commit: true })), b.run(rb.handlers(b, { commit: true }))]);
      await waitFor('both members to hold partitions', () => a.assignment().length > 0 && b.assignment().length > 0 && a.assignment().length + b.assignment().length === 4, patience);
      const held = [...a.assignment(), ...b.assignment()].map((tp) => tp.partition).sort();
      expect(held).toEqual([0, 1, 2, 3]);

      const producer = bus.producer();
      const N = 2000;
      await producer.send(t, Array.from({ length: N }, (_, i) => ({ key: `dev-${i % 40}`, value: String(i) })));
      await waitFor('all messages', () => ra.messages.length + rb.messages.length >= N, patience);
      await new Promise((r) => setTimeout(r, 300)); // let any duplicate show itself
      const all = [...ra.values(), ...rb.values()];
      expect(all).toHaveLength(N);
      expect(new Set(all).size).toBe(N);
      expect(ra.messages.length).toBeGreaterThan(0);
      expect(rb.messages.length).toBeGreaterThan(0);
      const aParts = new Set(a.assignment().map((tp) => tp.partition));
      for (const m of ra.messages) expect(aParts.has(m.partition)).toBe(true);
      await Promise.all([a.close(), b.close()]);
      await producer.close();
    });

    it('rebalances when a member leaves: the survivor takes its partitions from the committed offsets, nothing lost', async () => {
      const t = await topic(2);
      const gid = group();
      const a = consumer(gid);
      const b = consumer(gid);
      const ra = new Recorder();
      const rb = new Recorder();
      await a.subscribe([t]);
      await b.subscribe([t]);
      await Promise.all([a.run(ra.handlers(a, { commit: true })), b.run(rb.handlers(b, { commit: true }))]);
      await waitFor('both members to hold one partition', () => a.assignment().length === 1 && b.assignment().length === 1, patience);
      const bPartition = (b.assignment()[0] as TopicPartition).partition;

      const producer = bus.producer();
      const first = Array.from({ length: 200 }, (_, i) => ({ key: null, partition: i % 2, value: `first-${i}` }));
      await producer.send(t, first);
      await waitFor('first wave', () => ra.messages.length + rb.messages.length >= 200, patience);

      const assignsBefore = ra.assigned.length;
      await b.close();
      expect(rb.revoked.flat()).toEqual([{ topic: t, partition: bPartition }]);
      await waitFor('a to own both partitions', () => a.assignment().length === 2, patience);
      expect(ra.assigned.slice(assignsBefore).flat()).toEqual([{ topic: t, partition: bPartition }]);

      const second = Array.from({ length: 200 }, (_, i) => ({ key: null, partition: i % 2, value: `second-${i}` }));
      await producer.send(t, second);
      await waitFor('second wave at a', () => ra.values().filter((v) => v?.startsWith('second-')).length >= 200, patience);
      const everything = new Set([...ra.values(), ...rb.values()]);
      for (const m of [...first, ...second]) expect(everything.has(m.value)).toBe(true);
      // b committed all it processed, so a re-reads nothing of the first wave from b's partition.
      expect(ra.messages.filter((m) => m.partition === bPartition && str(m.value)?.startsWith('first-'))).toEqual([]);
      expect(ra.errors).toEqual([]);
      await a.close();
      await producer.close();
    });

    it('redelivers messages after the last commit to the next owner (at-least-once)', async () => {
      const t = await topic(1);
      const gid = group();
      const producer = bus.producer();
      await producer.send(t, Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })));
      const a = consumer(gid);
      const ra = new Recorder();
      await a.subscribe([t]);
      let committedOnce = false;
      await a.run({
        ...ra.handlers(a),
        eachBatch: async (batch) => {
          ra.messages.push(...batch.messages);
          if (!committedOnce) {
            committedOnce = true;
            const fifth = batch.messages[4] as BusMessage;
            await a.commit([{ topic: t, partition: 0, offset: String(Number(fifth.offset) + 1) }]);
          }
        },
      });
      await waitFor('10 messages at a', () => ra.messages.length >= 10, patience);
      await a.close();
      const b = consumer(gid);
      const rb = new Recorder();
      await b.subscribe([t]);
      await b.run(rb.handlers(b));
      await waitFor('the uncommitted 5 at b', () => rb.messages.length >= 5, patience);
      expect(rb.values()).toEqual(['5', '6', '7', '8', '9']);
      await b.close();
      await producer.close();
    });

    it('seeks on assignment (restore from a checkpoint) before anything of the partition is delivered', async () => {
      const t = await topic(2);
      const producer = bus.producer();
      await producer.send(t, Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: String(i), key: null })));
      const c = consumer(group());
      const rec = new Recorder();
      await c.subscribe([t]);
      await c.run(
        rec.handlers(c, {
          onAssign: async (ps) => {
            await new Promise((r) => setTimeout(r, 50)); // a checkpoint read takes a while
            for (const p of ps) c.seek({ ...p, offset: p.partition === 0 ? '7' : '9' });
          },
        }),
      );
      await waitFor('the tails', () => rec.messages.length >= 4, patience);
      await new Promise((r) => setTimeout(r, 300));
      const p0 = rec.messages.filter((m) => m.partition === 0).map((m) => m.offset);
      const p1 = rec.messages.filter((m) => m.partition === 1).map((m) => m.offset);
      expect(p0).toEqual(['7', '8', '9']);
      expect(p1).toEqual(['9']);
      await c.close();
      await producer.close();
    });

    it('starts a new group at the end unless fromBeginning', async () => {
      const t = await topic(1);
      const producer = bus.producer();
      await producer.send(t, [{ key: 'k', value: 'old' }]);
      const c = consumer(group(), { fromBeginning: false });
      const rec = new Recorder();
      await c.subscribe([t]);
      await c.run(rec.handlers(c));
      await producer.send(t, [{ key: 'k', value: 'new' }]);
      await waitFor('the new message', () => rec.messages.length >= 1, patience);
      expect(rec.values()).toEqual(['new']);
      await c.close();
      await producer.close();
    });

    it('makes compacted topics, whose replay folds to the last value per key (tombstones delete)', async () => {
      const t = await topic(2, { compacted: true });
      const admin = bus.admin();
      const d = await admin.describeTopic(t);
      expect(d?.partitions).toBe(2);
      expect(d?.config['cleanup.policy']).toBe('compact');
      expect(await admin.describeTopic(`vigil-test.absent.${randomUUID()}`)).toBeNull();
      await admin.close();
      const producer = bus.producer();
      await producer.send(t, [
        { key: 'a', value: 'a1' },
        { key: 'b', value: 'b1' },
        { key: 'a', value: 'a2' },
        { key: 'c', value: 'c1' },
      ]);
      await producer.send(t, [{ key: 'b', value: null }, { key: 'c', value: 'c2' }]);
      const c = consumer(group());
      const rec = new Recorder();
      await c.subscribe([t]);
      await c.run(rec.handlers(c));
      await waitFor('the last record of each key', () => rec.values().includes('c2') && rec.values().includes('a2') && rec.messages.some((m) => str(m.key) === 'b' && m.value === null), patience);
      const state = new Map<string, string>();
      for (const m of rec.messages) {
        if (m.value === null) state.delete(str(m.key) as string);
        else state.set(str(m.key) as string, str(m.value) as string);
      }
      expect(Object.fromEntries(state)).toEqual({ a: 'a2', c: 'c2' });
      if (harness.compactedView !== undefined) {
        const view = harness.compactedView(bus, t).map((m) => [str(m.key), str(m.value)]);
        expect(view.sort()).toEqual([
          ['a', 'a2'],
          ['c', 'c2'],
        ]);
      }
      await c.close();
      await producer.close();
    });

    it('ensureTopics is idempotent and grows partitions; listTopics sees them', async () => {
      const t = await topic(1);
      const admin = bus.admin();
      await admin.ensureTopics([{ topic: t, partitions: 1 }]);
      await admin.ensureTopics([{ topic: t, partitions: 3 }]);
      expect((await admin.describeTopic(t))?.partitions).toBe(3);
      expect(await admin.listTopics()).toContain(t);
      expect((await rejection(admin.ensureTopics([{ topic: 'bad name!', partitions: 1 }]))).code).toBe('VIGIL_E_BUS_OPTIONS');
      await admin.close();
    });

    it('offsets: start and end of every partition, now (a snapshot a reader can stop at)', async () => {
      const t = await topic(2);
      const admin = bus.admin();
      expect(await admin.offsets(t)).toEqual([
        { topic: t, partition: 0, start: '0', end: '0' },
        { topic: t, partition: 1, start: '0', end: '0' },
      ]);
      const producer = bus.producer();
      await producer.send(t, [{ value: 'a', partition: 1 }, { value: 'b', partition: 1 }, { value: 'c', partition: 0 }]);
      expect(await admin.offsets(t)).toEqual([
        { topic: t, partition: 0, start: '0', end: '1' },
        { topic: t, partition: 1, start: '0', end: '2' },
      ]);
      expect((await rejection(admin.offsets(`vigil-test.absent.${randomUUID()}`))).code).toBe('VIGIL_E_BUS_TOPIC_UNKNOWN');
      await producer.close();
      await admin.close();
    });

    it('refuses to subscribe to a topic that does not exist', async () => {
      const c = consumer(group());
      const err = await rejection(c.subscribe([`vigil-test.absent.${randomUUID()}`]));
      expect(err.code).toBe('VIGIL_E_BUS_TOPIC_UNKNOWN');
      await c.close();
    });

    it('refuses commits and seeks for partitions the member does not own', async () => {
      const t = await topic(1);
      const c = consumer(group());
      await c.subscribe([t]);
      await c.run({ eachBatch: () => undefined });
      await waitFor('assignment', () => c.assignment().length === 1, patience);
      const err = await rejection(c.commit([{ topic: t, partition: 5, offset: '1' }]));
      expect(err.code).toBe('VIGIL_E_BUS_NOT_ASSIGNED');
      expect(err.retriable).toBe(false);
      expect(() => c.seek({ topic: `${t}-other`, partition: 0, offset: '0' })).toThrow(expect.objectContaining({ code: 'VIGIL_E_BUS_NOT_ASSIGNED' }));
      await c.commit([{ topic: t, partition: 0, offset: '0' }]);
      await c.close();
    });

    it('reports a throwing handler through onError and leaves the group, its partitions going to the others', async () => {
      const t = await topic(2);
      const gid = group();
      const good = consumer(gid);
      const bad = consumer(gid);
      const rg = new Recorder();
      const errors: Error[] = [];
      await good.subscribe([t]);
      await bad.subscribe([t]);
      await Promise.all([
        good.run(rg.handlers(good, { commit: true })),
        bad.run({
          eachBatch: () => {
            throw new Error('pipeline bug');
          },
          onError: (e) => errors.push(e),
        }),
      ]);
      await waitFor('both members to hold one partition', () => good.assignment().length === 1 && bad.assignment().length === 1, patience);
      const producer = bus.producer();
      await producer.send(t, [
        { key: null, partition: 0, value: 'p0' },
        { key: null, partition: 1, value: 'p1' },
      ]);
      await waitFor('the good member to read both', () => rg.values().includes('p0') && rg.values().includes('p1'), patience);
      expect(errors.map((e) => e.message)).toEqual(['pipeline bug']);
      await waitFor('bad to hold nothing', () => bad.assignment().length === 0, patience);
      await Promise.all([good.close(), bad.close()]);
      await producer.close();
    });

    it('rejects sends to a topic that does not exist, with a bad partition or after close', async () => {
      const t = await topic(1);
      const producer = bus.producer();
      const unknown = await rejection(producer.send(`vigil-test.absent.${randomUUID()}`, [{ key: 'k', value: 'v' }]));
      expect(unknown.code).toBe('VIGIL_E_BUS_TOPIC_UNKNOWN');
      // Concurrent with good sends (merged by group commit): only the bad ones fail.
      const mixed = await Promise.allSettled([
        producer.send(t, [{ key: 'k', value: 'good-1' }]),
        producer.send(t, [{ key: null, value: 'bad', partition: 7 }]),
        producer.send(`vigil-test.absent.${randomUUID()}`, [{ key: 'k', value: 'bad' }]),
        producer.send(t, [{ key: 'k', value: 'good-2' }]),
      ]);
      expect(mixed.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      expect(((mixed[1] as PromiseRejectedResult).reason as VigilError).code).toBe('VIGIL_E_BUS_TOPIC_UNKNOWN');
      await producer.send(t, [{ key: 'k', value: 'v' }]);
      expect(bus.isConnected()).toBe(true);
      await producer.close();
      await producer.close();
      const closed = await rejection(producer.send(t, [{ key: 'k', value: 'v' }]));
      expect(closed.code).toBe('VIGIL_E_BUS_CLOSED');
      expect(closed.retriable).toBe(false);
      expect(closed.message).toMatch(/closed/);
    });

    it('fails a send within a bounded time, retriably, when the broker cannot be reached', async () => {
      const down = harness.unreachable();
      extraBuses.push(down);
      const seen: boolean[] = [];
      down.onConnectionChange((c) => seen.push(c));
      const producer = down.producer();
      const started = Date.now();
      const err = await rejection(producer.send('telemetry.position', [{ key: 'ugv-7', value: 'sealed' }]));
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(err.code).toBe('VIGIL_E_BUS_UNAVAILABLE');
      expect(err.retriable).toBe(true);
      expect(down.isConnected()).toBe(false);
      // Still bounded, still retriable, on a second try: nothing hangs behind the first.
      const again = await rejection(producer.send('telemetry.position', [{ key: 'ugv-7', value: 'sealed' }]));
      expect(again.code).toBe('VIGIL_E_BUS_UNAVAILABLE');
      expect(seen.every((c) => c === false)).toBe(true);
      await producer.close();
    });
  });
}
