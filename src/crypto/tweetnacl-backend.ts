import { hash, randomFillSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { VigilError } from '../errors';
import type { CryptoBackend } from './backend';
import { MAC_BYTES } from './constants';
import { nodeEd25519Signer, nodeEd25519Verifier, ed25519PublicKeyOfSeed } from './ed25519-node';
import { hsalsa20SharedKey } from './hsalsa20';
import { isAllZero } from './key-checks';

/**
 * The always-available backend: X25519 and XSalsa20-Poly1305 in pure JS (tweetnacl), with
 * SHA-512, Ed25519 and randomness from node:crypto (OpenSSL, built into Node), since
 * tweetnacl's Ed25519 verify is two orders of magnitude too slow for the gateway.
 */
export function createTweetnaclBackend(): CryptoBackend {
  return {
    name: 'tweetnacl',
    randomFill(target) {
      randomFillSync(target);
    },
    boxPublicKey(secretKey) {
      return nacl.scalarMult.base(secretKey);
    },
    boxBeforeNm(publicKey, secretKey) {
      // Check the raw X25519 output for all zeros, as libsodium's crypto_box_beforenm does,
      // so that both backends refuse the same low-order public keys.
      const secret = nacl.scalarMult(secretKey, publicKey);
      if (isAllZero(secret)) {
        throw new VigilError('VIGIL_E_KEY_INVALID', 'X25519 public key is of low order (shared secret is zero)');
      }
      const key = hsalsa20SharedKey(secret);
      secret.fill(0);
      return key;
    },
    secretboxSealInto(out, message, nonce, key) {
      out.set(nacl.secretbox(message, nonce, key));
    },
    secretboxOpenInto(out, box, nonce, key) {
      if (box.length < MAC_BYTES) return false;
      const plain = nacl.secretbox.open(box, nonce, key);
      if (plain === null) return false;
      out.set(plain);
      return true;
    },
    sha512Into(out, message) {
      out.set(hash('sha512', message, 'buffer'));
    },
    signPublicKey: ed25519PublicKeyOfSeed,
    createSigner: nodeEd25519Signer,
    createVerifier: nodeEd25519Verifier,
  };
}
