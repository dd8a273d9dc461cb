export { DeviceClient, type DeviceClientOptions, type DeviceStats, type ReadingInput } from './device-client';
export { ClockSequence, FileSequence, type SequenceSource } from './sequence';
export { telemetryTopic } from './topic';
