import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { VigilError } from '../errors';

/** Hands out a device's frame sequence numbers: strictly increasing, across restarts too. */
export interface SequenceSource {
  next(): bigint;
}

/**
 * Sequence numbers that start at (wall-clock ms × 1024) when the device starts, then count
 * up. Without any stored state they still increase across restarts as long as the clock
 * does and the device sends fewer than 1024 frames per millisecond of downtime on average;
 * the gateway's replay window would refuse anything that went backwards.
 */
export class ClockSequence implements SequenceSource {
  private seq: bigint;
  constructor(nowMs: number = Date.now()) {
    this.seq = BigInt(Math.floor(nowMs)) * 1024n;
  }
  next(): bigint {
    return this.seq++;
  }
}

/**
 * Sequence numbers kept in a small state file, reserved in blocks: before handing out the
 * numbers of a block, the end of the block is written and fsynced, so after a crash the
 * device resumes above anything it may have sent (skipping the rest of the block, which is
 * harmless: gaps are allowed, repeats are not). One fsync per `block` frames.
 */
export class FileSequence implements SequenceSource {
  private nextSeq: bigint;
  private reservedUpTo: bigint;

  constructor(
    private readonly path: string,
    private readonly block: bigint = 4096n,
    start: bigint = 0n,
  ) {
    let stored = start;
    try {
      const text = readFileSync(path, 'utf8').trim();
      if (!/^\d{1,20}$/.test(text)) throw new VigilError('VIGIL_E_CONFIG_INVALID', `sequence file ${path} does not hold a number`, { details: { key: 'sequenceFile' } });
      stored = BigInt(text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.nextSeq = stored > start ? stored : start;
    this.reservedUpTo = this.nextSeq;
  }

  next(): bigint {
    if (this.nextSeq >= this.reservedUpTo) this.reserve(this.nextSeq + this.block);
    return this.nextSeq++;
  }

  private reserve(upTo: bigint): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    writeSync(fd, `${upTo}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    this.reservedUpTo = upTo;
  }
}
