import { VigilError } from '../errors';
import type { CryptoBackend, Signer, Verifier } from './backend';
import { MAC_BYTES, SIGNATURE_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGN_SEED_BYTES } from './constants';
import { hsalsa20SharedKey } from './hsalsa20';
import { assertKeyBytes } from './key-checks';
import { pooledRandom } from './random-pool';

/** The part of sodium-native's API this backend uses (the package ships no typings). */
interface SodiumNative {
  randombytes_buf(buf: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
  crypto_hash_sha512(out: Uint8Array, input: Uint8Array): void;
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
}

let loaded: SodiumNative | null | undefined;

/** Loads sodium-native once; null when the optional dependency is absent or fails to load. */
export function loadSodium(): SodiumNative | null {
  if (loaded === undefined) {
    try {
      // A plain require keeps the optional dependency synchronous to load and visible to
      // dependency-cruiser; the catch is the whole point of it being optional.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require('sodium-native') as SodiumNative;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/**
 * The accelerated backend on libsodium (sodium-native). Throws `VIGIL_E_CRYPTO_BACKEND`
 * when sodium-native is not installed or its prebuilt binary does not load.
 */
export function createSodiumBackend(): CryptoBackend {
  const na = loadSodium();
  if (na === null) {
    throw new VigilError('VIGIL_E_CRYPTO_BACKEND', 'crypto backend "sodium" requested but sodium-native is not installed or does not load');
  }
  const random = pooledRandom((b) => na.randombytes_buf(b));
  return {
    name: 'sodium',
    randomFill(target) {
      random(target);
    },
    boxPublicKey(secretKey) {
      const pk = new Uint8Array(32);
      na.crypto_scalarmult_base(pk, secretKey);
      return pk;
    },
    boxBeforeNm(publicKey, secretKey) {
      const secret = new Uint8Array(32);
      try {
        // libsodium's crypto_scalarmult fails (throws here) when the result is all zeros.
        na.crypto_scalarmult(secret, secretKey, publicKey);
      } catch {
        throw new VigilError('VIGIL_E_KEY_INVALID', 'X25519 public key is of low order (shared secret is zero)');
      }
      const key = hsalsa20SharedKey(secret);
      secret.fill(0);
      return key;
    },
    secretboxSealInto(out, message, nonce, key) {
      na.crypto_secretbox_easy(out, message, nonce, key);
    },
    secretboxOpenInto(out, box, nonce, key) {
      if (box.length < MAC_BYTES) return false;
      return na.crypto_secretbox_open_easy(out, box, nonce, key);
    },
    sha512Into(out, message) {
      na.crypto_hash_sha512(out, message);
    },
    signPublicKey(seed) {
      assertKeyBytes(seed, SIGN_SEED_BYTES, 'Ed25519 seed');
      const pk = new Uint8Array(SIGN_PUBLIC_KEY_BYTES);
      const sk = new Uint8Array(64);
      na.crypto_sign_seed_keypair(pk, sk, seed);
      sk.fill(0);
      return pk;
    },
    createSigner(seed): Signer {
      assertKeyBytes(seed, SIGN_SEED_BYTES, 'Ed25519 seed');
      const publicKey = new Uint8Array(SIGN_PUBLIC_KEY_BYTES);
      const secretKey = new Uint8Array(64);
      na.crypto_sign_seed_keypair(publicKey, secretKey, seed);
      return {
        publicKey,
        sign(message) {
          const sig = new Uint8Array(SIGNATURE_BYTES);
          na.crypto_sign_detached(sig, message, secretKey);
          return sig;
        },
      };
    },
    createVerifier(publicKey): Verifier {
      assertKeyBytes(publicKey, SIGN_PUBLIC_KEY_BYTES, 'Ed25519 public key');
      const pk = Uint8Array.from(publicKey);
      return {
        publicKey: pk,
        verify(message, signature) {
          if (signature.length !== SIGNATURE_BYTES) return false;
          return na.crypto_sign_verify_detached(signature, message, pk);
        },
      };
    },
  };
}
