import { getCryptoBackend, randomNonce } from '../../src/crypto';
import { pooledRandom } from '../../src/crypto/random-pool';

describe('pooledRandom', () => {
  it('hands out each pooled byte once, refilling the pool in one call when it runs out', () => {
    let calls = 0;
    let counter = 0;
    // A deterministic "random" source: 0, 1, 2, … so reuse of a byte would show.
    const random = pooledRandom((b) => {
      calls++;
      for (let i = 0; i < b.length; i++) b[i] = counter++ % 256;
    }, 100, 64);
    const out: number[] = [];
    for (let i = 0; i < 10; i++) {
      const nonce = new Uint8Array(24);
      random(nonce);
      out.push(...nonce);
    }
    // 240 bytes from pools of 100: a pool is refilled when the next 24 do not fit (4 nonces a pool).
    expect(calls).toBe(3);
    const pools = [0, 1, 2].map((p) => Array.from({ length: 96 }, (_, i) => (p * 100 + i) % 256));
    expect(out).toEqual([...(pools[0] as number[]), ...(pools[1] as number[]), ...(pools[2] as number[]).slice(0, 48)]);
  });

  it('fills a large target directly, and nonces from the real backends differ', () => {
    const seen: number[] = [];
    const random = pooledRandom((b) => seen.push(b.length), 4096, 64);
    random(new Uint8Array(1000));
    expect(seen).toEqual([1000]);
    const backend = getCryptoBackend('auto');
    const nonces = new Set(Array.from({ length: 1000 }, () => Buffer.from(randomNonce(backend)).toString('hex')));
    expect(nonces.size).toBe(1000);
    expect(nonces.has('00'.repeat(24))).toBe(false);
  });
});
