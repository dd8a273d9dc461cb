import type { ReplayStore } from '../../src/replay';

/**
 * The behaviour every ReplayStore must have. Each implementation's test file calls this
 * with a factory; `reopen` gives a store over the same durable state (for the memory store
 * that state dies with it, so its suite passes `reopen: null`).
 */
export function replayStoreContract(
  name: string,
  make: () => Promise<{ store: ReplayStore; reopen: (() => Promise<ReplayStore>) | null; cleanup: () => Promise<void> }>,
): void {
  describe(`ReplayStore contract: ${name}`, () => {
    let ctx: Awaited<ReturnType<typeof make>>;
    beforeEach(async () => {
      ctx = await make();
    });
    afterEach(async () => {
      await ctx.store.close();
      await ctx.cleanup();
    });

    it('keeps one window per device', () => {
      const s = ctx.store;
      expect(s.accept('a', 1n)).toBe(true);
      expect(s.accept('b', 1n)).toBe(true);
      expect(s.check('a', 1n)).toBe('replay');
      expect(s.check('c', 1n)).toBe('fresh');
      expect(s.accept('a', 1n)).toBe(false);
      expect(s.size()).toBe(2);
      expect(s.highest('a')).toBe(1n);
      expect(s.highest('zzz')).toBe(-1n);
    });

    it('refuses too-old numbers and accepts out-of-order ones inside the window', () => {
      const s = ctx.store;
      s.accept('d', 5000n);
      expect(s.check('d', 4999n)).toBe('fresh');
      expect(s.accept('d', 4999n)).toBe(true);
      expect(s.check('d', 1n)).toBe('too-old');
    });

    it('forgets a device', async () => {
      ctx.store.accept('x', 9n);
      ctx.store.forget('x');
      expect(ctx.store.check('x', 9n)).toBe('fresh');
      await ctx.store.flush();
      expect(ctx.store.size()).toBe(0);
    });

    it('after flush, a restart still refuses what was accepted', async () => {
      if (!ctx.reopen) return expect(ctx.reopen).toBeNull();
      const s = ctx.store;
      for (let i = 0n; i < 200n; i++) s.accept(`dev-${i % 7n}`, i);
      s.accept('gone', 1n);
      s.forget('gone');
      await s.flush();
      await s.close();
      ctx.store = await ctx.reopen();
      for (let i = 0n; i < 200n; i++) expect(ctx.store.check(`dev-${i % 7n}`, i)).toBe('replay');
      expect(ctx.store.check('dev-0', 1000n)).toBe('fresh');
      expect(ctx.store.check('gone', 1n)).toBe('fresh');
      expect(ctx.store.highest('dev-3')).toBe(199n - ((199n - 3n) % 7n));
    });
  });
}
