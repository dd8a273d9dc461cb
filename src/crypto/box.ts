import type { CryptoBackend, CryptoBackendOption } from './backend';
import { BOX_PUBLIC_KEY_BYTES, BOX_SECRET_KEY_BYTES, MAC_BYTES, NONCE_BYTES, SECRETBOX_KEY_BYTES } from './constants';
import { assertKeyBytes } from './key-checks';
import { resolveCryptoBackend } from './select-backend';

/**
 * `crypto_box_beforenm(publicKey, secretKey)`: the shared XSalsa20-Poly1305 key of a device
 * and the ingest key. Devices compute it once per epoch (their secret, the ingest public key);
 * gateways through `SharedKeyCache` (the ingest secret, the device public key). Both sides get
 * the same 32 bytes.
 *
 * @throws VigilError `VIGIL_E_KEY_INVALID` for wrong lengths or a low-order public key.
 */
export function boxSharedKey(publicKey: Uint8Array, secretKey: Uint8Array, backend?: CryptoBackend | CryptoBackendOption): Uint8Array {
  assertKeyBytes(publicKey, BOX_PUBLIC_KEY_BYTES, 'X25519 public key');
  assertKeyBytes(secretKey, BOX_SECRET_KEY_BYTES, 'X25519 secret key');
  return resolveCryptoBackend(backend).boxBeforeNm(publicKey, secretKey);
}

/**
 * Seals `message` under a 32-byte key (a `box` shared key or a stream data key) and a 24-byte
 * nonce: returns the 16-byte Poly1305 tag followed by the XSalsa20 ciphertext, exactly as
 * libsodium's `crypto_secretbox_easy` / `crypto_box_easy_afternm`.
 */
export function secretboxSeal(message: Uint8Array, nonce: Uint8Array, key: Uint8Array, backend?: CryptoBackend | CryptoBackendOption): Uint8Array {
  assertKeyBytes(key, SECRETBOX_KEY_BYTES, 'secretbox key');
  assertKeyBytes(nonce, NONCE_BYTES, 'nonce');
  const out = new Uint8Array(message.length + MAC_BYTES);
  resolveCryptoBackend(backend).secretboxSealInto(out, message, nonce, key);
  return out;
}

/** Opens what `secretboxSeal` produced; null when the tag does not verify (wrong key, nonce, or changed bytes). */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array, backend?: CryptoBackend | CryptoBackendOption): Uint8Array | null {
  assertKeyBytes(key, SECRETBOX_KEY_BYTES, 'secretbox key');
  assertKeyBytes(nonce, NONCE_BYTES, 'nonce');
  if (box.length < MAC_BYTES) return null;
  const out = new Uint8Array(box.length - MAC_BYTES);
  return resolveCryptoBackend(backend).secretboxOpenInto(out, box, nonce, key) ? out : null;
}
