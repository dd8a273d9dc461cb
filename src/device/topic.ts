import { VigilError } from '../errors';

/** One MQTT topic level of the scheme: lower-case letters, digits and '-', 1–32 characters. */
const LEVEL = /^[a-z0-9-]{1,32}$/;
const DEVICE = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The topic a device publishes its frames to (docs/architecture.md §6):
 * `vigil/v1/<theatre>/<unit>/<device>/telemetry`.
 */
export function telemetryTopic(theatre: string, unit: string, deviceId: string): string {
  if (!LEVEL.test(theatre)) throw new VigilError('VIGIL_E_CONFIG_INVALID', `theatre "${theatre}" must be 1-32 characters of [a-z0-9-]`, { details: { key: 'theatre' } });
  if (!LEVEL.test(unit)) throw new VigilError('VIGIL_E_CONFIG_INVALID', `unit "${unit}" must be 1-32 characters of [a-z0-9-]`, { details: { key: 'unit' } });
  if (!DEVICE.test(deviceId)) throw new VigilError('VIGIL_E_CONFIG_INVALID', `device id "${deviceId}" must be 1-64 characters of [A-Za-z0-9._:-]`, { details: { key: 'deviceId' } });
  return `vigil/v1/${theatre}/${unit}/${deviceId}/telemetry`;
}
