/**
 * crypto: keys, key files, NaCl seal/open, Ed25519 signatures, nonces and key epochs, behind
 * two interchangeable backends (tweetnacl, sodium-native). See docs/wire-format.md.
 */
export type { CryptoBackend, CryptoBackendName, CryptoBackendOption, Signer, Verifier, BoxKeyPair, SignKeyPair } from './backend';
export * from './constants';
export { getCryptoBackend, resolveCryptoBackend, isSodiumAvailable } from './select-backend';
export {
  generateDeviceKeys,
  generateIngestKeys,
  generateStreamKey,
  generateSigningKey,
  generateBoxKeyPair,
  generateSignKeyPair,
  boxKeyPairFromSecretKey,
  signKeyPairFromSeed,
  devicePublicKeys,
  assertDevicePublicKeys,
  boxPublicKeyProblem,
  signPublicKeyProblem,
  assertKeyId,
  assertEpoch,
  type DeviceKeys,
  type IngestKeys,
  type StreamDataKey,
  type SigningKey,
  type DevicePublicKeys,
} from './keys';
export { assertKeyBytes } from './key-checks';
export { randomNonce } from './nonce';
export { SharedKeyCache, type SharedKeyCacheOptions, type DeviceBoxKeyLookup } from './shared-key-cache';
export { StreamKeyring } from './stream-keyring';
export {
  writeKeyFile,
  writeFileAtomically,
  readKeyFile,
  parseKeyFile,
  readDeviceKeyFile,
  readIngestKeyFile,
  readStreamKeyFile,
  readStreamKeyRing,
  readSigningKeyFile,
  type StreamKeyRing,
  type KeyFile,
  type WriteKeyFileOptions,
  type ReadKeyFileOptions,
} from './key-file';
export { boxSharedKey, secretboxSeal, secretboxOpen } from './box';
