/**
 * A seeded stream of inputs for the crypto backends, weighted towards the edges where
 * Ed25519 and X25519 implementations differ: valid, mutated and forged signatures; keys and
 * R values of small order (R = identity, S = 0 under the identity key verifies anything in a
 * lax verifier); S + k·L; non-canonical encodings; keys with a torsion component and
 * signatures that are valid under them; X25519 keys of small order; and whole frames, valid,
 * mutated and forged. The same seed gives the same inputs.
 */
import { FrameSealer, type Reading } from '../../src/codec';
import { boxSharedKey, generateIngestKeys, getCryptoBackend, type CryptoBackend, type IngestKeys, type Signer } from '../../src/crypto';
import { ED25519_SMALL_ORDER, X25519_SMALL_ORDER } from '../../src/crypto/point-checks';
import { addPoints, bigToLe, decodePoint, encodePoint, hashToScalar, L, leToBig, P, seedScalar, type Point } from './edwards';

export type FuzzInput =
  | { readonly op: 'verify'; readonly category: string; readonly publicKey: Uint8Array; readonly message: Uint8Array; readonly signature: Uint8Array }
  | { readonly op: 'box'; readonly category: string; readonly publicKey: Uint8Array; readonly secretKey: Uint8Array }
  | { readonly op: 'frame'; readonly category: string; readonly bytes: Uint8Array };

/** A device whose frames the corpus makes: its public keys, as a registry would hold them. */
export interface FuzzDevice {
  readonly deviceId: string;
  readonly boxPublicKey: Uint8Array;
  readonly signPublicKey: Uint8Array;
  readonly requireSignature: boolean;
}

/** Deterministic 32-bit generator (mulberry32): fast, seedable, not for secrets. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)] as T;
  }
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** A small-order encoding, in either sign. */
function smallOrder(rng: Rng, list: readonly Uint8Array[]): Uint8Array {
  const e = Uint8Array.from(rng.pick(list));
  if (rng.chance(0.5)) e[31] = (e[31] as number) | 0x80;
  return e;
}

/** y + p for a small y (< 19): the same point as y to a lax decoder, non-canonical to libsodium. */
function nonCanonical(rng: Rng): Uint8Array {
  const e = bigToLe(P + BigInt(rng.int(19)));
  if (rng.chance(0.5)) e[31] = (e[31] as number) | 0x80;
  return e;
}

/** S + k·L (k ≥ 1) when it still fits in 32 bytes: the same scalar mod L, non-canonical. */
function plusL(sig: Uint8Array, rng: Rng): Uint8Array {
  const s = leToBig(sig.subarray(32));
  let k = BigInt(1 + rng.int(15));
  while (s + k * L >= 1n << 256n) k--;
  return concat(sig.subarray(0, 32), bigToLe(s + k * L));
}

function flipBits(src: Uint8Array, rng: Rng, n = 1 + rng.int(3)): Uint8Array {
  const t = Uint8Array.from(src);
  if (t.length === 0) return t;
  for (let i = 0; i < n; i++) {
    const at = rng.int(t.length);
    t[at] = (t[at] as number) ^ (1 << rng.int(8));
  }
  return t;
}

const T8 = decodePoint(ED25519_SMALL_ORDER[2] as Uint8Array) as Point; // a point of order 8
const IDENTITY = ED25519_SMALL_ORDER[1] as Uint8Array;

/**
 * A key A' = a·B + T8 (prime-order part plus a point of order 8) and a signer whose
 * signatures verify under it with the cofactorless equation both libsodium and OpenSSL use:
 * R = r·B + g·T8 with g ≡ −h (mod 8), S = r + h·a, so S·B − h·A' = r·B − h·T8 = R.
 * No honest key generation makes such a key; the backends must still agree on it.
 */
function mixedOrderSigner(rng: Rng, ref: CryptoBackend): Signer {
  const seed = rng.bytes(32);
  const a = seedScalar(seed);
  const publicKey = encodePoint(addPoints(decodePoint(ref.signPublicKey(seed)) as Point, T8));
  return {
    publicKey,
    sign(message) {
      for (;;) {
        const rSeed = rng.bytes(32);
        const r = seedScalar(rSeed);
        let R = decodePoint(ref.signPublicKey(rSeed)) as Point;
        for (let g = 0n; g < 8n; g++, R = addPoints(R, T8)) {
          const rBytes = encodePoint(R);
          const h = hashToScalar(rBytes, publicKey, message);
          if ((8n - (h % 8n)) % 8n === g) return concat(rBytes, bigToLe((r + h * a) % L));
        }
      }
    },
  };
}

/** A "signer" for a small-order key: R of small order (the identity, mostly) and S = 0 or random. */
function forgingSigner(rng: Rng, publicKey: Uint8Array): Signer {
  return {
    publicKey,
    sign: () => concat(rng.chance(0.6) ? IDENTITY : smallOrder(rng, ED25519_SMALL_ORDER), rng.chance(0.7) ? new Uint8Array(32) : bigToLe(leToBig(rng.bytes(32)) % L)),
  };
}

const EVENT_TIME = Date.UTC(2026, 0, 1);

/** The kinds of input, each drawn with a weight. */
export type Category =
  | 'sig-valid' | 'sig-mutated' | 'sig-s-plus-l' | 'key-small-order' | 'r-small-order' | 'key-mixed-order' | 'noncanonical' | 'random'
  | 'x25519-valid' | 'x25519-small-order' | 'x25519-random' | 'frame-valid' | 'frame-mutated' | 'frame-forged';

export interface CorpusOptions {
  readonly seed: number;
  /** Backend that makes honest keys and signatures (any: both give the same bytes). Default `auto`. */
  readonly maker?: CryptoBackend;
  /**
   * Weights that replace the defaults for some categories. Pure-JS X25519 runs some thirty
   * times slower under jest than under node, so the unit slice draws fewer X25519 inputs.
   */
  readonly weights?: Partial<Record<Category, number>>;
}

/**
 * The corpus: `next()` gives one input. Frames are sealed to `ingest` by `devices` (an honest
 * device, one whose signing key is the identity, one whose key has a torsion component, one
 * whose key is non-canonical), so a runner can open them like a gateway.
 */
export class BackendCorpus {
  readonly ingest: IngestKeys;
  readonly devices: ReadonlyMap<string, FuzzDevice>;
  private readonly rng: Rng;
  private readonly maker: CryptoBackend;
  private readonly signers: Signer[];
  private readonly mixed: Signer[];
  private readonly mixedSigned: Array<{ publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }>;
  private readonly sealer: FrameSealer;
  private readonly shared: Uint8Array;
  private readonly frameSigners: ReadonlyMap<string, Signer>;
  private readonly mixedFrames: Uint8Array[];
  private seq = 0n;
  private readonly choose: () => () => FuzzInput;

  constructor(options: CorpusOptions) {
    this.rng = new Rng(options.seed);
    this.maker = options.maker ?? getCryptoBackend('auto');
    const rng = this.rng;
    this.signers = Array.from({ length: 16 }, () => this.maker.createSigner(rng.bytes(32)));
    this.mixed = Array.from({ length: 4 }, () => mixedOrderSigner(rng, this.maker));
    this.mixedSigned = Array.from({ length: 48 }, (_, i) => {
      const s = this.mixed[i % this.mixed.length] as Signer;
      const message = rng.bytes(rng.int(160));
      return { publicKey: s.publicKey, message, signature: s.sign(message) };
    });

    this.ingest = generateIngestKeys('fuzz-ingest', this.maker);
    const boxSecret = rng.bytes(32);
    const boxPublicKey = this.maker.boxPublicKey(boxSecret);
    this.shared = boxSharedKey(this.ingest.box.publicKey, boxSecret, this.maker);
    this.sealer = new FrameSealer({ backend: this.maker });
    let y = 2n;
    while (decodePoint(bigToLe(y)) === null) y++; // a small y that is a point: y + p is its non-canonical twin
    const frameSigners = new Map<string, Signer>([
      ['dev-honest', this.signers[0] as Signer],
      ['dev-identity', forgingSigner(rng, IDENTITY)],
      ['dev-mixed', this.mixed[0] as Signer],
      ['dev-noncanonical', { publicKey: bigToLe(P + y), sign: () => rng.bytes(64) }],
    ]);
    this.frameSigners = frameSigners;
    this.devices = new Map(
      [...frameSigners].map(([deviceId, s]) => [deviceId, { deviceId, boxPublicKey, signPublicKey: s.publicKey, requireSignature: deviceId !== 'dev-honest' }]),
    );
    this.mixedFrames = Array.from({ length: 16 }, () => this.frame('dev-mixed', true));

    const defaults: Array<[Category, number, () => FuzzInput]> = [
      ['sig-valid', 8, () => this.validSignature()],
      ['sig-mutated', 10, () => this.mutatedSignature()],
      ['sig-s-plus-l', 4, () => this.sPlusL()],
      ['key-small-order', 6, () => this.smallOrderKey()],
      ['r-small-order', 4, () => this.smallOrderR()],
      ['key-mixed-order', 6, () => this.mixedOrderKey()],
      ['noncanonical', 4, () => this.nonCanonicalKey()],
      ['random', 6, () => this.randomVerify()],
      ['x25519-valid', 1, () => this.box('x25519-valid')],
      ['x25519-small-order', 1, () => this.box('x25519-small-order')],
      ['x25519-random', 1, () => this.box('x25519-random')],
      ['frame-valid', 6, () => this.validFrame()],
      ['frame-mutated', 8, () => this.mutatedFrame()],
      ['frame-forged', 5, () => this.forgedFrame()],
    ];
    // Weights in thousandths so that fractional ones work with an integer draw.
    const table = defaults.map(([name, w, f]) => [Math.round(1000 * (options.weights?.[name] ?? w)), f] as const).filter(([w]) => w > 0);
    const total = table.reduce((n, [w]) => n + w, 0);
    this.choose = () => {
      let x = rng.int(total);
      for (const [w, f] of table) if ((x -= w) < 0) return f;
      return (table[0] as (typeof table)[number])[1];
    };
  }

  next(): FuzzInput {
    return this.choose()();
  }

  private message(): Uint8Array {
    return this.rng.bytes(this.rng.int(200));
  }

  private signed(): { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array } {
    const s = this.rng.pick(this.signers);
    const message = this.message();
    return { publicKey: s.publicKey, message, signature: s.sign(message) };
  }

  private validSignature(): FuzzInput {
    return { op: 'verify', category: 'sig-valid', ...this.signed() };
  }

  private mutatedSignature(): FuzzInput {
    const v = this.signed();
    const what = this.rng.int(3);
    return {
      op: 'verify',
      category: 'sig-mutated',
      publicKey: what === 0 ? flipBits(v.publicKey, this.rng) : v.publicKey,
      message: what === 1 ? flipBits(v.message, this.rng) : v.message,
      signature: what === 2 || v.message.length === 0 ? flipBits(v.signature, this.rng) : v.signature,
    };
  }

  private sPlusL(): FuzzInput {
    const v = this.rng.chance(0.8) ? this.signed() : this.rng.pick(this.mixedSigned);
    return { op: 'verify', category: 'sig-s-plus-l', ...v, signature: plusL(v.signature, this.rng) };
  }

  /** The forgery: a small-order key (the identity, mostly) with R = identity, S = 0. */
  private smallOrderKey(): FuzzInput {
    const publicKey = this.rng.chance(0.5) ? IDENTITY : smallOrder(this.rng, ED25519_SMALL_ORDER);
    return { op: 'verify', category: 'key-small-order', publicKey, message: this.message(), signature: forgingSigner(this.rng, publicKey).sign(new Uint8Array(0)) };
  }

  private smallOrderR(): FuzzInput {
    const v = this.signed();
    const s = this.rng.chance(0.5) ? new Uint8Array(32) : v.signature.subarray(32);
    return { op: 'verify', category: 'r-small-order', ...v, signature: concat(smallOrder(this.rng, ED25519_SMALL_ORDER), s) };
  }

  /** Valid signatures under keys with a torsion component (both must accept), sometimes changed. */
  private mixedOrderKey(): FuzzInput {
    const v = this.rng.pick(this.mixedSigned);
    if (this.rng.chance(0.6)) return { op: 'verify', category: 'key-mixed-order', ...v };
    return { op: 'verify', category: 'key-mixed-order-mutated', ...v, signature: flipBits(v.signature, this.rng) };
  }

  private nonCanonicalKey(): FuzzInput {
    const v = this.signed();
    const r = this.rng.int(3);
    if (r === 0) return { op: 'verify', category: 'noncanonical', publicKey: nonCanonical(this.rng), message: v.message, signature: concat(IDENTITY, new Uint8Array(32)) };
    if (r === 1) return { op: 'verify', category: 'noncanonical', publicKey: nonCanonical(this.rng), message: v.message, signature: v.signature };
    return { op: 'verify', category: 'noncanonical', ...v, signature: concat(nonCanonical(this.rng), v.signature.subarray(32)) };
  }

  private randomVerify(): FuzzInput {
    const sigLength = this.rng.chance(0.05) ? this.rng.pick([0, 63, 65]) : 64;
    return { op: 'verify', category: 'random', publicKey: this.rng.bytes(32), message: this.message(), signature: this.rng.bytes(sigLength) };
  }

  private box(category: 'x25519-valid' | 'x25519-small-order' | 'x25519-random'): FuzzInput {
    const secretKey = this.rng.bytes(32);
    let publicKey: Uint8Array;
    if (category === 'x25519-valid') publicKey = this.maker.boxPublicKey(this.rng.bytes(32));
    else if (category === 'x25519-small-order') publicKey = this.rng.chance(0.7) ? smallOrder(this.rng, X25519_SMALL_ORDER) : bigToLe(P + BigInt(this.rng.int(19)));
    else publicKey = this.rng.bytes(32);
    return { op: 'box', category, publicKey, secretKey };
  }

  private readings(): Reading[] {
    return Array.from({ length: 1 + this.rng.int(4) }, (_, i) => ({ kind: 'power' as const, offsetMs: i * 100, batteryPct: this.rng.int(10_001) / 100, voltageV: this.rng.int(100_000) / 100 }));
  }

  private frame(deviceId: string, sign: boolean): Uint8Array {
    const signer = sign ? this.frameSigners.get(deviceId) : undefined;
    return this.sealer.seal(
      { deviceId, epoch: 1, seq: this.seq++, eventTimeMs: EVENT_TIME, readings: this.readings() },
      this.shared,
      { nonce: this.rng.bytes(24), ...(signer ? { signer } : {}) },
    );
  }

  private validFrame(): FuzzInput {
    const r = this.rng.int(3);
    const bytes = r === 2 ? this.rng.pick(this.mixedFrames) : this.frame('dev-honest', r === 1);
    return { op: 'frame', category: 'frame-valid', bytes };
  }

  private mutatedFrame(): FuzzInput {
    const src = this.rng.chance(0.25) ? this.rng.pick(this.mixedFrames) : this.frame('dev-honest', this.rng.chance(0.7));
    const r = this.rng.int(4);
    let bytes: Uint8Array;
    if (r === 0) bytes = src.subarray(0, this.rng.int(src.length));
    else if (r === 1 && (src[0] as number) === 0x98) bytes = concat(src.subarray(0, src.length - 64), plusL(src.subarray(src.length - 64), this.rng));
    else if (r === 2 && (src[0] as number) === 0x98) bytes = concat(src.subarray(0, src.length - 64), concat(smallOrder(this.rng, ED25519_SMALL_ORDER), src.subarray(src.length - 32)));
    else bytes = flipBits(src, this.rng);
    return { op: 'frame', category: 'frame-mutated', bytes };
  }

  private forgedFrame(): FuzzInput {
    const r = this.rng.int(3);
    if (r === 0) return { op: 'frame', category: 'frame-forged', bytes: this.frame('dev-identity', true) };
    if (r === 1) return { op: 'frame', category: 'frame-forged', bytes: this.frame('dev-noncanonical', true) };
    // Signed by another honest key than the registered one.
    const honest = this.frameSigners.get('dev-honest') as Signer;
    const other = this.signers[1 + this.rng.int(this.signers.length - 1)] as Signer;
    const frame = this.sealer.seal(
      { deviceId: 'dev-honest', epoch: 1, seq: this.seq++, eventTimeMs: EVENT_TIME, readings: this.readings() },
      this.shared,
      { nonce: this.rng.bytes(24), signer: { publicKey: honest.publicKey, sign: (m) => other.sign(m) } },
    );
    return { op: 'frame', category: 'frame-forged', bytes: frame };
  }
}
