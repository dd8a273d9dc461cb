import { isVigilError } from './vigil-error';
import type { VigilErrorCode } from './codes';

/** The fields a log line gives a failure: its message and, for a `VigilError`, its code (and its cause's). */
export interface ErrorLogFields {
  /** The error's message (messages never hold key material or plaintext: docs/errors.md). */
  readonly err: string;
  /** The `VIGIL_E_…` code, when the error is a `VigilError`. */
  readonly code?: VigilErrorCode;
  /** The code of the `VigilError` that caused it (a `VIGIL_E_PIPELINE_FAILED` caused by `VIGIL_E_BUS_UNAVAILABLE`). */
  readonly causeCode?: VigilErrorCode;
}

/**
 * What a log line says of an error: `err` (message only, never a stack or the error's
 * details) and, for a `VigilError`, `code` (and `causeCode`), so operators can search by code.
 *
 * @example
 * log.warn({ ...errorLogFields(err), retryInMs }, 'kafka write failed; spooling');
 */
export function errorLogFields(err: unknown): ErrorLogFields {
  const message = err instanceof Error ? err.message : String(err);
  if (!isVigilError(err)) return { err: message };
  return isVigilError(err.cause) ? { err: message, code: err.code, causeCode: err.cause.code } : { err: message, code: err.code };
}
