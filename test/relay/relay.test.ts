import { MemoryBus, type Bus, type BusMessage, type BusProducer, type OutgoingMessage } from '../../src/bus';
import { RECORD_KEY_ID_HEADER, type DerivedRecord } from '../../src/codec';
import { MemorySpool, type Spool } from '../../src/edge/spool';
import { VigilError } from '../../src/errors';
import { createMetrics, registerRelayMetrics } from '../../src/metrics';
import { Relay, RELAY_ID_HEADER, TokenBucket, type RelayEvent, type RelayOptions } from '../../src/relay';
import { ReleaseThread } from '../../src/relay/release-thread';
import { until } from '../harness/until';
import { GBR_ONLY, RELEASABLE, relayFixture, sealedMessage, TOP, vitalsRecord, type RelayFixture } from './relay-fixture';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const SOURCE = 'derived.vitals';
const DEST = 'theatre.north.derived.vitals';

interface Rig {
  readonly f: RelayFixture;
  readonly theatre: MemoryBus;
  readonly command: MemoryBus;
  readonly spool: Spool;
  relay: Relay;
  publish(records: readonly DerivedRecord[]): Promise<void>;
  received(): BusMessage[];
  start(extra?: Partial<RelayOptions>): Promise<Relay>;
  close(): Promise<void>;
}

async function rig(options: { stream?: Record<string, unknown>; spool?: Spool; destination?: (bus: MemoryBus) => Bus } = {}): Promise<Rig> {
  const f = relayFixture(options.stream);
  const theatre = new MemoryBus();
  const command = new MemoryBus();
  await theatre.admin().ensureTopics([{ topic: SOURCE, partitions: 2 }]);
  const producer = theatre.producer();
  const relays: Relay[] = [];
  const spool = options.spool ?? new MemorySpool();
  const r: Rig = {
    f,
    theatre,
    command,
    spool,
    relay: undefined as unknown as Relay,
    publish: (records) => producer.send(SOURCE, records.map((x) => sealedMessage(f, x))),
    received: () => {
      const t = command.broker.topic(DEST);
      if (t === undefined) return [];
      const out: BusMessage[] = [];
      for (const log of t.logs) out.push(...log.read(0, Number.MAX_SAFE_INTEGER));
      return out;
    },
    start: async (extra = {}) => {
      const relay = new Relay({ policy: f.policy, keys: f.keys, source: theatre, destination: options.destination?.(command) ?? command, spool, retryMinMs: 10, retryMaxMs: 50, ...extra });
      relays.push(relay);
      r.relay = relay;
      await relay.start();
      return relay;
    },
    close: async () => {
      for (const x of relays) await x.stop();
      await theatre.close();
      await command.close();
    },
  };
  return r;
}

function opened(r: Rig): DerivedRecord[] {
  return r.received().map((m) => {
    expect(m.headers[RECORD_KEY_ID_HEADER]?.toString()).toBe(r.f.relayKey.keyId);
    return r.f.codec.open(m.value as Buffer, r.f.relayKey) as DerivedRecord;
  });
}

function ids(r: Rig): string[] {
  return r.received().map((m) => m.headers[RELAY_ID_HEADER]?.toString() ?? '');
}

/** A destination whose sends land but, while `lose()` says so, report a failure: a lost acknowledgement. */
function losingDestination(lose: () => boolean): (bus: MemoryBus) => Bus {
  return (bus) =>
    Object.assign(Object.create(bus) as Bus, {
      producer: (): BusProducer => {
        const p = bus.producer();
        return {
          send: async (topic: string, messages: readonly OutgoingMessage[]) => {
            await p.send(topic, messages);
            if (lose()) throw new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'the acknowledgement was lost');
          },
          flush: () => p.flush(),
          close: () => p.close(),
        };
      },
    });
}

const stats = (n: number, label = RELEASABLE, from = 0): DerivedRecord[] => Array.from({ length: n }, (_, i) => vitalsRecord(`sol-${(from + i) % 5}`, T0 + (from + i) * 10_000, label));

describe('Relay (memory buses)', () => {
  it('relays only releasable records, re-sealed, and counts the rest by reason', async () => {
    const r = await rig();
    try {
      await r.start();
      await r.publish([...stats(6), ...stats(3, TOP, 100), ...stats(2, GBR_ONLY, 200)]);
      await until(() => r.relay.stats().relayed === 6 && r.relay.stats().withheld['not-releasable'] === 2, 5000, 'relayed');
      const got = opened(r);
      expect(got).toHaveLength(6);
      expect(new Set(got.map((x) => x.label))).toEqual(new Set([RELEASABLE]));
      expect(r.relay.stats()).toMatchObject({ relayed: 6, queued: 6, withheld: { 'above-ceiling': 3, 'not-releasable': 2, unreadable: 0 }, backlogRecords: 0, link: 'up' });
      // The source offsets are committed (both partitions) once the queue held the records.
      const g = r.theatre.broker.group('vigil.relay.north-to-command');
      expect((g.committed(SOURCE, 0) ?? 0) + (g.committed(SOURCE, 1) ?? 0)).toBe(11);
    } finally {
      await r.close();
    }
  });

  it('with the release thread: the same records relayed and withheld, offsets committed; when the thread dies, releases on its own thread and loses nothing', async () => {
    const r = await rig({ stream: { redact: ['heartRateMeanBpm'] } });
    const events: RelayEvent[] = [];
    try {
      await r.start({ releaseThread: true, batchMaxRecords: 7, onEvent: (e) => events.push(e) });
      await r.publish([...stats(40), ...stats(9, TOP, 100), ...stats(5, GBR_ONLY, 200)]);
      await until(() => r.relay.stats().relayed === 40 && r.relay.stats().withheld['not-releasable'] === 5, 10_000, 'relayed');
      expect(r.relay.stats()).toMatchObject({ relayed: 40, queued: 40, redactedFields: 40, withheld: { 'above-ceiling': 9, 'not-releasable': 5, unreadable: 0 } });
      await ReleaseThread.shutdown();
      await r.publish(stats(30, RELEASABLE, 300));
      await until(() => r.relay.stats().relayed === 70, 10_000, 'relayed after the thread stopped');
      const got = opened(r);
      expect(new Set(ids(r)).size).toBe(70);
      expect(got.every((x) => x.values.heartRateMeanBpm === undefined && x.values.readings === 4)).toBe(true);
      expect(events.filter((e) => e.event === 'release-thread-failed')).toHaveLength(1);
      const g = r.theatre.broker.group('vigil.relay.north-to-command');
      expect((g.committed(SOURCE, 0) ?? 0) + (g.committed(SOURCE, 1) ?? 0)).toBe(84);
    } finally {
      await r.close();
      await ReleaseThread.shutdown();
    }
  });

  it('does not commit source offsets while the queue cannot take the records', async () => {
    const inner = new MemorySpool();
    let full = true;
    let refused = 0;
    const spool: Spool = Object.assign(Object.create(inner) as Spool, {
      append: (entries: Parameters<Spool['append']>[0]) => {
        if (!full) return inner.append(entries);
        refused++;
        return Promise.reject(new VigilError('VIGIL_E_SPOOL_FULL', 'full'));
      },
    });
    const r = await rig({ spool });
    try {
      await r.start();
      await r.publish(stats(4));
      const g = r.theatre.broker.group('vigil.relay.north-to-command');
      await until(() => refused >= 3, 5000, 'appends refused');
      expect(r.relay.stats().queued).toBe(0);
      expect([g.committed(SOURCE, 0), g.committed(SOURCE, 1)]).toEqual([undefined, undefined]);
      full = false;
      await until(() => r.relay.stats().relayed === 4, 5000, 'relayed after the queue took them');
      await until(() => (g.committed(SOURCE, 0) ?? 0) + (g.committed(SOURCE, 1) ?? 0) === 4, 5000, 'committed');
    } finally {
      await r.close();
    }
  });

  it('queues through an outage, sends flash alerts first when the link returns, and drains the backlog once', async () => {
    const r = await rig();
    try {
      await r.start({ batchMaxRecords: 2 });
      await r.publish(stats(3));
      await until(() => r.relay.stats().relayed === 3, 5000, 'first records');
      r.command.broker.setAvailable(false);
      await r.publish(stats(10, RELEASABLE, 10));
      await until(() => r.relay.stats().queued === 13, 5000, 'queued');
      await r.publish([vitalsRecord('sol-1/hr-high/raised', T0 + 500_000, RELEASABLE, { alarm: true, heartRateBpm: 185 }), vitalsRecord('sol-2/spo2-low/raised', T0 + 510_000, RELEASABLE, { alarm: true, spo2Pct: 84 })]);
      await until(() => r.relay.stats().queued === 15 && r.relay.stats().link === 'down', 5000, 'alerts queued, link down');
      expect(r.relay.stats().backlogRecords).toBe(12);
      r.command.broker.setAvailable(true);
      await until(() => r.relay.stats().relayed === 15 && r.relay.stats().backlogRecords === 0, 5000, 'backlog drained');
      const got = opened(r);
      // Flash first: the two alerts are the first records after the three sent before the cut.
      expect(got.slice(3, 5).map((x) => x.values.alarm)).toEqual([true, true]);
      expect(new Set(ids(r)).size).toBe(15);
      expect(ids(r)).toHaveLength(15);
    } finally {
      await r.close();
    }
  });

  it('restarts its theatre consumer after a retriable failure (a coordinator still loading) and relays everything once', async () => {
    const r = await rig();
    const failing = (code: 'VIGIL_E_BUS_UNAVAILABLE' | 'VIGIL_E_BUS_OPTIONS', times: number): Bus => {
      let made = 0;
      return Object.assign(Object.create(r.theatre) as Bus, {
        consumer: (o: Parameters<Bus['consumer']>[0]) => {
          const c = r.theatre.consumer(o);
          if (made++ >= times) return c;
          // Joins, then crashes as kafkajs does when the group coordinator is not ready.
          return Object.assign(Object.create(c) as typeof c, {
            run: (h: Parameters<typeof c.run>[0]) => {
              setTimeout(() => h.onError?.(new VigilError(code, 'The coordinator is loading and hence can\'t process requests for this group')), 5);
              return Promise.resolve();
            },
          });
        },
      });
    };
    try {
      await r.publish(stats(5));
      await r.start({ source: failing('VIGIL_E_BUS_UNAVAILABLE', 2) });
      await until(() => r.relay.stats().relayed === 5, 5000, 'relayed after two consumer restarts');
      await r.publish(stats(3, RELEASABLE, 5));
      await until(() => r.relay.stats().relayed === 8, 5000, 'later records relayed');
      expect(new Set(ids(r)).size).toBe(8);
      expect(r.relay.failure).toBeUndefined();
      await r.relay.stop();
      // Not retriable: no restart, the failure is reported (readiness).
      await r.start({ source: failing('VIGIL_E_BUS_OPTIONS', 1) });
      await until(() => r.relay.failure !== undefined, 5000, 'failure reported');
      expect(r.relay.failure?.message).toMatch(/coordinator is loading/);
    } finally {
      await r.close();
    }
  });

  it('does not send again what the destination holds when its acknowledgement was lost', async () => {
    let lose = 2;
    const losing = losingDestination(() => lose-- > 0);
    const r = await rig({ destination: losing });
    try {
      await r.start({ batchMaxRecords: 4 });
      await r.publish(stats(12));
      await until(() => r.relay.stats().relayed + r.relay.stats().duplicatesSkipped >= 12 && r.relay.stats().backlogRecords === 0, 5000, 'all delivered');
      expect(r.relay.stats().sendFailures).toBe(2);
      expect(r.relay.stats().duplicatesSkipped).toBeGreaterThan(0);
      expect(ids(r)).toHaveLength(12);
      expect(new Set(ids(r)).size).toBe(12);
    } finally {
      await r.close();
    }
  });

  it('after a failed send reads back only what is as recent as the send: nothing (and no consumer) when nothing landed, the landed records when the acknowledgement was lost', async () => {
    let consumers = 0;
    let lose = 0;
    const counting = (bus: MemoryBus): Bus => {
      const losing = losingDestination(() => lose-- > 0)(bus);
      return Object.assign(Object.create(losing) as Bus, {
        consumer: (o: Parameters<Bus['consumer']>[0]) => {
          consumers++;
          return bus.consumer(o);
        },
      });
    };
    const r = await rig({ destination: counting });
    const reconciled: number[] = [];
    try {
      await r.start({ batchMaxRecords: 4, onEvent: (e) => void (e.event === 'reconciled' && reconciled.push(e.records ?? -1)) });
      await r.publish(stats(8));
      await until(() => r.relay.stats().relayed === 8, 5000, 'first records');
      // Past the read-back's margin for a clock stepped back (1 s): those 8 are older than any later send.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      // A cut: sends fail and land nowhere. The read-back by time finds nothing and joins no group.
      r.command.broker.setAvailable(false);
      await r.publish(stats(4, RELEASABLE, 20));
      await until(() => r.relay.stats().sendFailures >= 1, 5000, 'a failed send');
      r.command.broker.setAvailable(true);
      await until(() => r.relay.stats().relayed === 12, 5000, 'the cut batch');
      expect(consumers).toBe(0);
      expect(reconciled.slice(1).every((n) => n === 0)).toBe(true);
      // A lost acknowledgement: the batch landed; the read-back reads it (and no more) and skips it.
      lose = 1;
      await r.publish(stats(4, RELEASABLE, 40));
      await until(() => r.relay.stats().relayed + r.relay.stats().duplicatesSkipped >= 16 && r.relay.stats().backlogRecords === 0, 5000, 'all delivered');
      expect(consumers).toBe(1);
      // The landed batch was read back and skipped; at most the lookback (twice the batch) was read, never the whole topic.
      const skipped = r.relay.stats().duplicatesSkipped;
      expect(skipped).toBeGreaterThan(0);
      expect(reconciled[reconciled.length - 1]).toBeGreaterThanOrEqual(skipped);
      expect(reconciled[reconciled.length - 1]).toBeLessThanOrEqual(8);
      expect(ids(r)).toHaveLength(16);
      expect(new Set(ids(r)).size).toBe(16);
    } finally {
      await r.close();
    }
  });

  it('after a restart reads the destination back and skips what it already holds', async () => {
    const spool = new MemorySpool();
    // The first relay's sends land but fail, and then the destination cannot be read back either:
    // it stops holding queued records the destination already has (as a crash after a send would).
    let lose = true;
    let failed = false;
    const losing = (bus: MemoryBus): Bus => {
      const base = losingDestination(() => lose && (failed = true))(bus);
      return Object.assign(Object.create(base) as Bus, {
        admin: () => (lose && failed ? Object.assign(Object.create(bus.admin()) as object, { offsets: () => Promise.reject(new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'cut')), ensureTopics: () => Promise.reject(new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'cut')) }) : bus.admin()),
      });
    };
    const r = await rig({ spool, destination: losing });
    try {
      const first = await r.start({ batchMaxRecords: 50 });
      await r.publish(stats(5));
      await until(() => first.stats().queued === 5 && first.stats().sendFailures >= 1 && first.stats().link === 'down', 5000, 'a send whose acknowledgement was lost');
      await first.stop();
      const landed = ids(r).length;
      expect(landed).toBeGreaterThan(0);
      expect(first.stats().backlogRecords).toBe(5);
      lose = false;
      const second = await r.start({ batchMaxRecords: 50 });
      await until(() => second.stats().backlogRecords === 0, 5000, 'queue drained');
      expect(second.stats().duplicatesSkipped).toBe(landed);
      expect(second.stats().relayed).toBe(5 - landed);
      expect(new Set(ids(r)).size).toBe(5);
      expect(ids(r)).toHaveLength(5);
    } finally {
      await r.close();
    }
  });

  it('sheds routine records when the queue is full and counts every one', async () => {
    let relay: Relay | undefined;
    const spool = new MemorySpool({ budgetBytes: 3000, onDrop: (e) => relay?.onShed(e) });
    const r = await rig({ spool });
    try {
      relay = await r.start();
      r.command.broker.setAvailable(false);
      // One at a time: an append is atomic, so a source batch larger than the whole budget would wait instead.
      for (const [i, rec] of stats(20).entries()) {
        await r.publish([rec]);
        await until(() => r.relay.stats().queued === i + 1, 5000, `record ${i} queued`);
      }
      const shed = r.relay.stats().shed.routine;
      expect(shed).toBeGreaterThan(0);
      r.command.broker.setAvailable(true);
      await until(() => r.relay.stats().backlogRecords === 0 && r.relay.stats().link === 'up', 5000, 'drained');
      expect(r.relay.stats().relayed + shed).toBe(20);
      expect(r.received()).toHaveLength(20 - shed);
    } finally {
      await r.close();
    }
  });

  it('reports a queue that fails on disk as a failure (readiness), never as an unhandled rejection', async () => {
    const inner = new MemorySpool();
    const spool: Spool = Object.assign(Object.create(inner) as Spool, { flush: () => Promise.reject(new VigilError('VIGIL_E_SPOOL_IO', 'disk gone')) });
    const r = await rig({ spool });
    try {
      await r.start();
      await r.publish(stats(1));
      await until(() => r.relay.failure !== undefined, 5000, 'failure reported');
      expect(r.relay.failure?.message).toBe('disk gone');
      expect(r.relay.stats().link).toBe('down');
    } finally {
      await r.close();
    }
  });

  it('publishes its series on /metrics, every reason at zero from the start', async () => {
    const r = await rig();
    const metrics = createMetrics({ processMetrics: false });
    try {
      await r.start();
      registerRelayMetrics(metrics, () => r.relay.stats());
      await r.publish([...stats(2), ...stats(1, TOP, 50)]);
      await until(() => r.relay.stats().relayed === 2 && r.relay.stats().withheld['above-ceiling'] === 1, 5000, 'relayed');
      const text = await metrics.registry.metrics();
      expect(text).toContain('vigil_relay_link_up 1');
      expect(text).toContain('vigil_relay_records_total 2');
      expect(text).toContain('vigil_relay_withheld_total{reason="above-ceiling"} 1');
      expect(text).toContain('vigil_relay_withheld_total{reason="not-releasable"} 0');
      expect(text).toContain('vigil_relay_shed_total{priority="flash"} 0');
      expect(text).toMatch(/vigil_relay_sent_bytes_total\{stage="uncompressed"\} [1-9]\d*/);
      expect(text).toContain('vigil_relay_backlog_records 0');
    } finally {
      metrics.close();
      await r.close();
    }
  });
});

describe('TokenBucket', () => {
  it('lets one second of budget through at once, then makes each send wait until the debt of the earlier ones is paid', () => {
    let now = 0;
    const b = new TokenBucket(1000, () => now);
    expect(b.take(600)).toBe(0);
    expect(b.take(900)).toBe(0); // not in debt: it goes, and 500 bytes are owed
    expect(b.take(100)).toBe(500); // waits the 500 off; then 600 are owed
    now = 1100;
    expect(b.take(1000)).toBe(0); // paid off during the wait and the send
    now = 1400; // 300 of the 500 owed paid
    expect(b.take(1)).toBe(200);
    // A long idle period refills one second's worth, no more.
    now = 10_000;
    expect(b.take(1000)).toBe(0);
    expect(b.take(1000)).toBe(0);
    expect(b.take(1)).toBe(1000);
  });

  it('is unlimited at 0', () => {
    expect(new TokenBucket(0).take(1e9)).toBe(0);
  });
});
