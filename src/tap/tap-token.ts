import { createHmac, timingSafeEqual } from 'node:crypto';
import type { StreamDataKey } from '../crypto';

/** What a tap token authenticates, ahead of the stream name: keeps tap tokens from being valid MACs in any other context. */
export const TAP_TOKEN_CONTEXT = 'vigil-tap:';

const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/**
 * The token that opens the WebSocket tap of `stream`: HMAC-SHA256 keyed with the stream data
 * key over `"vigil-tap:" + stream`, as 64 lowercase hex digits. Only a holder of the stream
 * key can compute it, so the server reveals a stream only to its key holders or to whoever
 * they hand a token to. It cannot be turned back into the key, and it names one stream:
 * a token of `derived.vitals` does not open `derived.unit-picture` even under a shared key.
 * A new key (rotation) gives a new token.
 *
 * @example
 * const token = tapToken(await readStreamKeyFile('derived-vitals.key.json'), 'derived.vitals');
 * new WebSocket(`ws://cp-1:9464/tap/derived.vitals?token=${token}`);
 */
export function tapToken(key: StreamDataKey, stream: string): string {
  return createHmac('sha256', key.key).update(TAP_TOKEN_CONTEXT + stream, 'utf8').digest('hex');
}

/**
 * Whether `token` is the tap token of `stream` under any of `keys` (several during a key
 * rotation). Compares in constant time, so response timing does not leak how much of a
 * guessed token was right.
 */
export function verifyTapToken(token: string | null | undefined, stream: string, keys: Iterable<StreamDataKey>): boolean {
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return false;
  const given = Buffer.from(token, 'hex');
  let ok = false;
  // Every key is tried (no early exit) so the time does not say which key matched.
  for (const key of keys) ok = timingSafeEqual(given, Buffer.from(tapToken(key, stream), 'hex')) || ok;
  return ok;
}
