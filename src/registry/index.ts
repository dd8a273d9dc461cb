export type { DeviceEntry, DeviceStatus, EpochKeys, PriorityClass, RateLimit } from './device-entry';
export type { DeviceRegistry, RegistryEvent, RegistryListener } from './device-registry';
export { MemoryRegistry } from './memory-registry';
export { FileRegistry, type FileRegistryOptions } from './file-registry';
export {
  registryDocumentSchema,
  parseRegistryDocument,
  readRegistryFile,
  writeRegistryFile,
  toDeviceEntry,
  type RegistryDocument,
  type RegistryDevice,
} from './registry-document';
export { addDevice, revokeDevice, rotateDevice, emptyRegistry, type NewDevice } from './registry-edits';
