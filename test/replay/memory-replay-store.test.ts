import { MemoryReplayStore } from '../../src/replay';
import { replayStoreContract } from './replay-store.contract';

replayStoreContract('memory', async () => ({ store: new MemoryReplayStore(), reopen: null, cleanup: async () => undefined }));
