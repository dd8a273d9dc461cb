import { VigilError } from '../errors';

const DECIMAL = /^(0|[1-9][0-9]{0,18})$/;

/**
 * Parses a bus offset (decimal string) for arithmetic. Offsets stay below 2^53 in any real
 * partition (a million messages a second for 285 years), so a number is exact.
 *
 * @example
 * parseOffset('42'); // 42
 */
export function parseOffset(offset: string, what = 'offset'): number {
  if (typeof offset !== 'string' || !DECIMAL.test(offset)) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', `${what} must be a non-negative decimal string, got ${JSON.stringify(offset)}`, { details: { [what]: String(offset) } });
  }
  const n = Number(offset);
  if (!Number.isSafeInteger(n)) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', `${what} ${offset} is beyond 2^53`, { details: { [what]: offset } });
  }
  return n;
}

/**
 * The offset to commit after processing a message: the next one to read.
 *
 * @example
 * nextOffset('41'); // '42'
 */
export function nextOffset(offset: string): string {
  return String(parseOffset(offset) + 1);
}
