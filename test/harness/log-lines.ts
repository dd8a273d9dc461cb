import { Writable } from 'node:stream';

/**
 * A log destination (pino's, say) that keeps the last `max` lines in memory, so a test can
 * show what a gateway or worker said when one of its waits fails.
 */
export function captureLog(max = 400): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done): void {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
      if (lines.length > max) lines.splice(0, lines.length - max);
      done();
    },
  });
  return { stream, lines };
}
