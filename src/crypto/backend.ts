/** Names of the two interchangeable crypto backends. */
export type CryptoBackendName = 'tweetnacl' | 'sodium';

/** How to choose a backend: `auto` takes sodium-native when it loads, tweetnacl otherwise. */
export type CryptoBackendOption = 'auto' | CryptoBackendName;

/** Signs messages with one Ed25519 key; created once per key so that key parsing is not per message. */
export interface Signer {
  readonly publicKey: Uint8Array;
  /** Returns the 64-byte Ed25519 signature of `message` (RFC 8032, deterministic). */
  sign(message: Uint8Array): Uint8Array;
}

/** Verifies Ed25519 signatures under one public key; created once per key (hot path). */
export interface Verifier {
  readonly publicKey: Uint8Array;
  /**
   * True when `signature` is a valid Ed25519 signature of `message` by libsodium's rules
   * (`crypto_sign_verify_detached`): S below L, R and the public key canonical and not of
   * small order, R equal to the encoding of S·B − h·A. Both backends give the same verdict
   * on every input (test/crypto/backend-differential.test.ts). Never throws on bad input.
   */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** An Ed25519 key pair: the 32-byte seed is the secret (libsodium's 64-byte secret key is seed ‖ public key). */
export interface SignKeyPair {
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
}

/** An X25519 key pair for `crypto_box`. */
export interface BoxKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/**
 * The primitives Vigil needs, behind one interface so that the pure-JS tweetnacl backend and
 * the native sodium-native backend are interchangeable. Both produce and accept the same
 * bytes (a test runs the same vectors through both and across them).
 *
 * The `…Into` methods write into caller-provided buffers so that the hot path allocates
 * nothing per frame; argument sizes are the caller's duty (checked at the API edges, not here).
 */
export interface CryptoBackend {
  readonly name: CryptoBackendName;
  /** Fills `target` with cryptographically secure random bytes. */
  randomFill(target: Uint8Array): void;
  /** X25519 public key of a 32-byte secret key (`crypto_scalarmult_base`). */
  boxPublicKey(secretKey: Uint8Array): Uint8Array;
  /**
   * `crypto_box_beforenm`: HSalsa20(X25519(secretKey, publicKey), 0¹⁶), the 32-byte key with
   * which `box`/`box.open` reduce to `secretbox`. Throws `VIGIL_E_KEY_INVALID` for a low-order
   * public key (all-zero X25519 output), as libsodium does.
   */
  boxBeforeNm(publicKey: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** XSalsa20-Poly1305 seal (`crypto_secretbox_easy` = `crypto_box_easy_afternm`) into `out` (message length + 16). */
  secretboxSealInto(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  /** Opens into `out` (box length − 16); false when the MAC does not verify (then `out` is garbage). */
  secretboxOpenInto(out: Uint8Array, box: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean;
  /** SHA-512 of `message` into `out` (64 bytes). */
  sha512Into(out: Uint8Array, message: Uint8Array): void;
  /** Ed25519 public key of a 32-byte seed. */
  signPublicKey(seed: Uint8Array): Uint8Array;
  createSigner(seed: Uint8Array): Signer;
  /** A verifier for any 32 bytes; one for a key libsodium refuses (small order, non-canonical, off the curve) verifies nothing. */
  createVerifier(publicKey: Uint8Array): Verifier;
}
