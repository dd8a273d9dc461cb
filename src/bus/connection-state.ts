import type { ConnectionListener } from './bus';

/** A boolean with change listeners; backs `Bus.isConnected` / `onConnectionChange`. */
export class ConnectionState {
  private value: boolean;
  private readonly listeners = new Set<ConnectionListener>();

  constructor(initial = false) {
    this.value = initial;
  }

  get connected(): boolean {
    return this.value;
  }

  set(connected: boolean): void {
    if (connected === this.value) return;
    this.value = connected;
    for (const l of [...this.listeners]) {
      try {
        l(connected);
      } catch {
        // A faulty probe listener must not break the client that reported the change.
      }
    }
  }

  onChange(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
