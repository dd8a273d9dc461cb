import { EventEmitter } from 'node:events';
import { runUntilSignal } from '../../src/cli/run-until-signal';

function service(stop: () => Promise<void>): { running: Parameters<typeof runUntilSignal>[0]; lines: string[] } {
  const lines: string[] = [];
  return { lines, running: { stop, log: { info: (_o, m) => void lines.push(`info ${m}`), warn: (_o, m) => void lines.push(`warn ${m}`) } } };
}

describe('runUntilSignal', () => {
  it('stops on SIGTERM and resolves once stopped, without exiting', async () => {
    const signals = new EventEmitter();
    const exits: number[] = [];
    let stops = 0;
    const { running, lines } = service(async () => void stops++);
    const done = runUntilSignal(running, { signals, exit: (c) => void exits.push(c), deadlineMs: 1000 });
    signals.emit('SIGTERM');
    signals.emit('SIGINT'); // a second signal does not stop twice
    await done;
    expect(stops).toBe(1);
    expect(exits).toEqual([]);
    expect(lines).toEqual(['info signal received']);
  });

  it('exits with 1 and says so when the stop outlasts its deadline', async () => {
    const signals = new EventEmitter();
    const exited = new Promise<number>((resolve) => {
      const { running } = service(() => new Promise<void>(() => undefined)); // never stops
      void runUntilSignal(running, { signals, exit: resolve, deadlineMs: 50 });
      signals.emit('SIGINT');
    });
    expect(await exited).toBe(1);
  });

  it('reads the key rings again on SIGHUP, as often as it comes, and stops listening once stopped', async () => {
    const signals = new EventEmitter();
    let reloads = 0;
    const { running, lines } = service(() => Promise.resolve());
    const done = runUntilSignal({ ...running, reloadKeys: async () => void reloads++ }, { signals, exit: () => undefined, deadlineMs: 1000 });
    signals.emit('SIGHUP');
    signals.emit('SIGHUP');
    expect(reloads).toBe(2);
    signals.emit('SIGTERM');
    await done;
    expect(signals.listenerCount('SIGHUP')).toBe(0);
    expect(lines).toContain('info signal received: reading the stream key rings again');
  });
});
