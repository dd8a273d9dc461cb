/**
 * Relay ids (`vigil-relay-id`) the destination is known to hold: acknowledged sends, and what
 * a reconciliation read back from the destination's tail. Bounded, oldest forgotten first: it
 * only needs to cover records that may still be in the queue or be sent again.
 */
export class DeliveredLedger {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 200_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.ids.has(id)) return;
    if (this.ids.size >= this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    this.ids.add(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
