export { ERROR_CODES, isVigilErrorCode, type VigilErrorCode } from './codes';
export { VigilError, isVigilError, type VigilErrorDetails } from './vigil-error';
export { mqttTlsError } from './mqtt-tls-error';
export { errorLogFields, type ErrorLogFields } from './log-fields';
