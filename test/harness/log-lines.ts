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

/** The components each process kind logs under (docs/operations.md, "Log fields"). */
export const GATEWAY_COMPONENTS = ['gateway', 'admission', 'spool', 'replay', 'registry', 'mqtt', 'kafka', 'keys'];
export const WORKER_COMPONENTS = ['worker', 'pipeline', 'state', 'kafka', 'keys'];
export const CONSOLE_COMPONENTS = ['console', 'tap', 'kafka', 'keys'];

/** One JSON log line, parsed. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** The JSON log lines among `lines` (every line of a pino destination is one). */
export function jsonLines(lines: readonly string[]): LogLine[] {
  return lines.map((l) => JSON.parse(l) as LogLine);
}

/** Lines that name one of `fields` twice (a child logger bound over another's binding): JSON.parse would hide it. */
export function repeatedFields(lines: readonly string[], fields: readonly string[]): string[] {
  return lines.filter((l) => fields.some((f) => (l.match(new RegExp(`(?<!\\\\)"${f}":`, 'g')) ?? []).length > 1));
}

/**
 * What every log line of a long-running process must carry (docs/operations.md, "Log
 * fields"): a `component`, the process identity, and on each warning or error that reports
 * an error (`err`) its `VIGIL_E_…` code — except kafkajs' own lines (they carry `kafka`, its
 * namespace), whose errors are not Vigil's. Returns the offending lines (none when it holds).
 */
export function unstructuredLines(lines: readonly LogLine[], identity: Readonly<Record<string, string>>, components: readonly string[]): LogLine[] {
  return lines.filter(
    (l) =>
      typeof l.component !== 'string' ||
      !components.includes(l.component) ||
      Object.entries(identity).some(([k, v]) => l[k] !== v) ||
      ((l.component === 'pipeline' || l.component === 'state') && typeof l.pipeline !== 'string') ||
      (l.level >= 40 && l.err !== undefined && l.kafka === undefined && !/^VIGIL_E_[A-Z_]+$/.test(String(l.code))),
  );
}
