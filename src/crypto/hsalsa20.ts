import nacl from 'tweetnacl';

// tweetnacl exposes its low-level NaCl API at runtime but its typings omit it; this is the
// one function we need from it.
interface NaclLowLevel {
  crypto_core_hsalsa20(out: Uint8Array, input: Uint8Array, key: Uint8Array, constant: Uint8Array): number;
}
const lowlevel = (nacl as unknown as { lowlevel: NaclLowLevel }).lowlevel;

const SIGMA = new TextEncoder().encode('expand 32-byte k');
const ZERO16 = new Uint8Array(16);

/**
 * The second half of `crypto_box_beforenm`: HSalsa20 keyed with the raw X25519 shared
 * secret over a zero input. sodium-native does not expose `crypto_box_beforenm` or
 * `crypto_core_hsalsa20`, so its backend computes X25519 natively and this cheap step
 * here (once per device and epoch, never per frame).
 */
export function hsalsa20SharedKey(x25519Secret: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  lowlevel.crypto_core_hsalsa20(out, ZERO16, x25519Secret, SIGMA);
  return out;
}
