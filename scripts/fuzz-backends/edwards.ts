/**
 * Just enough Ed25519 arithmetic (BigInt, slow, variable time: test inputs only) to build
 * what no honest signer makes: keys with a torsion component and valid signatures under
 * them, which both backends must accept alike. Not for any secret.
 */
import { createHash } from 'node:crypto';

export const P = (1n << 255n) - 19n;
/** Order of the base point. */
export const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
const D2 = (2n * D) % P;
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;

/** Extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z. */
export type Point = readonly [bigint, bigint, bigint, bigint];

const mod = (a: bigint): bigint => ((a % P) + P) % P;

function pow(base: bigint, exp: bigint): bigint {
  let r = 1n;
  let b = mod(base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}

/** Little-endian bytes → integer. */
export function leToBig(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number);
  return n;
}

/** Integer → `length` little-endian bytes. */
export function bigToLe(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  let v = n;
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** RFC 8032 §5.1.3 decoding; null when the encoding is not of a point (or y ≥ p). */
export function decodePoint(bytes: Uint8Array): Point | null {
  const y = leToBig(bytes) & ((1n << 255n) - 1n);
  if (y >= P) return null;
  const sign = BigInt((bytes[31] as number) >> 7);
  const y2 = (y * y) % P;
  const x2 = mod((y2 - 1n) * pow(D * y2 + 1n, P - 2n));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = (x * SQRT_M1) % P;
  if (mod(x * x - x2) !== 0n) return null;
  if (x === 0n && sign === 1n) return null;
  if ((x & 1n) !== sign) x = P - x;
  return [x, y, 1n, (x * y) % P];
}

export function encodePoint(pt: Point): Uint8Array {
  const zi = pow(pt[2], P - 2n);
  const x = (pt[0] * zi) % P;
  const y = (pt[1] * zi) % P;
  const out = bigToLe(y);
  out[31] = (out[31] as number) | (Number(x & 1n) << 7);
  return out;
}

/** Point addition (add-2008-hwcd-3), complete on Ed25519. */
export function addPoints(p: Point, q: Point): Point {
  const a = mod((p[1] - p[0]) * (q[1] - q[0]));
  const b = mod((p[1] + p[0]) * (q[1] + q[0]));
  const c = mod(p[3] * D2 * q[3]);
  const d = mod(p[2] * 2n * q[2]);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

/** SHA-512 of the parts, as an integer mod L (Ed25519's h and r). */
export function hashToScalar(...parts: Uint8Array[]): bigint {
  const h = createHash('sha512');
  for (const part of parts) h.update(part);
  return leToBig(h.digest()) % L;
}

/** The secret scalar an Ed25519 seed stands for: clamp(SHA-512(seed)[0..32)). */
export function seedScalar(seed: Uint8Array): bigint {
  const h = createHash('sha512').update(seed).digest();
  h[0] = (h[0] as number) & 248;
  h[31] = ((h[31] as number) & 127) | 64;
  return leToBig(h.subarray(0, 32));
}
