import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A service process this harness started, stopped by its pid. */
export interface ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Pid of the detached reaper watching this service, if one runs. */
  readonly reaperPid: number | undefined;
  exited(): boolean;
}

const live = new Set<ServiceProcess>();
let exitHookInstalled = false;

/**
 * Last resort so nothing outlives the process that started it: a synchronous kill on
 * exit, and a detached reaper that kills the service if this process dies without
 * running any handler (SIGKILL, OOM). Ctrl-C reaches the services directly: they share
 * the terminal's process group.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      if (!s.exited()) killQuietly(s.pid, 'SIGKILL');
      if (s.reaperPid !== undefined) killQuietly(s.reaperPid, 'SIGKILL');
    }
  });
}

function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Starts `cmd` with stdout and stderr appended to `logFile`. */
export function startProcess(name: string, cmd: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): ServiceProcess {
  installExitHook();
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, [...args], { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`);
  let gone = false;
  child.once('exit', () => {
    gone = true;
  });
  child.unref();
  const svc: ServiceProcess = { name, pid: child.pid, logFile, child, reaperPid: startReaper(child.pid), exited: () => gone };
  live.add(svc);
  return svc;
}

function startReaper(pid: number): number | undefined {
  const reaper = join(__dirname, 'reaper.sh');
  if (!existsSync(reaper)) return undefined;
  const r = spawn('/bin/sh', [reaper, String(process.pid), String(pid)], { stdio: 'ignore', detached: true });
  r.unref();
  return r.pid;
}

/** Sends `sig` to the service; false when it has exited already. */
export function signalProcess(svc: ServiceProcess, sig: NodeJS.Signals): boolean {
  if (svc.exited()) return false;
  try {
    process.kill(svc.pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true once the process has exited, false if it still runs after `ms`. */
export function waitExit(svc: ServiceProcess, ms: number): Promise<boolean> {
  if (svc.exited()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      svc.child.off('exit', onExit);
      resolve(svc.exited());
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    svc.child.once('exit', onExit);
  });
}

/** The process is gone (or about to be, by our hand): no exit hook or reaper needs to watch it. */
export function forgetProcess(svc: ServiceProcess): void {
  live.delete(svc);
  if (svc.reaperPid !== undefined) killQuietly(svc.reaperPid, 'SIGKILL');
}

/**
 * The scheduler state letter of a running process from /proc (`R`, `S`, `T` stopped, …);
 * undefined once it is gone or off Linux.
 */
export function processState(pid: number): string | undefined {
  try {
    // The command name (2nd field) is in parentheses and may hold spaces: read after its end.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(svc: ServiceProcess, graceMs = 15000): Promise<void> {
  live.delete(svc);
  if (svc.reaperPid !== undefined) killQuietly(svc.reaperPid, 'SIGKILL');
  if (svc.exited()) return;
  const gone = new Promise<void>((resolve) => svc.child.once('exit', () => resolve()));
  killQuietly(svc.pid, 'SIGTERM');
  const timer = setTimeout(() => killQuietly(svc.pid, 'SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** The last `lines` lines of a log file, for error messages. */
export function tailLog(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
