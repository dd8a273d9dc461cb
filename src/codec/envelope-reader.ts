import { VigilError, type VigilErrorCode } from '../errors';

/**
 * A strict, allocation-light msgpack reader for the fixed envelopes of frames and sealed
 * records. The generic decoder cannot tell us where each element starts and ends, and the
 * header binding (docs/wire-format.md §3) is defined over exact byte ranges, so the envelope
 * is walked by hand. Every failure is a `VigilError` with the code given at construction.
 */
export class EnvelopeReader {
  bytes: Uint8Array = new Uint8Array(0);
  pos = 0;

  constructor(private readonly code: VigilErrorCode) {}

  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.pos = 0;
  }

  fail(field: string, reason: string): never {
    throw new VigilError(this.code, `${field}: ${reason}`, { details: { field, offset: this.pos } });
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.bytes.length) this.fail(field, 'truncated');
  }

  private u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.pos++] as number;
  }

  private be(n: number, field: string): number {
    this.need(n, field);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + (this.bytes[this.pos++] as number);
    return v;
  }

  /** A fixarray header; returns its length (only fixarray is used by our envelopes). */
  fixArray(field: string): number {
    const b = this.u8(field);
    if (b < 0x90 || b > 0x9f) this.fail(field, 'expected a msgpack array of at most 15 elements');
    return b & 0x0f;
  }

  /**
   * A non-negative integer in any msgpack integer format (other encoders pick int64 for
   * positive values, which is legal msgpack), at most `max` (≤ 2^53 − 1).
   */
  uint(field: string, max: number): number {
    const b = this.u8(field);
    let v: number;
    if (b <= 0x7f) v = b;
    else if (b === 0xcc || b === 0xd0) v = this.signedIf(b === 0xd0, this.be(1, field), 1, field);
    else if (b === 0xcd || b === 0xd1) v = this.signedIf(b === 0xd1, this.be(2, field), 2, field);
    else if (b === 0xce || b === 0xd2) v = this.signedIf(b === 0xd2, this.be(4, field), 4, field);
    else if (b === 0xcf || b === 0xd3) {
      const hi = this.be(4, field);
      const lo = this.be(4, field);
      // hi ≥ 2^21 means ≥ 2^53 (or negative for int64): never a valid value here.
      if (hi >= 0x200000) this.fail(field, 'integer out of range');
      v = hi * 0x1_0000_0000 + lo;
    } else if (b >= 0xe0) this.fail(field, 'must not be negative');
    else this.fail(field, 'expected an integer');
    if (v > max) this.fail(field, `integer ${v} exceeds ${max}`);
    return v;
  }

  private signedIf(signed: boolean, v: number, bytes: number, field: string): number {
    if (signed && v >= 2 ** (8 * bytes - 1)) this.fail(field, 'must not be negative');
    return v;
  }

  /** A msgpack str; returns [start, end) of its UTF-8 bytes. */
  strRange(field: string, maxBytes: number): number {
    const b = this.u8(field);
    let len: number;
    if (b >= 0xa0 && b <= 0xbf) len = b & 0x1f;
    else if (b === 0xd9) len = this.be(1, field);
    else if (b === 0xda) len = this.be(2, field);
    else if (b === 0xdb) len = this.be(4, field);
    else return this.fail(field, 'expected a msgpack str');
    if (len > maxBytes) this.fail(field, `longer than ${maxBytes} bytes`);
    this.need(len, field);
    const start = this.pos;
    this.pos += len;
    return start;
  }

  /** A msgpack bin; returns its length and leaves `pos` at its first byte. */
  binHeader(field: string): number {
    const b = this.u8(field);
    let len: number;
    if (b === 0xc4) len = this.be(1, field);
    else if (b === 0xc5) len = this.be(2, field);
    else if (b === 0xc6) len = this.be(4, field);
    else return this.fail(field, 'expected a msgpack bin');
    this.need(len, field);
    return len;
  }

  /** A msgpack bin of exactly `length` bytes; returns its start offset and skips it. */
  binExact(field: string, length: number): number {
    const len = this.binHeader(field);
    if (len !== length) this.fail(field, `must be ${length} bytes, got ${len}`);
    const start = this.pos;
    this.pos += len;
    return start;
  }

  /** Fails unless every byte has been consumed. */
  end(field: string): void {
    if (this.pos !== this.bytes.length) this.fail(field, `${this.bytes.length - this.pos} trailing byte(s)`);
  }
}
