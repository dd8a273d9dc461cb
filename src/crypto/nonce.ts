import type { CryptoBackend, CryptoBackendOption } from './backend';
import { NONCE_BYTES } from './constants';
import { resolveCryptoBackend } from './select-backend';

/**
 * A fresh random 24-byte nonce. XSalsa20's 192-bit nonce makes random nonces safe: the
 * chance of a repeat stays negligible far beyond any device's lifetime of frames.
 * Pass `target` to fill an existing buffer instead of allocating.
 */
export function randomNonce(backend?: CryptoBackend | CryptoBackendOption, target?: Uint8Array): Uint8Array {
  const out = target ?? new Uint8Array(NONCE_BYTES);
  resolveCryptoBackend(backend).randomFill(out);
  return out;
}
