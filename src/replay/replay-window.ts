/**
 * What a replay check says about a sequence number.
 * - `fresh`: never seen and inside (or ahead of) the window: may be accepted.
 * - `replay`: seen before, inside the window.
 * - `too-old`: older than the window reaches; cannot be told apart from a replay, so refused.
 */
export type ReplayVerdict = 'fresh' | 'replay' | 'too-old';

/** Plain, serialisable state of one device's window (for snapshots). */
export interface ReplayWindowState {
  /** Highest accepted sequence number, decimal (u64 does not fit a JSON number). */
  readonly top: string;
  /** The bitmap words, base64 of the little-endian Uint32Array. */
  readonly bits: string;
}

/**
 * IPsec-style anti-replay window (RFC 4303 §3.4.3, with RFC 6479's ring bitmap) over the
 * u64 sequence numbers of one device. Frames may arrive out of order by up to `size`
 * positions; anything older is refused as too old.
 *
 * Two steps on purpose: `check` before the frame is authenticated (cheap refusal of
 * replays without touching crypto) and `accept` only after the MAC verified, so a forged
 * frame can never move the window.
 */
export class ReplayWindow {
  /** Highest accepted sequence; -1n while nothing was accepted. */
  private top = -1n;
  private readonly words: Uint32Array;
  private readonly mask: bigint;

  /** @param size window length in sequence numbers; a power of two, at least 64. */
  constructor(readonly size: number = 1024) {
    if (!Number.isInteger(size) || size < 64 || (size & (size - 1)) !== 0 || size > 1 << 20) {
      throw new RangeError(`replay window size must be a power of two between 64 and 1048576, got ${size}`);
    }
    this.words = new Uint32Array(size >>> 5);
    this.mask = BigInt(size - 1);
  }

  check(seq: bigint): ReplayVerdict {
    if (seq > this.top) return 'fresh';
    if (this.top - seq >= BigInt(this.size)) return 'too-old';
    const bit = Number(seq & this.mask);
    return (this.words[bit >>> 5] as number) & (1 << (bit & 31)) ? 'replay' : 'fresh';
  }

  /** Marks `seq` seen. Returns false (and changes nothing) when `check` would refuse it. */
  accept(seq: bigint): boolean {
    if (seq > this.top) {
      this.advance(seq);
    } else if (this.top - seq >= BigInt(this.size)) {
      return false;
    }
    const bit = Number(seq & this.mask);
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    if ((this.words[w] as number) & m) return false;
    this.words[w] = (this.words[w] as number) | m;
    return true;
  }

  /** Highest accepted sequence number, or -1n. */
  highest(): bigint {
    return this.top;
  }

  snapshot(): ReplayWindowState {
    return { top: this.top.toString(), bits: Buffer.from(this.words.buffer, this.words.byteOffset, this.words.byteLength).toString('base64') };
  }

  static restore(state: ReplayWindowState, size = 1024): ReplayWindow {
    const w = new ReplayWindow(size);
    const bytes = Buffer.from(state.bits, 'base64');
    if (bytes.length !== w.words.byteLength) throw new RangeError(`replay window state holds ${bytes.length * 8} bits, expected ${size}`);
    w.top = BigInt(state.top);
    w.words.set(new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
    return w;
  }

  /** Moves the top to `seq`, clearing the bits of the positions the window slides over. */
  private advance(seq: bigint): void {
    const gap = seq - this.top;
    if (this.top < 0n || gap >= BigInt(this.size)) {
      this.words.fill(0);
    } else {
      for (let s = this.top + 1n; s <= seq; s++) {
        const bit = Number(s & this.mask);
        this.words[bit >>> 5] = (this.words[bit >>> 5] as number) & ~(1 << (bit & 31));
      }
    }
    this.top = seq;
  }
}
