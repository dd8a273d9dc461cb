export { channels, type TypedChannel, type FrameAdmissionEvent, type DurabilityEvent, type SpoolDropSample, type GaugeSample, type ConnectionEvent } from './channels';
