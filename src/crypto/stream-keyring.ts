import { VigilError } from '../errors';
import { SECRETBOX_KEY_BYTES } from './constants';
import { assertKeyBytes } from './key-checks';
import { assertKeyId, type StreamDataKey } from './keys';

/**
 * The stream data keys a process may use, by key id. A reader without a stream's key cannot
 * open its records: need-to-know enforced by cryptography.
 */
export class StreamKeyring {
  private readonly keys = new Map<string, StreamDataKey>();

  constructor(keys: Iterable<StreamDataKey> = []) {
    for (const k of keys) this.add(k);
  }

  /** Adds or replaces a key (the key bytes are copied). */
  add(key: StreamDataKey): void {
    assertKeyId(key.keyId, 'stream key id');
    assertKeyBytes(key.key, SECRETBOX_KEY_BYTES, 'stream data key');
    this.keys.set(key.keyId, { keyId: key.keyId, key: Uint8Array.from(key.key) });
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** The key with this id; throws `VIGIL_E_KEY_UNKNOWN` when the keyring does not hold it. */
  get(keyId: string): StreamDataKey {
    const k = this.keys.get(keyId);
    if (k === undefined) {
      throw new VigilError('VIGIL_E_KEY_UNKNOWN', `no stream key with id ${JSON.stringify(keyId)} in the keyring`, { details: { keyId } });
    }
    return k;
  }

  /** Removes (and zeroes) a key; true when it was there. */
  delete(keyId: string): boolean {
    const k = this.keys.get(keyId);
    if (k === undefined) return false;
    k.key.fill(0);
    return this.keys.delete(keyId);
  }

  /** Key ids held, in insertion order. */
  ids(): string[] {
    return [...this.keys.keys()];
  }
}
