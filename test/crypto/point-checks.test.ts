import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  ED25519_SMALL_ORDER, X25519_SMALL_ORDER, ed25519HasSmallOrder, ed25519IsCanonical, ed25519IsOnCurve, scalarIsCanonical, x25519HasSmallOrder, x25519IsCanonical,
} from '../../src/crypto/point-checks';
import { loadSodium } from '../../src/crypto/sodium-backend';
import { addPoints, bigToLe, decodePoint, encodePoint, L, leToBig, P, type Point } from '../../scripts/fuzz-backends/edwards';

// The reference for what libsodium refuses is libsodium itself (sodium-native, installed on
// this project's machines), and plain BigInt arithmetic for the rest.
const sodium = loadSodium() as unknown as {
  crypto_core_ed25519_add(r: Uint8Array, p: Uint8Array, q: Uint8Array): void;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
};
const BASE = Uint8Array.from(Buffer.from('5866666666666666666666666666666666666666666666666666666666666666', 'hex'));
const withSignBit = (e: Uint8Array): Uint8Array => Uint8Array.from(e, (b, i) => (i === 31 ? b | 0x80 : b));
const identityHex = encodePoint([0n, 1n, 1n, 0n]).toString();

describe('Curve25519 encoding checks (mirrors of libsodium)', () => {
  it('lists Ed25519 points of order dividing 8: eight times each is the identity', () => {
    for (const e of ED25519_SMALL_ORDER) {
      if (!ed25519IsCanonical(e)) continue; // p and p + 1 stand for 0 and 1, listed among the canonical ones
      let pt = decodePoint(e) as Point;
      expect(pt).not.toBeNull();
      for (let i = 0; i < 3; i++) pt = addPoints(pt, pt);
      expect(encodePoint(pt).toString()).toBe(identityHex);
      expect(ed25519HasSmallOrder(e)).toBe(true);
      expect(ed25519HasSmallOrder(withSignBit(e))).toBe(true);
    }
    expect(ed25519HasSmallOrder(BASE)).toBe(false);
    const at = Uint8Array.from([9, 9, ...(ED25519_SMALL_ORDER[1] as Uint8Array)]);
    expect(ed25519HasSmallOrder(at, 2)).toBe(true);
  });

  it('lists the X25519 keys libsodium refuses: crypto_scalarmult fails, and tweetnacl gives all zeros', () => {
    for (const e of X25519_SMALL_ORDER.flatMap((x) => [x, withSignBit(x)])) {
      expect(x25519HasSmallOrder(e)).toBe(true);
      const sk = randomBytes(32);
      expect(() => sodium.crypto_scalarmult(new Uint8Array(32), sk, e)).toThrow();
      expect(nacl.scalarMult(sk, e).every((b) => b === 0)).toBe(true);
    }
    expect(x25519HasSmallOrder(nacl.scalarMult.base(randomBytes(32)))).toBe(false);
  });

  it('tells canonical encodings (below p) from the rest, as ge25519_is_canonical does', () => {
    expect(ed25519IsCanonical(bigToLe(P - 1n))).toBe(true);
    expect(ed25519IsCanonical(withSignBit(bigToLe(P - 1n)))).toBe(true);
    for (let k = 0n; k < 19n; k++) {
      expect(ed25519IsCanonical(bigToLe(P + k))).toBe(false);
      expect(ed25519IsCanonical(withSignBit(bigToLe(P + k)))).toBe(false);
      expect(x25519IsCanonical(bigToLe(P + k))).toBe(false);
    }
    expect(x25519IsCanonical(bigToLe(P - 1n))).toBe(true);
    expect(x25519IsCanonical(withSignBit(bigToLe(9n)))).toBe(false);
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(32);
      expect(ed25519IsCanonical(b)).toBe((leToBig(b) & ((1n << 255n) - 1n)) < P);
    }
  });

  it('accepts scalars below L only (sc25519_is_canonical)', () => {
    for (const s of [0n, 1n, L - 1n]) expect(scalarIsCanonical(bigToLe(s))).toBe(true);
    for (const s of [L, L + 1n, 2n * L, (1n << 256n) - 1n]) expect(scalarIsCanonical(bigToLe(s))).toBe(false);
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(32);
      b[31] = (b[31] as number) & (i % 2 === 0 ? 0x1f : 0xff); // around L, and far above it
      expect(scalarIsCanonical(b)).toBe(leToBig(b) < L);
    }
    const sig = Uint8Array.from([...new Uint8Array(32), ...bigToLe(L)]);
    expect(scalarIsCanonical(sig, 32)).toBe(false);
  });

  it('knows which encodings are points of the curve, as libsodium decodes them', () => {
    let points = 0;
    for (let i = 0; i < 1000; i++) {
      const b = randomBytes(32);
      let decodes = true;
      try {
        sodium.crypto_core_ed25519_add(new Uint8Array(32), b, BASE);
      } catch {
        decodes = false;
      }
      expect({ b: b.toString('hex'), onCurve: ed25519IsOnCurve(b) }).toEqual({ b: b.toString('hex'), onCurve: decodes });
      if (decodes) points++;
    }
    // About half of all y are points.
    expect(points).toBeGreaterThan(400);
    expect(points).toBeLessThan(600);
  });
});
