import { unwatchFile, watchFile } from 'node:fs';
import { readStreamKeyRing, type StreamKeyRing } from '../crypto';
import { errorLogFields } from '../errors';

export interface KeyRingWatch {
  /** Reads the file again now (SIGHUP); resolves once applied, or once the failure was reported. */
  reload(): Promise<void>;
  stop(): void;
}

/**
 * Follows a stream key file (a ring: `vigil keys rotate stream`): checks it every second and
 * on `reload()`, and hands a changed ring (another current key, keys added or removed) to
 * `apply`. A file that cannot be read (mid-edit, removed) keeps the ring in use and is
 * reported once per distinct error, so a rotation never stops a gateway or a worker.
 */
export function watchKeyRing(file: string, first: StreamKeyRing, apply: (ring: StreamKeyRing) => void, report: { info(o: object, m: string): void; error(o: object, m: string): void }): KeyRingWatch {
  const idsOf = (r: StreamKeyRing): string => [r.current.keyId, ...r.all.map((k) => k.keyId)].join(',');
  let seen = idsOf(first);
  let lastError = '';
  let running: Promise<void> | undefined;
  const reload = (): Promise<void> =>
    (running ??= (async () => {
      try {
        const ring = await readStreamKeyRing(file);
        lastError = '';
        const ids = idsOf(ring);
        if (ids === seen) return;
        seen = ids;
        apply(ring);
        report.info({ file, current: ring.current.keyId, keys: ring.all.map((k) => k.keyId) }, 'stream key ring reloaded');
      } catch (err) {
        const message = (err as Error).message;
        if (message !== lastError) report.error({ file, ...errorLogFields(err) }, 'cannot read the stream key ring; keeping the keys in use');
        lastError = message;
      }
    })().finally(() => (running = undefined)));
  const onChange = (): void => void reload();
  watchFile(file, { interval: 1000, persistent: false }, onChange);
  return { reload, stop: () => unwatchFile(file, onChange) };
}
