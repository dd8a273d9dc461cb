/**
 * Minimal msgpack writers for the envelopes, each choosing the shortest form as the msgpack
 * spec recommends (and as @msgpack/msgpack does), so our bytes equal a generic encoder's.
 */

/** Bytes `writeUint` will use for `v`. */
export function uintSize(v: number): number {
  if (v <= 0x7f) return 1;
  if (v <= 0xff) return 2;
  if (v <= 0xffff) return 3;
  if (v <= 0xffff_ffff) return 5;
  return 9;
}

/** Writes a non-negative safe integer at `pos`; returns the new position. */
export function writeUint(out: Uint8Array, pos: number, v: number): number {
  if (v <= 0x7f) {
    out[pos] = v;
    return pos + 1;
  }
  if (v <= 0xff) {
    out[pos] = 0xcc;
    out[pos + 1] = v;
    return pos + 2;
  }
  if (v <= 0xffff) {
    out[pos] = 0xcd;
    out[pos + 1] = v >>> 8;
    out[pos + 2] = v & 0xff;
    return pos + 3;
  }
  if (v <= 0xffff_ffff) {
    out[pos] = 0xce;
    writeU32(out, pos + 1, v);
    return pos + 5;
  }
  out[pos] = 0xcf;
  writeU32(out, pos + 1, Math.floor(v / 0x1_0000_0000));
  writeU32(out, pos + 5, v >>> 0);
  return pos + 9;
}

function writeU32(out: Uint8Array, pos: number, v: number): void {
  out[pos] = v >>> 24;
  out[pos + 1] = (v >>> 16) & 0xff;
  out[pos + 2] = (v >>> 8) & 0xff;
  out[pos + 3] = v & 0xff;
}

/** Bytes of a str/bin header for a payload of `len` bytes. */
export function strHeaderSize(len: number): number {
  return len <= 31 ? 1 : len <= 0xff ? 2 : len <= 0xffff ? 3 : 5;
}

export function binHeaderSize(len: number): number {
  return len <= 0xff ? 2 : len <= 0xffff ? 3 : 5;
}

/** Writes a str header (fixstr / str8 / str16 / str32). */
export function writeStrHeader(out: Uint8Array, pos: number, len: number): number {
  if (len <= 31) {
    out[pos] = 0xa0 | len;
    return pos + 1;
  }
  if (len <= 0xff) {
    out[pos] = 0xd9;
    out[pos + 1] = len;
    return pos + 2;
  }
  if (len <= 0xffff) {
    out[pos] = 0xda;
    out[pos + 1] = len >>> 8;
    out[pos + 2] = len & 0xff;
    return pos + 3;
  }
  out[pos] = 0xdb;
  writeU32(out, pos + 1, len);
  return pos + 5;
}

/** Writes a bin header (bin8 / bin16 / bin32). */
export function writeBinHeader(out: Uint8Array, pos: number, len: number): number {
  if (len <= 0xff) {
    out[pos] = 0xc4;
    out[pos + 1] = len;
    return pos + 2;
  }
  if (len <= 0xffff) {
    out[pos] = 0xc5;
    out[pos + 1] = len >>> 8;
    out[pos + 2] = len & 0xff;
    return pos + 3;
  }
  out[pos] = 0xc6;
  writeU32(out, pos + 1, len);
  return pos + 5;
}

/** Writes a u64 as 8 bytes big-endian. */
export function writeU64(out: Uint8Array, pos: number, v: bigint): number {
  const hi = Number(v >> 32n);
  const lo = Number(v & 0xffff_ffffn);
  writeU32(out, pos, hi);
  writeU32(out, pos + 4, lo);
  return pos + 8;
}

/** Reads 8 bytes big-endian as a u64 bigint. */
export function readU64(bytes: Uint8Array, pos: number): bigint {
  const hi = ((bytes[pos] as number) * 0x100_0000 + ((bytes[pos + 1] as number) << 16) + ((bytes[pos + 2] as number) << 8) + (bytes[pos + 3] as number)) >>> 0;
  const lo = ((bytes[pos + 4] as number) * 0x100_0000 + ((bytes[pos + 5] as number) << 16) + ((bytes[pos + 6] as number) << 8) + (bytes[pos + 7] as number)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}
