/**
 * The relay's release thread (`ReleaseThread`): per open lease, one `StreamReleaser` per
 * stream of its spec; each request answered with the packed outcomes, in order.
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import { RecordCodec } from '../codec';
import { StreamKeyring } from '../crypto';
import { StreamReleaser } from './release';
import type { ReleaseThreadReply, ReleaseThreadRequest } from './release-thread';
import { packReleaseResult, unpackReleaseRequest } from './release-wire';

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const codec = new RecordCodec();
  const sets = new Map<number, StreamReleaser[]>();
  port.on('message', (m: ReleaseThreadRequest) => {
    if (m.op === 'close') {
      sets.delete(m.set);
      return;
    }
    try {
      if (m.op === 'open') {
        const { spec } = m;
        sets.set(m.set, spec.streams.map((s) => new StreamReleaser(s.policy, { source: new StreamKeyring(s.sourceKeys), relay: s.relayKey }, spec.ceiling, codec, Date.now, spec.recordCompression)));
        port.postMessage({ id: m.id, result: new ArrayBuffer(0) } satisfies ReleaseThreadReply);
        return;
      }
      const releaser = sets.get(m.set)?.[m.stream];
      if (releaser === undefined) throw new Error(`no stream ${m.stream} in release set ${m.set}`);
      const result = packReleaseResult(unpackReleaseRequest(m.request).map((i) => releaser.releaseValue(i.value, i.keyId)));
      port.postMessage({ id: m.id, result } satisfies ReleaseThreadReply, [result]);
    } catch (err) {
      port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) } satisfies ReleaseThreadReply);
    }
  });
}
