import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { getCryptoBackend, isSodiumAvailable, boxSharedKey, secretboxSeal, secretboxOpen, randomNonce, type CryptoBackend } from '../../src/crypto';
import { ED25519_SMALL_ORDER } from '../../src/crypto/point-checks';
import { isVigilError } from '../../src/errors';

// The accelerated backend is an optional dependency; on this project's machines it is
// installed (and the "auto" test below insists), so both backends are always exercised here.
const backends: CryptoBackend[] = [getCryptoBackend('tweetnacl'), getCryptoBackend('sodium')];
const pairs = backends.flatMap((a) => backends.map((b) => [a.name, b.name, a, b] as const));

/** Deterministic pseudo-random bytes (xorshift) so that vectors are reproducible. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// Pure-JS X25519/Ed25519 references are slow on a shared 2-core box: 12 vectors keep the file to seconds.
const VECTORS = Array.from({ length: 12 }, (_, i) => ({
  deviceSk: bytes(32, 1000 + i),
  ingestSk: bytes(32, 2000 + i),
  seed: bytes(32, 3000 + i),
  nonce: bytes(24, 4000 + i),
  message: bytes([0, 1, 15, 16, 17, 63, 64, 65, 200, 1000, 4096, 30000][i % 12] as number, 5000 + i),
})).map((v) => {
  // Reference values from tweetnacl's own box API, computed once.
  const devicePk = nacl.box.keyPair.fromSecretKey(v.deviceSk).publicKey;
  const ingestPk = nacl.box.keyPair.fromSecretKey(v.ingestSk).publicKey;
  return { ...v, devicePk, ingestPk, referenceBox: nacl.box(v.message, v.nonce, ingestPk, v.deviceSk) };
});

// tweetnacl's pure-JS Ed25519 as the independent reference (sign, and verify its own output).
const REFERENCE_SIGNATURES = VECTORS.slice(0, 6).map((v) => {
  const kp = nacl.sign.keyPair.fromSeed(v.seed);
  const sig = nacl.sign.detached(v.message, kp.secretKey);
  if (!nacl.sign.detached.verify(v.message, sig, kp.publicKey)) throw new Error('tweetnacl reference signature does not verify');
  return sig;
});

describe('crypto backends', () => {
  it('"auto" picks sodium-native when it loads, and "sodium" is available here', () => {
    expect(isSodiumAvailable()).toBe(true);
    expect(getCryptoBackend('auto').name).toBe('sodium');
    expect(getCryptoBackend('tweetnacl').name).toBe('tweetnacl');
  });

  it('rejects an unknown backend option', () => {
    expect(() => getCryptoBackend('openssl' as 'auto')).toThrow(expect.objectContaining({ code: 'VIGIL_E_CONFIG_INVALID' }));
  });

  it('derive the same X25519 public keys, shared keys and Ed25519 public keys, equal to tweetnacl reference', () => {
    for (const v of VECTORS) {
      const refDevicePk = v.devicePk;
      const refIngestPk = v.ingestPk;
      const refShared = nacl.box.before(refIngestPk, v.deviceSk);
      const refSignPk = nacl.sign.keyPair.fromSeed(v.seed).publicKey;
      for (const b of backends) {
        expect(b.boxPublicKey(v.deviceSk)).toEqual(refDevicePk);
        expect(b.boxBeforeNm(refIngestPk, v.deviceSk)).toEqual(refShared);
        // Both directions of the key agreement meet.
        expect(b.boxBeforeNm(refDevicePk, v.ingestSk)).toEqual(refShared);
        expect(b.signPublicKey(v.seed)).toEqual(refSignPk);
      }
    }
  });

  it.each(pairs)('seal with %s, open with %s: same bytes as nacl.box, and they open', (_a, _b, a, b) => {
    for (const v of VECTORS) {
      const key = a.boxBeforeNm(v.ingestPk, v.deviceSk);
      const sealed = new Uint8Array(v.message.length + 16);
      a.secretboxSealInto(sealed, v.message, v.nonce, key);
      expect(sealed).toEqual(v.referenceBox);
      const out = new Uint8Array(v.message.length);
      expect(b.secretboxOpenInto(out, sealed, v.nonce, b.boxBeforeNm(v.devicePk, v.ingestSk))).toBe(true);
      expect(out).toEqual(v.message);
    }
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: a changed byte, nonce or key fails to open', (_n, b) => {
    const v = VECTORS[5] as (typeof VECTORS)[number];
    const key = b.boxBeforeNm(b.boxPublicKey(v.ingestSk), v.deviceSk);
    const sealed = new Uint8Array(v.message.length + 16);
    b.secretboxSealInto(sealed, v.message, v.nonce, key);
    const out = new Uint8Array(v.message.length);
    for (const i of [0, 15, 16, sealed.length - 1]) {
      const t = Uint8Array.from(sealed);
      t[i] = (t[i] as number) ^ 0x01;
      expect(b.secretboxOpenInto(out, t, v.nonce, key)).toBe(false);
    }
    const n2 = Uint8Array.from(v.nonce);
    n2[23] = (n2[23] as number) ^ 0x80;
    expect(b.secretboxOpenInto(out, sealed, n2, key)).toBe(false);
    const k2 = Uint8Array.from(key);
    k2[0] = (k2[0] as number) ^ 1;
    expect(b.secretboxOpenInto(out, sealed, v.nonce, k2)).toBe(false);
    expect(b.secretboxOpenInto(new Uint8Array(0), new Uint8Array(10), v.nonce, key)).toBe(false);
  });

  it.each(pairs)('Ed25519: sign with %s, verify with %s (and with tweetnacl reference verify)', (_a, _b, a, b) => {
    for (const [i, v] of VECTORS.slice(0, 6).entries()) {
      const signer = a.createSigner(v.seed);
      const sig = signer.sign(v.message);
      expect(sig).toEqual(REFERENCE_SIGNATURES[i]);
      const verifier = b.createVerifier(signer.publicKey);
      expect(verifier.verify(v.message, sig)).toBe(true);
      const bad = Uint8Array.from(sig);
      bad[10] = (bad[10] as number) ^ 4;
      expect(verifier.verify(v.message, bad)).toBe(false);
      const otherMsg = Uint8Array.from(v.message.length > 0 ? v.message : [0]);
      otherMsg[0] = (otherMsg[0] as number) ^ 1;
      expect(verifier.verify(otherMsg, sig)).toBe(false);
      expect(verifier.verify(v.message, sig.subarray(0, 63))).toBe(false);
      expect(b.createVerifier(a.signPublicKey(bytes(32, 99))).verify(v.message, sig)).toBe(false);
    }
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: refuses the forgery R = identity, S = 0 under small-order keys, S + L, and small-order R', (_n, b) => {
    const identity = Uint8Array.from([1, ...new Array<number>(31).fill(0)]);
    const forged = Uint8Array.from([...identity, ...new Array<number>(32).fill(0)]);
    for (const pk of ED25519_SMALL_ORDER.flatMap((e) => [e, Uint8Array.from(e, (x, i) => (i === 31 ? x | 0x80 : x))])) {
      for (const v of VECTORS.slice(0, 3)) expect(b.createVerifier(pk).verify(v.message, forged)).toBe(false);
    }
    const v = VECTORS[2] as (typeof VECTORS)[number];
    const signer = b.createSigner(v.seed);
    const sig = signer.sign(v.message);
    const verifier = b.createVerifier(signer.publicKey);
    expect(verifier.verify(v.message, sig)).toBe(true);
    // S + L: the same scalar mod L, but not canonical.
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i] as number);
    s += (1n << 252n) + 27742317777372353535851937790883648493n;
    const sPlusL = Uint8Array.from(sig);
    for (let i = 0; i < 32; i++, s >>= 8n) sPlusL[32 + i] = Number(s & 0xffn);
    expect(verifier.verify(v.message, sPlusL)).toBe(false);
    expect(verifier.verify(v.message, Uint8Array.from([...identity, ...sig.subarray(32)]))).toBe(false);
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: SHA-512 matches node:crypto', (_n, b) => {
    const out = new Uint8Array(64);
    for (const v of VECTORS) {
      b.sha512Into(out, v.message);
      expect(Buffer.from(out).toString('hex')).toBe(createHash('sha512').update(v.message).digest('hex'));
    }
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: refuses low-order X25519 public keys with VIGIL_E_KEY_INVALID', (_n, b) => {
    const lowOrder = [new Uint8Array(32), Uint8Array.from([1, ...new Array<number>(31).fill(0)])];
    for (const pk of lowOrder) {
      let code = 'none';
      try {
        b.boxBeforeNm(pk, bytes(32, 7));
      } catch (err) {
        code = isVigilError(err) ? err.code : 'other';
      }
      expect(code).toBe('VIGIL_E_KEY_INVALID');
    }
  });

  it.each(backends.map((b) => [b.name, b] as const))('%s: random nonces are 24 bytes and differ', (_n, b) => {
    const a = randomNonce(b);
    const c = randomNonce(b);
    expect(a).toHaveLength(24);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('convenience seal/open and boxSharedKey check their arguments', () => {
    const key = boxSharedKey(nacl.box.keyPair.fromSecretKey(bytes(32, 1)).publicKey, bytes(32, 2));
    const nonce = bytes(24, 3);
    const msg = bytes(100, 4);
    const box = secretboxSeal(msg, nonce, key);
    expect(secretboxOpen(box, nonce, key, 'tweetnacl')).toEqual(msg);
    expect(secretboxOpen(box.subarray(1), nonce, key)).toBeNull();
    expect(secretboxOpen(box.subarray(0, 5), nonce, key)).toBeNull();
    expect(() => secretboxSeal(msg, nonce.subarray(1), key)).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID' }));
    expect(() => boxSharedKey(new Uint8Array(31), bytes(32, 2))).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID' }));
  });
});
