import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BusMessage } from '../bus';
import type { ClassificationLabel } from '../codec';
import type { StreamDataKey } from '../crypto';
import { VigilError } from '../errors';
import type { RelayStreamPolicy } from './policy';
import { packReleaseRequest } from './release-wire';

/** What a relay's releasers are built from: per stream its policy and keys, the destination ceiling. */
export interface ReleaseThreadSpec {
  readonly streams: ReadonlyArray<{ readonly policy: RelayStreamPolicy; readonly sourceKeys: readonly StreamDataKey[]; readonly relayKey: StreamDataKey }>;
  readonly ceiling: ClassificationLabel;
  readonly recordCompression: 'none' | 'deflate';
}

/** Messages to the thread. Each `open` and `release` is answered, in order. */
export type ReleaseThreadRequest =
  | { readonly op: 'open'; readonly id: number; readonly set: number; readonly spec: ReleaseThreadSpec }
  | { readonly op: 'release'; readonly id: number; readonly set: number; readonly stream: number; readonly request: ArrayBuffer }
  | { readonly op: 'close'; readonly set: number };
export type ReleaseThreadReply = { readonly id: number; readonly result: ArrayBuffer } | { readonly id: number; readonly error: string };

/** One relay's use of the release thread: its releasers there, until `close`. */
export interface ReleaseLease {
  /** Releases `messages[from, to)` of stream `stream` (its index in the spec); read the result with `unpackReleaseResult`. */
  release(stream: number, messages: readonly BusMessage[], from: number, to: number): Promise<ArrayBuffer>;
  /** Why the thread stopped answering, if it did: every later request is refused too. */
  readonly failure: Error | undefined;
  /** Drops the releasers (their samplers) from the thread. */
  close(): void;
}

interface Pending {
  resolve(result: ArrayBuffer): void;
  reject(err: Error): void;
}

/**
 * The process's release thread: a `worker_threads` thread that opens, judges and re-seals
 * relayed records (`StreamReleaser`, each stream's sampler there) while the relay's own thread
 * fetches, queues and sends. One per process, shared by the relays in it and started on first
 * use, so it stays warm (compiled, optimised) across relay restarts; idle, it does not keep the
 * process alive. When it dies, every request in flight and every later one of its leases is
 * refused (`failure`), and relays release on their own thread; the next `open` starts a new one.
 */
export class ReleaseThread {
  private static current: ReleaseThread | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private nextSet = 0;
  private failed: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.unref();
    worker.on('message', (m: ReleaseThreadReply) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if ('result' in m) p.resolve(m.result);
      else p.reject(new VigilError('VIGIL_E_INTERNAL', `relay release thread: ${m.error}`));
    });
    worker.on('error', (err) => this.die(err));
    worker.on('exit', (code) => this.die(new VigilError('VIGIL_E_INTERNAL', `relay release thread exited (code ${code})`)));
  }

  private die(err: Error): void {
    this.failed ??= err;
    for (const p of this.pending.values()) p.reject(this.failed);
    this.pending.clear();
    if (ReleaseThread.current === this) ReleaseThread.current = undefined;
  }

  /**
   * A lease on the process's release thread (started now if there is none) with releasers
   * built from `spec`.
   *
   * @throws VigilError `VIGIL_E_INTERNAL` when the thread does not start
   */
  static async open(spec: ReleaseThreadSpec): Promise<ReleaseLease> {
    ReleaseThread.current ??= ReleaseThread.spawn();
    const thread = ReleaseThread.current;
    const set = thread.nextSet++;
    try {
      await thread.request({ op: 'open', id: thread.nextId++, set, spec });
    } catch (err) {
      throw new VigilError('VIGIL_E_INTERNAL', `relay release thread did not start: ${(err as Error).message}`, { cause: err });
    }
    let closed = false;
    return {
      release: (stream, messages, from, to) => {
        if (closed) return Promise.reject(new VigilError('VIGIL_E_INTERNAL', 'relay release lease closed'));
        if (thread.failed !== undefined) return Promise.reject(thread.failed);
        const request = packReleaseRequest(messages, from, to);
        return thread.request({ op: 'release', id: thread.nextId++, set, stream, request }, [request]);
      },
      get failure() {
        return thread.failed;
      },
      close: () => {
        if (closed) return;
        closed = true;
        if (thread.failed === undefined) thread.worker.postMessage({ op: 'close', set } satisfies ReleaseThreadRequest);
      },
    };
  }

  /** Stops the process's release thread, if one runs: requests in flight are refused, relays go on on their own thread. */
  static async shutdown(): Promise<void> {
    const t = ReleaseThread.current;
    if (t === undefined) return;
    t.die(new VigilError('VIGIL_E_INTERNAL', 'relay release thread stopped'));
    await t.worker.terminate();
  }

  private static spawn(): ReleaseThread {
    // Built (.js) the worker is plain JavaScript; from the TypeScript sources (tests, benches) it is compiled as it loads.
    const ext = extname(__filename);
    return new ReleaseThread(new Worker(join(__dirname, `release-worker${ext}`), ext === '.ts' ? { execArgv: ['--require', require.resolve('tsx/cjs')] } : {}));
  }

  private request(m: Extract<ReleaseThreadRequest, { id: number }>, transfer: ArrayBuffer[] = []): Promise<ArrayBuffer> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise<ArrayBuffer>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(m.id, { resolve, reject });
      this.worker.postMessage(m, transfer);
    });
  }
}
