import { Encoder } from '@msgpack/msgpack';
import { assertKeyBytes, MAC_BYTES, NONCE_BYTES, resolveCryptoBackend, SHARED_KEY_BYTES, SHA512_BYTES, SIGNATURE_BYTES, type CryptoBackend, type CryptoBackendOption, type Signer } from '../crypto';
import { VigilError } from '../errors';
import { binHeaderSize, strHeaderSize, uintSize, writeBinHeader, writeStrHeader, writeUint, writeU64 } from './envelope-writer';
import { checkFrameHeaderInput, FRAME_SIGNATURE_CONTEXT, FRAME_VERSION, type FrameInput } from './frame';
import { MAX_FRAME_BYTES, MAX_READINGS_PER_FRAME } from './limits';
import { encodeReadings } from './reading-codec';

export interface FrameCodecOptions {
  /** Crypto backend or how to choose one. Default `auto`. */
  readonly backend?: CryptoBackend | CryptoBackendOption;
  /** Largest frame, bytes. Default and upper bound `MAX_FRAME_BYTES` (32 KiB). */
  readonly maxFrameBytes?: number;
  /** Most readings per frame. Default and upper bound `MAX_READINGS_PER_FRAME` (256). */
  readonly maxReadings?: number;
}

export interface SealFrameOptions {
  /** Sign the frame with the device's Ed25519 key (device classes that need non-repudiation). */
  readonly signer?: Signer;
  /** The 24 header nonce bytes; random when absent. Only tests and fixtures pass one. */
  readonly nonce?: Uint8Array;
}

/** Checks and freezes limits shared by the sealer and the opener. */
export function frameLimits(options: FrameCodecOptions): { maxFrameBytes: number; maxReadings: number } {
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const maxReadings = options.maxReadings ?? MAX_READINGS_PER_FRAME;
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 64 || maxFrameBytes > MAX_FRAME_BYTES) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', `maxFrameBytes must be an integer in 64..${MAX_FRAME_BYTES}, got ${String(maxFrameBytes)}`, { details: { key: 'maxFrameBytes' } });
  }
  if (!Number.isInteger(maxReadings) || maxReadings < 1 || maxReadings > MAX_READINGS_PER_FRAME) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', `maxReadings must be an integer in 1..${MAX_READINGS_PER_FRAME}, got ${String(maxReadings)}`, { details: { key: 'maxReadings' } });
  }
  return { maxFrameBytes, maxReadings };
}

const ASCII = new TextEncoder();

/**
 * Device side: validates readings, encodes the body with a reused msgpack encoder, and seals
 * it into a frame (docs/wire-format.md §2–4). One instance per device/thread; not reentrant.
 *
 * @example
 * const sealer = new FrameSealer();
 * const key = boxSharedKey(ingestPublicKey, deviceKeys.box.secretKey);
 * const frame = sealer.seal({ deviceId: 'uav-0042', epoch: 1, seq: 7n, eventTimeMs: Date.now(), readings }, key);
 */
export class FrameSealer {
  private readonly backend: CryptoBackend;
  private readonly maxFrameBytes: number;
  private readonly maxReadings: number;
  private readonly encoder = new Encoder();
  private readonly hash = new Uint8Array(SHA512_BYTES);
  private readonly boxNonce = this.hash.subarray(0, NONCE_BYTES);
  private readonly signScratch: Uint8Array;

  constructor(options: FrameCodecOptions = {}) {
    this.backend = resolveCryptoBackend(options.backend);
    ({ maxFrameBytes: this.maxFrameBytes, maxReadings: this.maxReadings } = frameLimits(options));
    this.signScratch = new Uint8Array(FRAME_SIGNATURE_CONTEXT.length + this.maxFrameBytes);
    this.signScratch.set(FRAME_SIGNATURE_CONTEXT);
  }

  /**
   * Seals one frame under the device/ingest shared key (`boxSharedKey`).
   *
   * @throws VigilError `VIGIL_E_FRAME_MALFORMED` (header fields), `VIGIL_E_READING_INVALID`,
   *   `VIGIL_E_FRAME_TOO_LARGE`, `VIGIL_E_KEY_INVALID` (key or nonce length).
   */
  seal(input: FrameInput, sharedKey: Uint8Array, options: SealFrameOptions = {}): Uint8Array {
    checkFrameHeaderInput(input);
    assertKeyBytes(sharedKey, SHARED_KEY_BYTES, 'shared key');
    if (options.nonce !== undefined) assertKeyBytes(options.nonce, NONCE_BYTES, 'nonce');
    const body = this.encoder.encodeSharedRef(encodeReadings(input.readings, this.maxReadings));

    const idBytes = ASCII.encode(input.deviceId);
    const signed = options.signer !== undefined;
    const headerLength = 1 + 1 + strHeaderSize(idBytes.length) + idBytes.length + uintSize(input.epoch) + 10 + uintSize(input.eventTimeMs) + 2 + NONCE_BYTES;
    const ctLength = body.length + MAC_BYTES;
    const signedLength = headerLength + binHeaderSize(ctLength) + ctLength;
    const total = signedLength + (signed ? 2 + SIGNATURE_BYTES : 0);
    if (total > this.maxFrameBytes) {
      throw new VigilError('VIGIL_E_FRAME_TOO_LARGE', `frame would be ${total} bytes, more than ${this.maxFrameBytes}; send fewer readings per frame`, {
        details: { bytes: total, max: this.maxFrameBytes, readings: input.readings.length },
      });
    }

    const out = new Uint8Array(total);
    let p = 0;
    out[p++] = signed ? 0x98 : 0x97;
    out[p++] = FRAME_VERSION;
    p = writeStrHeader(out, p, idBytes.length);
    out.set(idBytes, p);
    p += idBytes.length;
    p = writeUint(out, p, input.epoch);
    p = writeBinHeader(out, p, 8);
    p = writeU64(out, p, input.seq);
    p = writeUint(out, p, input.eventTimeMs);
    p = writeBinHeader(out, p, NONCE_BYTES);
    const nonce = out.subarray(p, p + NONCE_BYTES);
    if (options.nonce !== undefined) nonce.set(options.nonce);
    else this.backend.randomFill(nonce);
    p += NONCE_BYTES;

    // Header binding: the box nonce is the first 24 bytes of SHA-512 over the exact header
    // bytes, so changing any of them changes the nonce and the Poly1305 tag fails.
    this.backend.sha512Into(this.hash, out.subarray(0, headerLength));
    p = writeBinHeader(out, p, ctLength);
    this.backend.secretboxSealInto(out.subarray(p, p + ctLength), body, this.boxNonce, sharedKey);
    p += ctLength;

    if (options.signer !== undefined) {
      const ctx = FRAME_SIGNATURE_CONTEXT.length;
      this.signScratch.set(out.subarray(0, signedLength), ctx);
      const sig = options.signer.sign(this.signScratch.subarray(0, ctx + signedLength));
      p = writeBinHeader(out, p, SIGNATURE_BYTES);
      out.set(sig, p);
    }
    return out;
  }
}
