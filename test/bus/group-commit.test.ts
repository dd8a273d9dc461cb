import { VigilError } from '../../src/errors';
import { GroupCommit } from '../../src/bus';

const opts = (over: Partial<ConstructorParameters<typeof GroupCommit>[2]> = {}) => ({
  maxCount: 1000,
  maxBytes: 1 << 20,
  timeoutMs: 1000,
  onTimeout: () => new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'timed out'),
  ...over,
});

describe('GroupCommit', () => {
  it('merges the calls of one tick into one write and the calls made meanwhile into the next, in order', async () => {
    const writes: number[][] = [];
    let release!: () => void;
    let first = true;
    const gc = new GroupCommit<number>(
      async (items) => {
        writes.push(items);
        if (first) {
          first = false;
          await new Promise<void>((r) => (release = r));
        }
      },
      () => [1, 1],
      opts(),
    );
    const a = Array.from({ length: 100 }, (_, i) => gc.submit(i));
    await new Promise((r) => setImmediate(r));
    const b = Array.from({ length: 500 }, (_, i) => gc.submit(100 + i));
    expect(gc.size).toBe(500); // the first 100 are in flight
    release();
    await Promise.all([...a, ...b]);
    expect(writes.map((w) => w.length)).toEqual([100, 500]);
    expect(writes.flat()).toEqual(Array.from({ length: 600 }, (_, i) => i));
    await gc.idle();
    expect(gc.size).toBe(0);
  });

  it('caps a write by count and bytes but never splits or starves an item', async () => {
    const writes: string[][] = [];
    const gc = new GroupCommit<string>(async (items) => void writes.push(items), (s) => [1, s.length], opts({ maxCount: 3, maxBytes: 10 }));
    await Promise.all(['aaaa', 'bbbb', 'cccc', 'd', 'e', 'f', 'g', 'xxxxxxxxxxxxxxxxxxxx', 'h'].map((s) => gc.submit(s)));
    expect(writes).toEqual([['aaaa', 'bbbb'], ['cccc', 'd', 'e'], ['f', 'g'], ['xxxxxxxxxxxxxxxxxxxx'], ['h']]);
  });

  it('rejects every caller of a failed write, and goes on with the next', async () => {
    let n = 0;
    const gc = new GroupCommit<number>(
      async () => {
        if (n++ === 0) throw new Error('broker said no');
      },
      () => [1, 1],
      opts(),
    );
    const failed = [gc.submit(1), gc.submit(2)];
    for (const p of failed) await expect(p).rejects.toThrow('broker said no');
    await expect(gc.submit(3)).resolves.toBeUndefined();
  });

  it('settles each caller with its own outcome when a write reports per-item results', async () => {
    const gc = new GroupCommit<number>(async (items) => items.map((i) => (i % 2 === 0 ? undefined : new Error(`item ${i} refused`))), () => [1, 1], opts());
    const results = await Promise.allSettled([0, 1, 2, 3].map((i) => gc.submit(i)));
    expect(results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).message))).toEqual(['ok', 'item 1 refused', 'ok', 'item 3 refused']);
  });

  it('rejects callers after timeoutMs but starts no write before the timed-out one ends', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    const gc = new GroupCommit<number>(
      async (items) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (items[0] === 1) await new Promise<void>((r) => (release = r));
        inFlight--;
      },
      () => [1, 1],
      opts({ timeoutMs: 50 }),
    );
    const started = Date.now();
    const slow = gc.submit(1);
    await expect(slow).rejects.toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE', retriable: true });
    expect(Date.now() - started).toBeLessThan(1000);
    const next = gc.submit(2);
    await new Promise((r) => setTimeout(r, 20));
    expect(inFlight).toBe(1);
    release();
    await next;
    expect(maxInFlight).toBe(1);
  });
});
