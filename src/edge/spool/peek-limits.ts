import { VigilError } from '../../errors';
import type { SpoolPeekLimits } from './spool';

export const DEFAULT_PEEK_ENTRIES = 500;
export const DEFAULT_PEEK_BYTES = 1024 * 1024;

/** Checks `peek` limits (a caller bug otherwise loops forever on empty batches); returns [maxEntries, maxBytes]. */
export function peekLimits(limits: SpoolPeekLimits | undefined): [number, number] {
  const maxEntries = limits?.maxEntries ?? DEFAULT_PEEK_ENTRIES;
  const maxBytes = limits?.maxBytes ?? DEFAULT_PEEK_BYTES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new VigilError('VIGIL_E_SPOOL_OPTIONS', `spool peek: maxEntries is ${String(maxEntries)}; expected an integer >= 1`, { details: { option: 'maxEntries' } });
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new VigilError('VIGIL_E_SPOOL_OPTIONS', `spool peek: maxBytes is ${String(maxBytes)}; expected an integer >= 1`, { details: { option: 'maxBytes' } });
  }
  return [maxEntries, maxBytes];
}
