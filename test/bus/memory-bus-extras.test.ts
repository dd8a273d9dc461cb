import { MemoryBroker, MemoryBus, partitionForKey } from '../../src/bus';

// What only the memory bus offers: outage simulation, retention, the partitioner.
describe('MemoryBus', () => {
  it('simulates an outage: sends fail retriably and the connection state follows', async () => {
    const broker = new MemoryBroker();
    const bus = new MemoryBus({ broker });
    await bus.admin().ensureTopics([{ topic: 't', partitions: 1 }]);
    const seen: boolean[] = [];
    bus.onConnectionChange((c) => seen.push(c));
    const producer = bus.producer();
    broker.setAvailable(false);
    await expect(producer.send('t', [{ value: 'x' }])).rejects.toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE', retriable: true });
    expect(bus.isConnected()).toBe(false);
    broker.setAvailable(true);
    await producer.send('t', [{ value: 'x' }]);
    expect(seen).toEqual([false, true]);
    await bus.close();
    expect(() => bus.producer()).toThrow(expect.objectContaining({ code: 'VIGIL_E_BUS_CLOSED' }));
  });

  it('drops the oldest messages beyond retainMessages; a new group from the beginning starts at the oldest kept', async () => {
    const bus = new MemoryBus({ retainMessages: 10 });
    await bus.admin().ensureTopics([{ topic: 't', partitions: 1 }]);
    await bus.producer().send('t', Array.from({ length: 3000 }, (_, i) => ({ value: String(i) })));
    const got: string[] = [];
    const c = bus.consumer({ groupId: 'g', fromBeginning: true, maxBatchMessages: 5000 });
    await c.subscribe(['t']);
    await c.run({ eachBatch: (b) => void got.push(...b.messages.map((m) => m.offset)) });
    await new Promise((r) => setTimeout(r, 20));
    expect(got.length).toBeLessThan(3000);
    expect(got.length).toBeGreaterThanOrEqual(10);
    expect(got[got.length - 1]).toBe('2999');
    await bus.close();
  });

  it('partitions keys consistently and spreads them', () => {
    const parts = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const k = Buffer.from(`dev-${i}`);
      expect(partitionForKey(k, 8)).toBe(partitionForKey(Buffer.from(`dev-${i}`), 8));
      parts.add(partitionForKey(k, 8));
    }
    expect(parts.size).toBe(8);
  });

  it('carries 100k messages through a two-member group in well under a second each way', async () => {
    const bus = new MemoryBus();
    await bus.admin().ensureTopics([{ topic: 'fast', partitions: 8 }]);
    let n = 0;
    const members = [bus.consumer({ groupId: 'g', fromBeginning: true }), bus.consumer({ groupId: 'g', fromBeginning: true })];
    for (const c of members) {
      await c.subscribe(['fast']);
      await c.run({ eachBatch: (b) => void (n += b.messages.length) });
    }
    const value = Buffer.alloc(200);
    const producer = bus.producer();
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) await producer.send('fast', Array.from({ length: 1000 }, (_, j) => ({ key: `dev-${j % 500}`, value })));
    while (n < 100_000) await new Promise((r) => setImmediate(r));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(n).toBe(100_000);
    await bus.close();
  });
});
