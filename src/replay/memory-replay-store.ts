import type { ReplayStore, ReplayStoreOptions } from './replay-store';
import { ReplayWindow, type ReplayVerdict } from './replay-window';

/** Replay store held in memory only: state is lost with the process. */
export class MemoryReplayStore implements ReplayStore {
  protected readonly windows = new Map<string, ReplayWindow>();
  protected readonly windowSize: number;

  constructor(options: ReplayStoreOptions = {}) {
    this.windowSize = options.windowSize ?? 1024;
    // Validate the size once, at construction, not on the first frame.
    void new ReplayWindow(this.windowSize);
  }

  check(deviceId: string, seq: bigint): ReplayVerdict {
    const w = this.windows.get(deviceId);
    return w ? w.check(seq) : 'fresh';
  }

  accept(deviceId: string, seq: bigint): boolean {
    let w = this.windows.get(deviceId);
    if (!w) {
      w = new ReplayWindow(this.windowSize);
      this.windows.set(deviceId, w);
    }
    return w.accept(seq);
  }

  highest(deviceId: string): bigint {
    return this.windows.get(deviceId)?.highest() ?? -1n;
  }

  forget(deviceId: string): void {
    this.windows.delete(deviceId);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  size(): number {
    return this.windows.size;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
