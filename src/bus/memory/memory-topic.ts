import { MemoryPartitionLog } from './memory-partition-log';

/** A topic of the memory broker: its partition logs and settings. */
export class MemoryTopic {
  readonly logs: MemoryPartitionLog[] = [];
  /** Round-robin cursor for keyless messages. */
  nextKeyless = 0;

  constructor(
    readonly name: string,
    partitions: number,
    readonly compacted: boolean,
    readonly retentionMs: number | undefined,
    private readonly retainMessages: number,
  ) {
    this.grow(partitions);
  }

  grow(partitions: number): void {
    for (let p = this.logs.length; p < partitions; p++) {
      this.logs.push(new MemoryPartitionLog(this.name, p, this.compacted, this.compacted ? Infinity : this.retainMessages));
    }
  }

  config(): Record<string, string> {
    const c: Record<string, string> = { 'cleanup.policy': this.compacted ? 'compact' : 'delete' };
    if (this.retentionMs !== undefined) c['retention.ms'] = String(this.retentionMs);
    return c;
  }
}
