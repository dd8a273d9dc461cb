import { errorLogFields } from '../errors';

/** What `runUntilSignal` needs of a running service. */
export interface Stoppable {
  stop(): Promise<void>;
  /** Called on SIGHUP: read the stream key rings again (gateway, worker, console). */
  reloadKeys?(): Promise<void>;
  readonly log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface RunUntilSignalOptions {
  /** Longest a stop may take before the process exits anyway, ms. Default 20,000 (under docker-compose's 30 s grace). */
  readonly deadlineMs?: number;
  /** Ends the process (tests pass their own). Default `process.exit`. */
  readonly exit?: (code: number) => void;
  /** Where the signals come from (tests pass an EventEmitter). Default `process`. */
  readonly signals?: { once(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown; on?(event: 'SIGHUP', listener: () => void): unknown; off?(event: 'SIGHUP', listener: () => void): unknown };
}

export const DEFAULT_STOP_DEADLINE_MS = 20_000;

/**
 * Resolves once the service stopped after SIGTERM or SIGINT. A stop is bounded: past the
 * deadline the process exits with status 1 and says so. That is safe for the gateway and the
 * workers, as a crash is: a frame is acknowledged only once durable (the broker redelivers
 * the rest), the spool survives a torn write, and a worker restores its last commit.
 */
export function runUntilSignal(running: Stoppable, options: RunUntilSignalOptions = {}): Promise<void> {
  const deadlineMs = options.deadlineMs ?? DEFAULT_STOP_DEADLINE_MS;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? process;
  let hup: (() => void) | undefined;
  const finished = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      running.log.info({ signal }, 'signal received');
      const timer = setTimeout(() => {
        running.log.warn({ deadlineMs }, 'stop did not finish in time; exiting now (what was not durable was not acknowledged, and is delivered again)');
        exit(1);
      }, deadlineMs);
      timer.unref?.();
      void running.stop().then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          running.log.warn(errorLogFields(err), 'stop failed');
          exit(1);
        },
      );
    };
    signals.once('SIGTERM', () => stop('SIGTERM'));
    signals.once('SIGINT', () => stop('SIGINT'));
    const reload = running.reloadKeys;
    if (reload !== undefined && signals.on !== undefined) {
      hup = (): void => {
        running.log.info({ signal: 'SIGHUP' }, 'signal received: reading the stream key rings again');
        void reload.call(running);
      };
      signals.on('SIGHUP', hup);
    }
  });
  return finished.finally(() => {
    if (hup !== undefined) signals.off?.('SIGHUP', hup);
  });
}
