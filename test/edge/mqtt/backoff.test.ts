import { backoffDelay } from '../../../src/edge/mqtt';

const policy = { initialDelayMs: 100, maxDelayMs: 5000, jitter: 0.5 };

describe('backoffDelay', () => {
  it('doubles per attempt without jitter and stops at the maximum', () => {
    const noJitter = { ...policy, jitter: 0 };
    expect([0, 1, 2, 3, 4, 5, 6, 50, 5000].map((a) => backoffDelay(a, noJitter))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('takes at most the jitter fraction off, never exceeding the maximum', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(800);
    expect(backoffDelay(3, policy, () => 0.999999)).toBe(400);
    for (let a = 0; a < 40; a++) {
      const d = backoffDelay(a, policy);
      expect(d).toBeGreaterThanOrEqual(Math.min(5000, 100 * 2 ** a) / 2);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });
});
