import { getCryptoBackend, isSodiumAvailable } from '../../src/crypto';
import { runDifferential } from '../../scripts/fuzz-backends/differential';

// The fast slice of `npm run fuzz:backends` (which runs ≥ 1 000 000 inputs): the same corpus
// through the tweetnacl backend and the real sodium-native one, verdict by verdict.
// sodium-native is installed on this project's machines (backends.test.ts insists), so the
// comparison is never against a stand-in.
describe('tweetnacl and sodium backends give the same verdict on every input', () => {
  it('20 000 corpus inputs: valid, mutated and forged signatures and frames, small-order and non-canonical keys and R, S + k·L, random bytes', () => {
    expect(isSodiumAvailable()).toBe(true);
    // Pure-JS X25519 is some thirty times slower under jest: ~45 inputs of each X25519 kind
    // here (the script draws some 40 000 of each).
    const x25519 = 0.15;
    const report = runDifferential({
      inputs: 20_000,
      seed: 20261128,
      backends: [getCryptoBackend('tweetnacl'), getCryptoBackend('sodium')],
      weights: { 'x25519-valid': x25519, 'x25519-small-order': x25519, 'x25519-random': x25519 },
    });
    expect(report.backends).toEqual(['tweetnacl', 'sodium']);
    expect(report.samples).toEqual([]);
    expect(report.disagreements).toBe(0);
    const c = report.categories;
    // Every edge is reached, and each lands where libsodium's rules put it.
    for (const name of ['sig-valid', 'key-mixed-order', 'frame-valid', 'x25519-valid']) {
      expect({ name, refused: c[name]?.rejected }).toEqual({ name, refused: 0 });
      expect(c[name]?.accepted).toBeGreaterThan(name.startsWith('x25519') ? 25 : 200);
    }
    for (const name of ['key-small-order', 'r-small-order', 'sig-s-plus-l', 'noncanonical', 'frame-forged', 'random']) {
      expect({ name, accepted: c[name]?.accepted }).toEqual({ name, accepted: 0 });
      expect(c[name]?.rejected).toBeGreaterThan(200);
    }
    for (const name of ['sig-mutated', 'key-mixed-order-mutated', 'frame-mutated']) expect(c[name]?.inputs).toBeGreaterThan(200);
    expect(c['x25519-random']?.inputs).toBeGreaterThan(25);
    expect(c['x25519-small-order']?.rejected).toBeGreaterThan(25);
  });
});
