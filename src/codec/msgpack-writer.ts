import type { Encoder } from '@msgpack/msgpack';
import { strHeaderSize, writeBinHeader, writeStrHeader, writeU64, writeUint } from './envelope-writer';

/**
 * A minimal msgpack writer for the hot path (sealing telemetry records), writing into one
 * reused, growable buffer. Every value is written in the form `@msgpack/msgpack`'s `Encoder`
 * (default options) chooses, so the bytes equal a generic encoding of the same value: the
 * shortest integer form for safe integers, float64 otherwise; the shortest str/bin/array
 * header (the str/bin/uint forms are envelope-writer's, which the envelopes already use). Strings that are not plain ASCII go through that `Encoder` itself, so even lone
 * surrogates come out as it writes them. Not reentrant.
 */
export class MsgpackWriter {
  buf: Uint8Array;
  pos = 0;
  private view: DataView;

  constructor(
    private readonly fallback: Encoder,
    initialBytes = 4096,
  ) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Starts a new value at the beginning of the buffer. */
  reset(): void {
    this.pos = 0;
  }

  /** The bytes written since `reset`: a view into the buffer, valid until the next write. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  nil(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0xc0;
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 16) b[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      b[this.pos] = 0xdc;
      b[this.pos + 1] = n >>> 8;
      b[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      b[this.pos] = 0xdd;
      this.view.setUint32(this.pos + 1, n);
      this.pos += 5;
    }
  }

  bin(bytes: Uint8Array): void {
    this.ensure(5 + bytes.length);
    this.pos = writeBinHeader(this.buf, this.pos, bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A u64 as 8 bytes big-endian in a bin (how records carry sequence numbers). */
  binU64(v: bigint): void {
    this.ensure(10);
    this.pos = writeU64(this.buf, writeBinHeader(this.buf, this.pos, 8), v);
  }

  /** A number as `Encoder.encodeNumber` writes it. */
  number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    const p = this.pos;
    if (!Number.isSafeInteger(v)) {
      b[p] = 0xcb;
      this.view.setFloat64(p + 1, v);
      this.pos = p + 9;
    } else if (v >= 0) {
      this.pos = writeUint(b, p, v);
    } else if (v >= -0x20) {
      b[p] = 0xe0 | (v + 0x20);
      this.pos = p + 1;
    } else if (v >= -0x80) {
      b[p] = 0xd0;
      this.view.setInt8(p + 1, v);
      this.pos = p + 2;
    } else if (v >= -0x8000) {
      b[p] = 0xd1;
      this.view.setInt16(p + 1, v);
      this.pos = p + 3;
    } else if (v >= -0x8000_0000) {
      b[p] = 0xd2;
      this.view.setInt32(p + 1, v);
      this.pos = p + 5;
    } else {
      b[p] = 0xd3;
      this.view.setBigInt64(p + 1, BigInt(v));
      this.pos = p + 9;
    }
  }

  /** A string: ASCII written here; anything else as the fallback `Encoder` writes it. */
  str(s: string): void {
    const n = s.length;
    const head = strHeaderSize(n);
    this.ensure(head + n);
    const b = this.buf;
    const start = this.pos + head;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.raw(this.fallback.encodeSharedRef(s));
      b[start + i] = c;
    }
    writeStrHeader(b, this.pos, n);
    this.pos = start + n;
  }
}
