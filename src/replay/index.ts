export { ReplayWindow, type ReplayVerdict, type ReplayWindowState } from './replay-window';
export type { ReplayStore, ReplayStoreOptions } from './replay-store';
export { MemoryReplayStore } from './memory-replay-store';
export { FileReplayStore, type FileReplayStoreOptions, type ReplayRecovery } from './file-replay-store';
