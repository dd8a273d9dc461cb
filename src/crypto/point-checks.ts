/**
 * Which Curve25519 encodings libsodium refuses, mirrored byte for byte so that the tweetnacl
 * backend (whose Ed25519 is OpenSSL's, which checks less) gives libsodium's verdict on every
 * input, and so that the registry refuses keys no honest key generation makes. Sources:
 * libsodium 1.0.21 (the version sodium-native 5.1 bundles), `ed25519_ref10.c`
 * (`ge25519_has_small_order`, `ge25519_is_canonical`, `sc25519_is_canonical`) and
 * `x25519_ref10.c` (`has_small_order`). Everything here reads public data (keys and
 * signatures), so none of it needs to be constant time.
 */

const fromHex = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
const P_MINUS_1 = 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
const P = 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
const P_PLUS_1 = 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
const ZERO = '00'.repeat(32);
const ONE = '01' + '00'.repeat(31);

/**
 * Edwards y-coordinates of the points of order 1, 2, 4 and 8, and the non-canonical
 * encodings p and p + 1 of 0 and 1 (`ge25519_has_small_order`'s list). Compared with the
 * sign bit (the top bit of the last byte) cleared, so both signs of each are refused.
 */
export const ED25519_SMALL_ORDER: readonly Uint8Array[] = [
  ZERO,
  ONE,
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  P_MINUS_1,
  P,
  P_PLUS_1,
].map(fromHex);

/** Montgomery u-coordinates of the small-order points, and p, p + 1 (`has_small_order` of x25519_ref10.c). */
export const X25519_SMALL_ORDER: readonly Uint8Array[] = [
  ZERO,
  ONE,
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  P_MINUS_1,
  P,
  P_PLUS_1,
].map(fromHex);

/** True when the 32 bytes at `offset`, with the top bit of the last one cleared, equal one of `list`. */
function inList(list: readonly Uint8Array[], s: Uint8Array, offset: number): boolean {
  outer: for (const entry of list) {
    for (let i = 0; i < 31; i++) if (s[offset + i] !== entry[i]) continue outer;
    if (((s[offset + 31] as number) & 0x7f) === entry[31]) return true;
  }
  return false;
}

/** The Ed25519 point encoded at `s[offset…offset+32)` has small order (order 1, 2, 4 or 8), in either sign. */
export function ed25519HasSmallOrder(s: Uint8Array, offset = 0): boolean {
  return inList(ED25519_SMALL_ORDER, s, offset);
}

/** The X25519 u-coordinate at `s[offset…)` is of a small-order point (the shared secret with it is zero). */
export function x25519HasSmallOrder(s: Uint8Array, offset = 0): boolean {
  return inList(X25519_SMALL_ORDER, s, offset);
}

/** The 255 low bits at `offset`, little-endian, are at least p = 2^255 − 19. */
function atLeastP(s: Uint8Array, offset: number): boolean {
  if (((s[offset + 31] as number) & 0x7f) !== 0x7f) return false;
  for (let i = 30; i > 0; i--) if (s[offset + i] !== 0xff) return false;
  return (s[offset] as number) >= 0xed;
}

/**
 * `ge25519_is_canonical`: the y-coordinate (sign bit aside) is below p. libsodium refuses
 * a public key encoded otherwise; OpenSSL reduces it mod p and goes on.
 */
export function ed25519IsCanonical(s: Uint8Array, offset = 0): boolean {
  return !atLeastP(s, offset);
}

/** An X25519 public key as `crypto_scalarmult_base` writes it: top bit clear and u below p. */
export function x25519IsCanonical(s: Uint8Array, offset = 0): boolean {
  return ((s[offset + 31] as number) & 0x80) === 0 && !atLeastP(s, offset);
}

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian: the order of the base point. */
const L = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/** `sc25519_is_canonical`: the scalar at `s[offset…offset+32)` (a signature's S) is below L. */
export function scalarIsCanonical(s: Uint8Array, offset = 0): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = s[offset + i] as number;
    const b = L[i] as number;
    if (a !== b) return a < b;
  }
  return false; // equal to L
}

const FIELD_P = (1n << 255n) - 19n;
// d = −121665 / 121666 mod p, the Edwards curve constant.
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;

function modPow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = base % FIELD_P;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % FIELD_P;
    b = (b * b) % FIELD_P;
  }
  return r;
}

/**
 * The encoding is of a point on the Edwards curve: x² = (y² − 1) / (d·y² + 1) has a root,
 * as `ge25519_frombytes` requires. About 0.1 ms (BigInt): for key enrolment, not per frame.
 */
export function ed25519IsOnCurve(s: Uint8Array, offset = 0): boolean {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? (s[offset + i] as number) & 0x7f : (s[offset + i] as number));
  y %= FIELD_P;
  const y2 = (y * y) % FIELD_P;
  const u = (y2 + FIELD_P - 1n) % FIELD_P;
  const v = (D * y2 + 1n) % FIELD_P;
  // u/v is a square exactly when u·v is (v is never 0: d is not a square); Euler's criterion.
  const uv = (u * v) % FIELD_P;
  return uv === 0n || modPow(uv, (FIELD_P - 1n) / 2n) === 1n;
}
