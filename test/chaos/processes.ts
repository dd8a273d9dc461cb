import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, stopProcess, tailLog, type ServiceProcess } from '../../scripts/services/process';

const ROOT = join(__dirname, '..', '..');

/** A chaos step that could not be applied: the run fails with this reason, it never hangs. */
export class StepError extends Error {}

/** `p`, or a `StepError` naming `what` once `ms` have passed. */
export async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new StepError(`${what}: not done within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A child process of the harness (gateway, load generator), started through the services'
 * `startProcess`: its output goes to a log file, and a detached reaper kills it should the
 * harness die without cleaning up.
 */
export class Child {
  private constructor(readonly proc: ServiceProcess, private readonly logStart: number) {}

  /** Runs a TypeScript entry point of this repository with tsx (no build needed in a clean clone). */
  static tsx(name: string, entry: string, args: readonly string[], logFile: string, env: NodeJS.ProcessEnv = {}): Child {
    let start = 0;
    try {
      start = readFileSync(logFile).length;
    } catch {
      /* a new log */
    }
    // No inherited VIGIL_* overrides: under jest they point at the shared brokers of the
    // global setup, and would silently take precedence over the run's own config file.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
    const proc = startProcess(name, process.execPath, ['--import', 'tsx', join(ROOT, entry), ...args], logFile, { ...inherited, ...env });
    return new Child(proc, start);
  }

  get pid(): number {
    return this.proc.pid;
  }

  exited(): boolean {
    return this.proc.exited();
  }

  /** Lines this process wrote (this incarnation only: the log file is shared across restarts). */
  lines(): string[] {
    try {
      return readFileSync(this.proc.logFile).subarray(this.logStart).toString('utf8').split('\n').slice(0, -1);
    } catch {
      return [];
    }
  }

  tail(n = 30): string {
    return tailLog(this.proc.logFile, n);
  }

  /** Sends `signal` and waits (at most `ms`) until the process is gone; a `StepError` if it is not. */
  async kill(signal: NodeJS.Signals, ms: number): Promise<void> {
    if (!this.exited()) {
      const gone = new Promise<void>((r) => this.proc.child.once('exit', () => r()));
      try {
        process.kill(this.pid, signal);
      } catch {
        /* already gone */
      }
      if (!this.exited()) await bounded(gone, ms, `${this.proc.name} (pid ${this.pid}) did not exit after ${signal}`);
    }
    await stopProcess(this.proc, 0); // releases its reaper
  }

  /** Last resort in cleanup: SIGKILL, never throws. */
  async destroy(): Promise<void> {
    await stopProcess(this.proc, 0).catch(() => undefined);
  }

  /** Waits until a line satisfies `match` (checking that the process is alive), at most `ms`. */
  async waitForLine<T>(match: (line: string) => T | undefined, ms: number, what: string): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (const l of this.lines()) {
        const m = match(l);
        if (m !== undefined) return m;
      }
      if (this.exited()) throw new StepError(`${this.proc.name} exited before ${what}; its log:\n${this.tail()}`);
      if (Date.now() > deadline) throw new StepError(`${this.proc.name}: no ${what} within ${ms} ms; its log:\n${this.tail()}`);
      await sleep(100);
    }
  }
}

/** A JSON log line's object when its `msg` is `msg`. */
export function logged(line: string, msg: string): Record<string, unknown> | undefined {
  if (!line.includes(`"msg":"${msg}"`)) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The sum of the samples of `<url>/metrics` whose line matches `line`; undefined when unreachable. */
export async function metricSum(url: string, line: RegExp): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    return text.split('\n').filter((l) => line.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  } catch {
    return undefined;
  }
}
