/**
 * The closed list of Vigil error codes. Every `VigilError` carries one of these.
 *
 * Adding a code: add it here with its `retriable` flag and a one-line meaning, then
 * document it in `docs/errors.md` (a test keeps the two in step).
 *
 * `retriable` says whether trying the same operation again, unchanged, may succeed
 * (a broker that is down may come back; a malformed frame stays malformed). Retry
 * logic reads only this flag.
 */
export const ERROR_CODES = {
  // configuration
  VIGIL_E_CONFIG_INVALID: { retriable: false, meaning: 'A configuration value is missing, of the wrong type or outside what is allowed.' },
  VIGIL_E_CONFIG_UNKNOWN_KEY: { retriable: false, meaning: 'A configuration file or VIGIL_* variable names a key that does not exist.' },
  VIGIL_E_CONFIG_READ: { retriable: false, meaning: 'The configuration file cannot be read or parsed as YAML/JSON.' },
  // services and transport
  VIGIL_E_SERVICE_START: { retriable: true, meaning: 'A service the process needs (Kafka, Mosquitto, an HTTP listener) failed to start.' },
  VIGIL_E_PORT_IN_USE: { retriable: false, meaning: 'A listening port is already taken by another process.' },
} as const satisfies Record<string, { retriable: boolean; meaning: string }>;

export type VigilErrorCode = keyof typeof ERROR_CODES;

export function isVigilErrorCode(code: string): code is VigilErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}
