/** Sizes of the NaCl primitives Vigil uses, in bytes (identical in tweetnacl and libsodium). */
export const BOX_PUBLIC_KEY_BYTES = 32;
export const BOX_SECRET_KEY_BYTES = 32;
/** Output of `crypto_box_beforenm`: the precomputed XSalsa20-Poly1305 key of a device/ingest pair. */
export const SHARED_KEY_BYTES = 32;
export const SECRETBOX_KEY_BYTES = 32;
export const NONCE_BYTES = 24;
/** Poly1305 tag that `box`/`secretbox` prepend to the ciphertext. */
export const MAC_BYTES = 16;
export const SIGN_PUBLIC_KEY_BYTES = 32;
export const SIGN_SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SHA512_BYTES = 64;
