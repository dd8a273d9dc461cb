import { Decoder } from '@msgpack/msgpack';
import { assertKeyBytes, MAC_BYTES, NONCE_BYTES, resolveCryptoBackend, SHARED_KEY_BYTES, SHA512_BYTES, SIGNATURE_BYTES, type CryptoBackend, type Verifier } from '../crypto';
import { VigilError } from '../errors';
import { EnvelopeReader } from './envelope-reader';
import { readU64 } from './envelope-writer';
import { checkEventTime, FRAME_SIGNATURE_CONTEXT, FRAME_VERSION, MAX_DEVICE_ID_BYTES, MAX_EPOCH, type DecodedFrame, type OpenedFrame } from './frame';
import { frameLimits, type FrameCodecOptions } from './frame-sealer';
import type { Reading } from './reading';
import { decodeReadings } from './reading-codec';

export interface OpenFrameOptions {
  /** The device's Ed25519 verifier (created once per device key). Needed to accept a signed frame. */
  readonly verifier?: Verifier;
  /** Reject frames without a signature (device classes that need non-repudiation). */
  readonly requireSignature?: boolean;
}

/** Shared key for (device, epoch), e.g. `SharedKeyCache#get`; undefined when the device is unknown. */
export type SharedKeyLookup = (deviceId: string, epoch: number) => Uint8Array | undefined;

// Device id bytes allowed by DEVICE_ID_PATTERN, as a lookup table: checked byte by byte before
// any string is built.
const ID_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-') ID_BYTE[c.charCodeAt(0)] = 1;
const ASCII = new TextDecoder('ascii');

/**
 * Gateway side, in two steps so that cheap checks run before crypto: `decode` parses and
 * checks the clear part (size, layout, version, header fields); `open` authenticates and
 * decrypts with the cached shared key, verifies the signature, and validates the readings.
 * Every failure is a `VigilError` with its own code; no other exception escapes.
 * One instance per worker; not reentrant (it reuses its decoder and scratch buffers).
 *
 * @example
 * const opener = new FrameOpener();
 * const frame = opener.decode(bytes);                 // FRAME_TOO_LARGE / _MALFORMED / _VERSION
 * // ...registry, epoch, replay and skew checks on frame.deviceId, frame.seq, frame.eventTimeMs...
 * const readings = opener.open(frame, keys.get(frame.deviceId, frame.epoch)!); // FRAME_AUTH / _SIGNATURE, READING_INVALID
 */
export class FrameOpener {
  private readonly backend: CryptoBackend;
  private readonly maxFrameBytes: number;
  private readonly maxReadings: number;
  private readonly reader = new EnvelopeReader('VIGIL_E_FRAME_MALFORMED');
  private readonly decoder = new Decoder();
  private readonly hash = new Uint8Array(SHA512_BYTES);
  private readonly boxNonce = this.hash.subarray(0, NONCE_BYTES);
  private readonly plain: Uint8Array;
  private readonly signScratch: Uint8Array;

  constructor(options: FrameCodecOptions = {}) {
    this.backend = resolveCryptoBackend(options.backend);
    ({ maxFrameBytes: this.maxFrameBytes, maxReadings: this.maxReadings } = frameLimits(options));
    this.plain = new Uint8Array(this.maxFrameBytes);
    this.signScratch = new Uint8Array(FRAME_SIGNATURE_CONTEXT.length + this.maxFrameBytes);
    this.signScratch.set(FRAME_SIGNATURE_CONTEXT);
  }

  /** The backend in use (`sodium` or `tweetnacl`). */
  get backendName(): string {
    return this.backend.name;
  }

  /**
   * Parses the clear part of a frame. No crypto.
   *
   * @throws VigilError `VIGIL_E_FRAME_TOO_LARGE`, `VIGIL_E_FRAME_VERSION`, `VIGIL_E_FRAME_MALFORMED`
   */
  decode(bytes: Uint8Array): DecodedFrame {
    if (!(bytes instanceof Uint8Array)) throw new VigilError('VIGIL_E_FRAME_MALFORMED', 'frame: must be bytes', { details: { field: 'frame' } });
    if (bytes.length > this.maxFrameBytes) {
      throw new VigilError('VIGIL_E_FRAME_TOO_LARGE', `frame is ${bytes.length} bytes, more than ${this.maxFrameBytes}`, { details: { bytes: bytes.length, max: this.maxFrameBytes } });
    }
    const r = this.reader;
    r.reset(bytes);
    const count = r.fixArray('frame');
    // The version comes before any other check so that a future format is reported as such.
    const version = r.uint('version', Number.MAX_SAFE_INTEGER);
    if (version !== FRAME_VERSION) {
      throw new VigilError('VIGIL_E_FRAME_VERSION', `frame version ${version} is not supported (this build reads version ${FRAME_VERSION})`, { details: { version } });
    }
    if (count !== 7 && count !== 8) r.fail('frame', `a version 1 frame is an array of 7 or 8 elements, got ${count}`);
    const idStart = r.strRange('deviceId', MAX_DEVICE_ID_BYTES);
    const idEnd = r.pos;
    if (idEnd === idStart) r.fail('deviceId', 'must not be empty');
    for (let i = idStart; i < idEnd; i++) if (ID_BYTE[bytes[i] as number] !== 1) r.fail('deviceId', 'must be characters of [A-Za-z0-9._:-]');
    const deviceId = ASCII.decode(bytes.subarray(idStart, idEnd));
    const epoch = r.uint('epoch', MAX_EPOCH);
    const seqStart = r.binExact('seq', 8);
    const seq = readU64(bytes, seqStart);
    const eventTimeMs = r.uint('eventTimeMs', Number.MAX_SAFE_INTEGER);
    checkEventTime(eventTimeMs, 'eventTimeMs', (field, message) => new VigilError('VIGIL_E_FRAME_MALFORMED', `${field}: ${message}`, { details: { field } }));
    const nonceStart = r.binExact('nonce', NONCE_BYTES);
    const headerLength = r.pos;
    const ctLength = r.binHeader('ciphertext');
    if (ctLength <= MAC_BYTES) r.fail('ciphertext', `must be longer than the ${MAC_BYTES}-byte tag`);
    const ctStart = r.pos;
    r.pos += ctLength;
    const signedLength = r.pos;
    let signature: Uint8Array | null = null;
    if (count === 8) {
      const sigStart = r.binExact('signature', SIGNATURE_BYTES);
      signature = bytes.subarray(sigStart, sigStart + SIGNATURE_BYTES);
    }
    r.end('frame');
    return {
      version,
      deviceId,
      epoch,
      seq,
      eventTimeMs,
      nonce: bytes.subarray(nonceStart, nonceStart + NONCE_BYTES),
      ciphertext: bytes.subarray(ctStart, ctStart + ctLength),
      signature,
      bytes,
      headerLength,
      signedLength,
    };
  }

  /**
   * Authenticates and decrypts a decoded frame with its (device, epoch) shared key, verifies
   * its signature, and validates its readings. The MAC is checked before the signature:
   * without the shared key nobody can make the gateway spend an Ed25519 verification.
   *
   * No error raised after decryption carries any of the plaintext: messages name the field
   * and the rule, never the value, and the msgpack decoder's own text (which can quote bytes
   * and types) is not passed on. A gateway writes these messages to `telemetry.rejected`
   * in the clear.
   *
   * @throws VigilError `VIGIL_E_FRAME_AUTH`, `VIGIL_E_FRAME_SIGNATURE`, `VIGIL_E_FRAME_MALFORMED`
   *   (body is not msgpack), `VIGIL_E_READING_INVALID`, `VIGIL_E_KEY_INVALID` (key length)
   */
  open(frame: DecodedFrame, sharedKey: Uint8Array, options: OpenFrameOptions = {}): Reading[] {
    const body = this.openBody(frame, sharedKey, options);
    try {
      return decodeReadings(body, this.maxReadings);
    } catch (err) {
      if (err instanceof VigilError) throw err;
      // A bug in validation; its text could quote the body, so only the fact is passed on.
      throw new VigilError('VIGIL_E_INTERNAL', 'body: internal error while validating the readings', { details: { field: 'body', deviceId: frame.deviceId } });
    }
  }

  /**
   * `open` without the reading validation: the decrypted body as msgpack decoded it (any
   * value). For `vigil frame inspect`, which shows an operator holding the keys why a body's
   * readings are refused; the gateway never uses it.
   *
   * @throws VigilError as `open`, except `VIGIL_E_READING_INVALID`
   */
  openBody(frame: DecodedFrame, sharedKey: Uint8Array, options: OpenFrameOptions = {}): unknown {
    assertKeyBytes(sharedKey, SHARED_KEY_BYTES, 'shared key');
    const { bytes, ciphertext } = frame;
    this.backend.sha512Into(this.hash, bytes.subarray(0, frame.headerLength));
    const plain = this.plain.subarray(0, ciphertext.length - MAC_BYTES);
    if (!this.backend.secretboxOpenInto(plain, ciphertext, this.boxNonce, sharedKey)) {
      throw new VigilError('VIGIL_E_FRAME_AUTH', `frame from ${frame.deviceId} (epoch ${frame.epoch}) failed authentication`, {
        details: { deviceId: frame.deviceId, epoch: frame.epoch },
      });
    }
    this.checkSignature(frame, options);
    try {
      return this.decoder.decode(plain);
    } catch {
      // Neither the decoder's message nor the error itself (as a cause) goes on: either can
      // quote the plaintext's bytes or types.
      throw new VigilError('VIGIL_E_FRAME_MALFORMED', 'body: not valid msgpack', { details: { field: 'body', deviceId: frame.deviceId } });
    }
  }

  /**
   * `decode` then `open`, for callers with no checks in between (tests, tools, benchmarks).
   * `key` is the shared key, or a lookup such as `(d, e) => cache.get(d, e)`; a lookup that
   * returns undefined yields `VIGIL_E_DEVICE_UNKNOWN`.
   */
  decodeAndOpen(bytes: Uint8Array, key: Uint8Array | SharedKeyLookup, options: OpenFrameOptions = {}): OpenedFrame {
    const frame = this.decode(bytes);
    const sharedKey = typeof key === 'function' ? key(frame.deviceId, frame.epoch) : key;
    if (sharedKey === undefined) {
      throw new VigilError('VIGIL_E_DEVICE_UNKNOWN', `no key for device ${frame.deviceId} at epoch ${frame.epoch}`, { details: { deviceId: frame.deviceId, epoch: frame.epoch } });
    }
    const readings = this.open(frame, sharedKey, options);
    return {
      version: frame.version,
      deviceId: frame.deviceId,
      epoch: frame.epoch,
      seq: frame.seq,
      eventTimeMs: frame.eventTimeMs,
      readings,
      signed: frame.signature !== null,
    };
  }

  private checkSignature(frame: DecodedFrame, options: OpenFrameOptions): void {
    const fail = (reason: string): never => {
      throw new VigilError('VIGIL_E_FRAME_SIGNATURE', `frame from ${frame.deviceId}: ${reason}`, { details: { deviceId: frame.deviceId } });
    };
    if (frame.signature === null) {
      if (options.requireSignature === true) fail('signature required but absent');
      return;
    }
    // A signature present is always checked: accepting one unverified would let a frame
    // claim non-repudiation it does not have.
    if (options.verifier === undefined) return fail('frame is signed but no verifier for the device key was given');
    const ctx = FRAME_SIGNATURE_CONTEXT.length;
    this.signScratch.set(frame.bytes.subarray(0, frame.signedLength), ctx);
    if (!options.verifier.verify(this.signScratch.subarray(0, ctx + frame.signedLength), frame.signature)) fail('signature does not verify');
  }
}
