import { isAbsolute, resolve } from 'node:path';
import { readStreamKeyRing, StreamKeyring, type StreamDataKey } from '../crypto';
import { VigilError } from '../errors';
import type { RelayPolicy } from './policy';

/** The two keys of one relayed stream: the theatre's ring (opens) and the relay key (seals for the destination). */
export interface RelayStreamKeys {
  /** Every key of the theatre stream key file: any of them opens a source record. */
  readonly source: StreamKeyring;
  /** The key the destination opens with; the relay seals every released record of the stream under it. */
  readonly relay: StreamDataKey;
}

/**
 * Reads each stream's theatre key ring and relay key, paths taken from `baseDir` (the
 * policy's folder). A relay key that is also a theatre key is refused: the destination
 * would then hold a theatre key, which re-sealing exists to prevent.
 *
 * @throws VigilError `VIGIL_E_RELAY_POLICY` naming the entry (the key file error as cause)
 */
export async function loadRelayKeys(policy: RelayPolicy, baseDir: string): Promise<Map<string, RelayStreamKeys>> {
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const out = new Map<string, RelayStreamKeys>();
  for (const [i, s] of policy.streams.entries()) {
    const read = async (field: 'sourceKeyFile' | 'relayKeyFile'): Promise<Awaited<ReturnType<typeof readStreamKeyRing>>> => {
      try {
        return await readStreamKeyRing(path(s[field]));
      } catch (err) {
        throw new VigilError('VIGIL_E_RELAY_POLICY', `relay policy: "streams[${i}].${field}" (${s.source}): ${(err as Error).message}`, { cause: err, details: { entry: `streams[${i}].${field}` } });
      }
    };
    const source = await read('sourceKeyFile');
    const relay = (await read('relayKeyFile')).current;
    const theatre = new StreamKeyring(source.all);
    if (theatre.has(relay.keyId) || source.all.some((k) => Buffer.from(k.key).equals(Buffer.from(relay.key)))) {
      throw new VigilError('VIGIL_E_RELAY_POLICY', `relay policy: "streams[${i}].relayKeyFile" (${s.source}) holds a key of the theatre ring; the destination must get a key of its own (vigil keys gen stream)`, { details: { entry: `streams[${i}].relayKeyFile` } });
    }
    out.set(s.source, { source: theatre, relay });
  }
  return out;
}
