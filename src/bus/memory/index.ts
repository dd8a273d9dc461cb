/**
 * bus/memory: the in-process `Bus` for unit tests and the single-process demo.
 */
export { MemoryBus, type MemoryBusOptions } from './memory-bus';
export { MemoryBroker } from './memory-broker';
export { partitionForKey } from './partition-for-key';
