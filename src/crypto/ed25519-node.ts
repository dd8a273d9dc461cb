import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { Signer, Verifier } from './backend';
import { SIGNATURE_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGN_SEED_BYTES } from './constants';
import { assertKeyBytes } from './key-checks';
import { ed25519HasSmallOrder, ed25519IsCanonical, scalarIsCanonical } from './point-checks';

// DER prefixes that wrap a raw Ed25519 key (RFC 8410) so OpenSSL can import it without a
// JWK round trip: SubjectPublicKeyInfo for the 32-byte public key, PKCS#8 for the 32-byte seed.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Imports a raw Ed25519 public key as a node:crypto KeyObject (done once per key, not per message). */
export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  assertKeyBytes(publicKey, SIGN_PUBLIC_KEY_BYTES, 'Ed25519 public key');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/** Imports a raw Ed25519 seed as a node:crypto private KeyObject. */
export function ed25519PrivateKeyObject(seed: Uint8Array): KeyObject {
  assertKeyBytes(seed, SIGN_SEED_BYTES, 'Ed25519 seed');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Raw 32-byte public key of an Ed25519 seed, via OpenSSL. */
export function ed25519PublicKeyOfSeed(seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(ed25519PrivateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

/**
 * Ed25519 signer on OpenSSL (node:crypto). tweetnacl's pure-JS Ed25519 manages only ~90
 * verifications/s on the development machines, far too slow for the gateway's hot path.
 */
export function nodeEd25519Signer(seed: Uint8Array): Signer {
  const key = ed25519PrivateKeyObject(seed);
  const publicKey = ed25519PublicKeyOfSeed(seed);
  return {
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, key)),
  };
}

/** The KeyObject of a public key libsodium would verify under, or null for one it refuses outright. */
function usableKeyObject(pk: Uint8Array): KeyObject | null {
  if (!ed25519IsCanonical(pk) || ed25519HasSmallOrder(pk)) return null;
  try {
    return ed25519PublicKeyObject(pk);
  } catch {
    return null;
  }
}

/**
 * Ed25519 verifier on OpenSSL with the KeyObject created once, giving libsodium's verdict
 * (`crypto_sign_verify_detached`) on every input. OpenSSL checks S < L and compares R with
 * the canonical encoding of S·B − h·A, as libsodium does, but it does not refuse a public
 * key or an R of small order, nor a public key whose y is not below p: with the identity
 * as key, R = identity and S = 0 verify any message. Those checks run here first.
 */
export function nodeEd25519Verifier(publicKey: Uint8Array): Verifier {
  assertKeyBytes(publicKey, SIGN_PUBLIC_KEY_BYTES, 'Ed25519 public key');
  const pk = Uint8Array.from(publicKey);
  const key = usableKeyObject(pk);
  return {
    publicKey: pk,
    verify(message, signature) {
      if (key === null || signature.length !== SIGNATURE_BYTES) return false;
      if (!scalarIsCanonical(signature, 32) || ed25519HasSmallOrder(signature, 0)) return false;
      try {
        return verify(null, message, key, signature);
      } catch {
        return false;
      }
    },
  };
}
