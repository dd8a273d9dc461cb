import { VigilError } from '../errors';

/**
 * Throws `VIGIL_E_KEY_INVALID` unless `value` is a Uint8Array of exactly `length` bytes.
 * The message names the key's role, never its bytes.
 */
export function assertKeyBytes(value: unknown, length: number, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw new VigilError('VIGIL_E_KEY_INVALID', `${what} must be ${length} bytes, got ${got}`, { details: { what, expected: length } });
  }
}

/** True when every byte is zero; constant time in the length so that it leaks nothing about key bytes. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i] as number;
  return acc === 0;
}
