/**
 * Vigil's public API. Pipelines (`pipelines/`) and integrators import only from here.
 */
export { ERROR_CODES, VigilError, isVigilError, isVigilErrorCode, type VigilErrorCode, type VigilErrorDetails } from './errors';
export { loadConfig, configOptions, type VigilConfig, type VigilConfigInput, type LoadConfigOptions, type ConfigIssue } from './config';
export * from './stream';
// Wire format, keys and NaCl (docs/wire-format.md): frames, sealed records, readings, labels.
export * from './crypto';
export * from './codec';
// Device SDK for sensor integrators: batch, seal and publish frames over MQTT 5.
export * from './device';
