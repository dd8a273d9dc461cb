import { VigilError } from '../errors';
import type { BoxKeyPair, CryptoBackend, CryptoBackendOption, SignKeyPair } from './backend';
import { BOX_PUBLIC_KEY_BYTES, BOX_SECRET_KEY_BYTES, SECRETBOX_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGN_SEED_BYTES } from './constants';
import { assertKeyBytes } from './key-checks';
import { ed25519HasSmallOrder, ed25519IsCanonical, ed25519IsOnCurve, x25519HasSmallOrder, x25519IsCanonical } from './point-checks';
import { resolveCryptoBackend } from './select-backend';

/** Everything a device holds: its identity, key epoch, X25519 pair (frames) and Ed25519 pair (signatures). */
export interface DeviceKeys {
  readonly deviceId: string;
  readonly epoch: number;
  readonly box: BoxKeyPair;
  readonly sign: SignKeyPair;
}

/** The gateway's ingest key: devices box frames to its public half. */
export interface IngestKeys {
  readonly keyId: string;
  readonly box: BoxKeyPair;
}

/** A process's own Ed25519 signing key (the relay signs its audit summaries with it); verifiers hold only `sign.publicKey`. */
export interface SigningKey {
  readonly keyId: string;
  readonly sign: SignKeyPair;
}

/** A stream data key: seals records of one stream; its id travels in the Kafka headers. */
export interface StreamDataKey {
  readonly keyId: string;
  readonly key: Uint8Array;
}

/** What the registry stores about a device's keys: the public halves only. */
export interface DevicePublicKeys {
  readonly deviceId: string;
  readonly epoch: number;
  readonly boxPublicKey: Uint8Array;
  readonly signPublicKey: Uint8Array;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_EPOCH = 0xffffffff;

/** Throws `VIGIL_E_KEY_INVALID` unless `id` is 1–64 characters of `[A-Za-z0-9._:-]`. */
export function assertKeyId(id: unknown, what: string): asserts id is string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new VigilError('VIGIL_E_KEY_INVALID', `${what} must be 1-64 characters of [A-Za-z0-9._:-]`, { details: { what } });
  }
}

/** Throws `VIGIL_E_KEY_INVALID` unless `epoch` is an integer in 0..2^32-1. */
export function assertEpoch(epoch: unknown): asserts epoch is number {
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
    throw new VigilError('VIGIL_E_KEY_INVALID', 'key epoch must be an integer in 0..4294967295', { details: { what: 'epoch' } });
  }
}

function random(backend: CryptoBackend, n: number): Uint8Array {
  const b = new Uint8Array(n);
  backend.randomFill(b);
  return b;
}

/** X25519 key pair from a 32-byte secret key (deterministic; tests and fixtures use it). */
export function boxKeyPairFromSecretKey(secretKey: Uint8Array, backend?: CryptoBackend | CryptoBackendOption): BoxKeyPair {
  assertKeyBytes(secretKey, BOX_SECRET_KEY_BYTES, 'X25519 secret key');
  const sk = Uint8Array.from(secretKey);
  return { publicKey: resolveCryptoBackend(backend).boxPublicKey(sk), secretKey: sk };
}

/** Ed25519 key pair from a 32-byte seed (deterministic). */
export function signKeyPairFromSeed(seed: Uint8Array, backend?: CryptoBackend | CryptoBackendOption): SignKeyPair {
  assertKeyBytes(seed, SIGN_SEED_BYTES, 'Ed25519 seed');
  const s = Uint8Array.from(seed);
  return { publicKey: resolveCryptoBackend(backend).signPublicKey(s), seed: s };
}

/** A fresh random X25519 key pair. */
export function generateBoxKeyPair(backend?: CryptoBackend | CryptoBackendOption): BoxKeyPair {
  const b = resolveCryptoBackend(backend);
  return boxKeyPairFromSecretKey(random(b, BOX_SECRET_KEY_BYTES), b);
}

/** A fresh random Ed25519 key pair. */
export function generateSignKeyPair(backend?: CryptoBackend | CryptoBackendOption): SignKeyPair {
  const b = resolveCryptoBackend(backend);
  return signKeyPairFromSeed(random(b, SIGN_SEED_BYTES), b);
}

/**
 * New keys for a device at a key epoch (a new epoch means new keys: rotation).
 *
 * @example
 * const keys = generateDeviceKeys('uav-0042', 1);
 * await writeKeyFile('uav-0042.key.json', { type: 'device', keys });
 */
export function generateDeviceKeys(deviceId: string, epoch: number, backend?: CryptoBackend | CryptoBackendOption): DeviceKeys {
  assertKeyId(deviceId, 'device id');
  assertEpoch(epoch);
  const b = resolveCryptoBackend(backend);
  return { deviceId, epoch, box: generateBoxKeyPair(b), sign: generateSignKeyPair(b) };
}

/** A new ingest key pair for gateways. */
export function generateIngestKeys(keyId: string, backend?: CryptoBackend | CryptoBackendOption): IngestKeys {
  assertKeyId(keyId, 'ingest key id');
  return { keyId, box: generateBoxKeyPair(backend) };
}

/** A new signing key pair. */
export function generateSigningKey(keyId: string, backend?: CryptoBackend | CryptoBackendOption): SigningKey {
  assertKeyId(keyId, 'signing key id');
  return { keyId, sign: generateSignKeyPair(backend) };
}

/** A new random 32-byte stream data key. */
export function generateStreamKey(keyId: string, backend?: CryptoBackend | CryptoBackendOption): StreamDataKey {
  assertKeyId(keyId, 'stream key id');
  return { keyId, key: random(resolveCryptoBackend(backend), SECRETBOX_KEY_BYTES) };
}

/** The public halves of a device's keys, for the registry. */
export function devicePublicKeys(keys: DeviceKeys): DevicePublicKeys {
  return { deviceId: keys.deviceId, epoch: keys.epoch, boxPublicKey: keys.box.publicKey, signPublicKey: keys.sign.publicKey };
}

/**
 * Why `publicKey` cannot be a device's X25519 key, or null when it can: a small-order point
 * (the all-zero key among them) makes every shared key zero, so anyone could seal frames
 * "from" the device; a non-canonical encoding is never what key generation writes.
 */
export function boxPublicKeyProblem(publicKey: Uint8Array): string | null {
  if (publicKey.length !== BOX_PUBLIC_KEY_BYTES) return `must be ${BOX_PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`;
  if (x25519HasSmallOrder(publicKey)) return 'is a point of small order (every shared key with it is zero)';
  if (!x25519IsCanonical(publicKey)) return 'is not canonical (u must be below 2^255-19 with the top bit clear)';
  return null;
}

// Curve membership costs ~0.1 ms of BigInt work; a registry is parsed again on every edit
// and reload, so each key is checked once. Bounded: cleared when full.
const onCurve = new Map<string, boolean>();

/**
 * Why `publicKey` cannot be a device's Ed25519 key, or null when it can: libsodium refuses
 * every signature under a small-order or non-canonical key, and under a small-order key
 * (the identity among them) R = identity, S = 0 is a "signature" of anything for verifiers
 * that do not check; a key off the curve verifies nothing.
 */
export function signPublicKeyProblem(publicKey: Uint8Array): string | null {
  if (publicKey.length !== SIGN_PUBLIC_KEY_BYTES) return `must be ${SIGN_PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`;
  if (ed25519HasSmallOrder(publicKey)) return 'is a point of small order (the identity or a torsion point: anyone can forge signatures under it)';
  if (!ed25519IsCanonical(publicKey)) return 'is not canonical (y must be below 2^255-19)';
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1');
  let ok = onCurve.get(id);
  if (ok === undefined) {
    if (onCurve.size >= 65_536) onCurve.clear();
    onCurve.set(id, (ok = ed25519IsOnCurve(publicKey)));
  }
  return ok ? null : 'is not a point of the Ed25519 curve';
}

/**
 * Throws `VIGIL_E_KEY_INVALID` naming the device, the epoch and the key when either public
 * key is unusable (see `boxPublicKeyProblem`, `signPublicKeyProblem`); never quotes key bytes.
 * Checked wherever public keys enter the registry: enrolment, rotation, loading a file.
 *
 * @param where prefix of the message, e.g. the registry file
 */
export function assertDevicePublicKeys(keys: DevicePublicKeys, where = ''): void {
  const checks: Array<['box' | 'sign', string, string | null]> = [
    ['box', 'X25519 (box) public key', boxPublicKeyProblem(keys.boxPublicKey)],
    ['sign', 'Ed25519 (signing) public key', signPublicKeyProblem(keys.signPublicKey)],
  ];
  for (const [key, what, problem] of checks) {
    if (problem === null) continue;
    throw new VigilError('VIGIL_E_KEY_INVALID', `${where}device "${keys.deviceId}" epoch ${keys.epoch}: ${what} ${problem}; generate new keys (vigil keys gen device) and enrol those`, {
      details: { deviceId: keys.deviceId, epoch: keys.epoch, key, problem },
    });
  }
}
