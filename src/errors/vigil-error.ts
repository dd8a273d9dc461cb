import { ERROR_CODES, type VigilErrorCode } from './codes';

/** Structured, loggable context of an error. Never put key material or plaintext here. */
export type VigilErrorDetails = Readonly<Record<string, unknown>>;

/**
 * The one error type of Vigil. `code` comes from a closed list (`ERROR_CODES`),
 * `retriable` is taken from that list unless the thrower knows better.
 *
 * @example
 * throw new VigilError('VIGIL_E_CONFIG_INVALID', 'config key "kafka.brokers": ...', { details: { key: 'kafka.brokers' } });
 */
export class VigilError extends Error {
  readonly code: VigilErrorCode;
  readonly retriable: boolean;
  readonly details: VigilErrorDetails;

  constructor(
    code: VigilErrorCode,
    message: string,
    options: { details?: VigilErrorDetails; retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VigilError';
    this.code = code;
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable;
    this.details = options.details ?? {};
  }

  toJSON(): { name: string; code: VigilErrorCode; message: string; retriable: boolean; details: VigilErrorDetails } {
    return { name: this.name, code: this.code, message: this.message, retriable: this.retriable, details: this.details };
  }
}

export function isVigilError(err: unknown, code?: VigilErrorCode): err is VigilError {
  return err instanceof VigilError && (code === undefined || err.code === code);
}
