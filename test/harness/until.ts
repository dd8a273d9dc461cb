/**
 * Polls `cond` every `everyMs` until it holds; throws naming `what` after `ms`. The one
 * waiting helper of the tests (a condition, never a timed assertion).
 */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition', everyMs = 20): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
