/**
 * The device SDK's public API: what a sensor needs to seal frames and publish them to Vigil
 * gateways — the MQTT client, the frame codec and reading types, device key files and the
 * error type. It is the entry of the `vigil-device` package (`sdk/`) and of the `vigil/device`
 * subpath, and it must stay free of the server's dependencies (Kafka, RxJS, prom-client,
 * LMDB): test/device/device-entry.test.ts loads it and checks which packages came with it.
 */
export * from './device';
export {
  readDeviceKeyFile,
  parseKeyFile,
  generateDeviceKeys,
  devicePublicKeys,
  isSodiumAvailable,
  type DeviceKeys,
  type DevicePublicKeys,
  type KeyFile,
  type ReadKeyFileOptions,
  type CryptoBackendName,
  type CryptoBackendOption,
} from './crypto';
export {
  MAX_FRAME_BYTES,
  MAX_READINGS_PER_FRAME,
  MAX_READING_OFFSET_MS,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  READING_KINDS,
  POSTURES,
  UGS_DETECTION_TYPES,
  FRAME_VERSION,
  FrameSealer,
  validateReading,
  type Reading,
  type ReadingKind,
  type PositionReading,
  type VitalsReading,
  type VehicleReading,
  type UgsReading,
  type PowerReading,
  type MetricReading,
  type Posture,
  type UgsDetectionType,
  type FrameHeader,
  type FrameInput,
  type FrameCodecOptions,
  type SealFrameOptions,
} from './codec';
export { ERROR_CODES, VigilError, isVigilError, isVigilErrorCode, type VigilErrorCode, type VigilErrorDetails } from './errors';
