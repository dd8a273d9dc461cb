import { stat, statSync, type Stats } from 'node:fs';
import type { DeviceEntry } from './device-entry';
import type { DeviceRegistry, RegistryListener } from './device-registry';
import { MemoryRegistry } from './memory-registry';
import { readRegistryFile, toDeviceEntry } from './registry-document';

function signature(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

export interface FileRegistryOptions {
  /** How often the file's stat is polled, ms (default 200, so a change applies well inside a second). */
  readonly pollMs?: number;
}

/**
 * Registry backed by a JSON or YAML file, reloaded live: the file's stat is polled, which
 * also catches editors and `vigil device …` that replace the file by rename, where an
 * inotify watch on the old inode would go quiet. One timer per registry, not per device. A version that does not validate is
 * refused as a whole (an `error` event) and the last good one keeps serving: a typo must
 * not un-revoke a device or drop the fleet.
 */
export class FileRegistry implements DeviceRegistry {
  private readonly state = new MemoryRegistry();
  /** Stat signature of the version last read; compared with our own reads, not the watcher's, so no change slips between load and the first poll. */
  private seen = '';
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Number of reloads applied and refused since start. */
  readonly reloads = { applied: 0, refused: 0 };

  private constructor(
    readonly path: string,
    private readonly pollMs: number,
  ) {}

  /** Loads the file (throws `VIGIL_E_REGISTRY_INVALID` if it is bad) and starts watching it. */
  static open(path: string, options: FileRegistryOptions = {}): FileRegistry {
    const r = new FileRegistry(path, options.pollMs ?? 200);
    r.seen = signature(statSync(path));
    r.state.applySnapshot(readRegistryFile(path).devices.map(toDeviceEntry));
    r.timer = setInterval(() => r.poll(), r.pollMs);
    r.timer.unref();
    return r;
  }

  private poll(): void {
    stat(this.path, (err, st) => {
      if (this.closed || err) return; // a file briefly missing during a replace is not a change
      const sig = signature(st);
      if (sig === this.seen) return;
      this.seen = sig;
      this.reload();
    });
  }

  /** Reads the file again now; returns whether the new version was applied. */
  reload(): boolean {
    if (this.closed) return false;
    try {
      this.seen = signature(statSync(this.path));
    } catch {
      /* reported by the read below */
    }
    try {
      const doc = readRegistryFile(this.path);
      this.state.applySnapshot(doc.devices.map(toDeviceEntry));
      this.reloads.applied++;
      return true;
    } catch (err) {
      this.reloads.refused++;
      this.state.reportError(err as Error);
      return false;
    }
  }

  get(deviceId: string): DeviceEntry | undefined {
    return this.state.get(deviceId);
  }

  list(): readonly DeviceEntry[] {
    return this.state.list();
  }

  get size(): number {
    return this.state.size;
  }

  subscribe(listener: RegistryListener): () => void {
    return this.state.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.state.close();
  }
}
