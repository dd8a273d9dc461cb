import type { DevicePublicKeys } from '../crypto';
import { VigilError } from '../errors';
import { parseRegistryDocument, type RegistryDevice, type RegistryDocument } from './registry-document';

/** Fields an operator sets when adding a device (everything but its keys). */
export type NewDevice = Omit<Partial<RegistryDevice>, 'id' | 'epoch' | 'keys' | 'status' | 'revokedAt'> & Pick<RegistryDevice, 'theatre' | 'unit'>;

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

function find(doc: RegistryDocument, deviceId: string): RegistryDevice {
  const d = doc.devices.find((x) => x.id === deviceId);
  if (!d) throw new VigilError('VIGIL_E_DEVICE_UNKNOWN', `device "${deviceId}" is not in the registry`, { details: { deviceId } });
  return d;
}

/** A new document with the device added at the epoch of its keys. Refuses a duplicate id. */
export function addDevice(doc: RegistryDocument, keys: DevicePublicKeys, fields: NewDevice): RegistryDocument {
  if (doc.devices.some((d) => d.id === keys.deviceId)) {
    throw new VigilError('VIGIL_E_REGISTRY_INVALID', `device "${keys.deviceId}" is already in the registry; use rotate for new keys`, {
      details: { deviceId: keys.deviceId },
    });
  }
  const device = {
    ...fields,
    id: keys.deviceId,
    status: 'active',
    epoch: keys.epoch,
    keys: { [String(keys.epoch)]: { box: b64(keys.boxPublicKey), sign: b64(keys.signPublicKey) } },
  };
  return parseRegistryDocument({ ...doc, devices: [...doc.devices, device] }, 'new device');
}

/** A new document with the device revoked: its frames are refused from the next reload on. */
export function revokeDevice(doc: RegistryDocument, deviceId: string, at: Date = new Date()): RegistryDocument {
  find(doc, deviceId);
  return parseRegistryDocument({ ...doc, devices: doc.devices.map((d) => (d.id === deviceId ? { ...d, status: 'revoked' as const, revokedAt: at.toISOString() } : d)) }, 'revocation');
}

/**
 * A new document where the device moves to the epoch of `keys`, which must be higher than
 * its current one: frames under older epochs become stale. Old public keys stay listed for
 * audit (verifying old signatures), but only the current epoch is admitted.
 */
export function rotateDevice(doc: RegistryDocument, keys: DevicePublicKeys): RegistryDocument {
  const d = find(doc, keys.deviceId);
  if (keys.epoch <= d.epoch) {
    throw new VigilError('VIGIL_E_REGISTRY_INVALID', `new epoch ${keys.epoch} of "${keys.deviceId}" must be above its current epoch ${d.epoch}`, {
      details: { deviceId: keys.deviceId },
    });
  }
  return parseRegistryDocument({
    ...doc,
    devices: doc.devices.map((x) =>
      x.id === keys.deviceId
        ? { ...x, epoch: keys.epoch, keys: { ...x.keys, [String(keys.epoch)]: { box: b64(keys.boxPublicKey), sign: b64(keys.signPublicKey) } } }
        : x,
    ),
  }, 'rotation');
}

/** An empty registry document. */
export function emptyRegistry(): RegistryDocument {
  return { format: 1, devices: [] };
}
