import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A message a bench child sends its parent over IPC. */
export interface ChildMessage {
  readonly type: string;
  readonly [k: string]: unknown;
}

/** CPU time (user + system) a process has used so far, seconds, from /proc/<pid>/stat (clock ticks of 1/100 s). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field, stime the 15th.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** CPU seconds (user + system) of a process's main thread (the JavaScript event loop), from /proc/<pid>/task/<pid>/stat; the rest of `processCpuSeconds` is V8's GC and compiler threads and libuv's thread pool. */
export function mainThreadCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/**
 * Context switches so far of a process's main thread and of all its threads, from
 * /proc/<pid>/task/<tid>/status. A voluntary switch is a thread going to sleep (an event
 * loop's epoll_wait, a pool thread's futex): each later wake-up is paid for in scheduler and,
 * on a virtual machine, hypervisor time, which on this machine dominates the CPU per frame at
 * moderate rates.
 */
export function contextSwitches(pid: number): { main: number; all: number } {
  const of = (tid: string): number => {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {
      return 0; // the thread ended meanwhile
    }
  };
  let all = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) all += of(tid);
  return { main: of(String(pid)), all };
}

/** Memory of a process from /proc/<pid>/status: peak (VmHWM) and current (VmRSS) resident set, bytes. */
export function processMemory(pid: number): { hwmBytes: number; rssBytes: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { hwmBytes: kb('VmHWM'), rssBytes: kb('VmRSS') };
  } catch {
    return { hwmBytes: 0, rssBytes: 0 };
  }
}

/**
 * A bench component in its own Node process (`node --import tsx <file> <args>`), so its
 * CPU and memory are its own: waits for its `ready` message, answers requests, and is
 * stopped by pid (a `stop` request first, SIGKILL if it does not exit in time).
 */
export class BenchChild {
  private readonly waiters = new Map<string, Array<(m: ChildMessage) => void>>();
  private exited = false;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    proc.on('message', (m: ChildMessage) => {
      const list = this.waiters.get(m.type);
      const w = list?.shift();
      if (w) w(m);
    });
    this.exitPromise = new Promise((resolve) => proc.once('exit', () => ((this.exited = true), resolve())));
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  static async start(name: string, file: string, args: readonly string[], timeoutMs = 60_000, execArgv: readonly string[] = []): Promise<BenchChild> {
    const proc = fork(file, [...args], { execArgv: ['--import', 'tsx', ...execArgv], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
      if (process.env.VIGIL_BENCH_VERBOSE) process.stderr.write(`[${name}] ${d.toString()}`);
    });
    const child = new BenchChild(name, proc);
    try {
      await Promise.race([
        child.next('ready'),
        child.exitPromise.then(() => Promise.reject(new Error(`${name} exited during startup: ${stderr}`))),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`${name} not ready within ${timeoutMs} ms: ${stderr}`)), timeoutMs).unref()),
      ]);
    } catch (err) {
      await child.stop(1000);
      throw err;
    }
    return child;
  }

  /** The next message of `type`. */
  next(type: string): Promise<ChildMessage> {
    return new Promise((resolve) => {
      const list = this.waiters.get(type) ?? [];
      list.push(resolve);
      this.waiters.set(type, list);
    });
  }

  send(msg: ChildMessage): void {
    if (!this.exited && this.proc.connected) this.proc.send(msg);
  }

  /** Sends `{ type }` and waits for the reply of the same type. */
  async request(type: string, extra: Record<string, unknown> = {}): Promise<ChildMessage> {
    const reply = this.next(type);
    this.send({ type, ...extra });
    return reply;
  }

  memory(): { hwmBytes: number; rssBytes: number } {
    return this.exited ? { hwmBytes: 0, rssBytes: 0 } : processMemory(this.pid);
  }

  /** Asks it to stop cleanly, then kills it by pid after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    this.send({ type: 'stop' });
    const timer = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }, graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

/** Child side: handles requests from the parent; `stop` runs `onStop` and exits. */
export function serveParent(handlers: Record<string, (message: ChildMessage) => Record<string, unknown> | Promise<Record<string, unknown>>>, onStop: () => Promise<void>): void {
  process.on('message', (m: ChildMessage) => {
    void (async () => {
      if (m.type === 'stop') {
        try {
          await onStop();
        } finally {
          process.exit(0);
        }
      }
      const h = handlers[m.type];
      if (h) process.send?.({ type: m.type, ...(await h(m)) });
    })();
  });
  // An orphaned child (parent killed) must not linger.
  process.on('disconnect', () => process.exit(0));
}
