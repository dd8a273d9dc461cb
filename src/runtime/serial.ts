/**
 * Runs async sections one at a time, in call order. The worker puts batches, checkpoints
 * and assignment changes through one of these, so a snapshot is never taken halfway
 * through a batch and a partition is never restored while it is being read.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(section);
    // The chain must survive a failing section; the caller still sees the failure.
    this.tail = next.catch(() => undefined);
    return next;
  }
}
