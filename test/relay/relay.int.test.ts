import { join } from 'node:path';
import { KafkaBus, parseOffset } from '../../src/bus';
import { classificationRank, type DerivedRecord } from '../../src/codec';
import { FileSpool } from '../../src/edge/spool';
import { labelVerdict, Relay, RELAY_ID_HEADER } from '../../src/relay';
import type { KafkaService } from '../../scripts/services';
import { readKafka } from '../edge/gateway/gateway-fixture';
import { TcpProxy } from '../harness/tcp-proxy';
import { until } from '../harness/until';
import { GBR_ONLY, RELEASABLE, relayFixture, sealedMessage, TOP, twoKafkasOverLink, vitalsRecord } from './relay-fixture';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

// Two independent Kafkas, theatre and command, and a link between the relay and command that
// is cut and restored mid-run (a userspace TCP proxy: command advertises the proxy's port, so
// every connection of the relay to command goes through it).
describe('vigil relay between two real Kafkas over a link that is cut and restored', () => {
  const env = twoKafkasOverLink(() => TcpProxy.start(0), 'vigil-relay-int-');

  it.each(['gzip', 'lz4'] as const)('delivers every releasable record exactly once, nothing above the ceiling, and drains the backlog after the cut (%s batches)', async (compression) => {
    // Each case its own source topic and group (topic prefix) and destination topic.
    const prefix = `${compression}.`;
    const SOURCE = `${prefix}derived.vitals`;
    const DEST = `theatre.north.derived.vitals.${compression}`;
    const f = relayFixture({ destination: DEST });
    const theatreBus = new KafkaBus({ brokers: [(env.theatre as KafkaService).brokers], clientId: 'relay-int-theatre', logLevel: 'nothing' });
    const commandBus = new KafkaBus({ brokers: [(env.command as KafkaService).brokers], clientId: 'relay-int-command', logLevel: 'nothing', compression, sendTimeoutMs: 4000, requestTimeoutMs: 2000, connectionTimeoutMs: 1000, retries: 1, maxRetryTimeMs: 500 });
    const spool = await FileSpool.open({ dir: join(env.dir, `spool-${compression}`), fsync: 'always', onDrop: (e) => relay.onShed(e) });
    const relay: Relay = new Relay({ policy: f.policy, keys: f.keys, source: theatreBus, destination: commandBus, spool, topicPrefix: prefix, compression, batchMaxRecords: 10, maxBytesPerSecond: 6000, destinationPartitions: 3, retryMinMs: 100, retryMaxMs: 1000 });
    const producer = theatreBus.producer();
    try {
      await theatreBus.admin().ensureTopics([{ topic: SOURCE, partitions: 3 }]);
      const mixed = (from: number, n: number): DerivedRecord[] =>
        Array.from({ length: n }, (_, i) => {
          const k = from + i;
          const label = k % 5 === 3 ? TOP : k % 5 === 4 ? GBR_ONLY : RELEASABLE;
          return k % 10 === 7 ? vitalsRecord(`sol-${k % 7}/hr-high/raised`, T0 + k * 10_000, label, { alarm: true, heartRateBpm: 180 }) : vitalsRecord(`sol-${k % 7}`, T0 + k * 10_000, label);
        });
      const before = mixed(0, 100);
      const during = mixed(100, 100);
      const releasable = [...before, ...during].filter((r) => labelVerdict(r.label, f.policy.destination.ceiling) === 'release');
      await producer.send(SOURCE, before.map((r) => sealedMessage(f, r)));
      await relay.start();
      await until(() => relay.stats().relayed >= 20, 60_000, 'first records relayed');

      (env.link as TcpProxy).cut();
      await producer.send(SOURCE, during.map((r) => sealedMessage(f, r)));
      await until(() => relay.stats().link === 'down' && relay.stats().queued === releasable.length, 60_000, 'all releasable records queued while the link is down');
      const backlog = relay.stats().backlogRecords;
      expect(backlog).toBeGreaterThan(0);
      expect(relay.stats().withheld).toEqual({ 'above-ceiling': 40, 'not-releasable': 40, unreadable: 0 });

      (env.link as TcpProxy).restore();
      await until(() => relay.stats().backlogRecords === 0 && relay.stats().link === 'up', 120_000, 'backlog drained after the link returned');
      await relay.stop();

      // Exactly once: the destination topic holds as many records as were releasable, no more.
      const admin = commandBus.admin();
      const ends = await admin.offsets(DEST);
      await admin.close();
      expect(ends.reduce((n, p) => n + parseOffset(p.end) - parseOffset(p.start), 0)).toBe(releasable.length);
      const got = await readKafka((env.command as KafkaService).brokers, [DEST], (msgs) => msgs.length >= releasable.length, 60_000);
      const ids = got.map((m) => m.headers[RELAY_ID_HEADER]?.toString());
      expect(new Set(ids).size).toBe(releasable.length);
      const opened = got.map((m) => f.codec.open(m.value as Buffer, f.relayKey) as DerivedRecord);
      expect(new Set(opened.map((r) => `${r.key}|${r.windowStartMs}`))).toEqual(new Set(releasable.map((r) => `${r.key}|${r.windowStartMs}`)));
      // Nothing above the ceiling or not releasable to the destination ever arrived; the theatre key opens nothing.
      for (const r of opened) expect(labelVerdict(r.label, f.policy.destination.ceiling)).toBe('release');
      expect(opened.some((r) => classificationRank(r.label.level) > classificationRank('SECRET'))).toBe(false);
      for (const m of got) expect(() => f.codec.open(m.value as Buffer, f.theatreKey)).toThrow(expect.objectContaining({ code: 'VIGIL_E_RECORD_AUTH' }));
      const s = relay.stats();
      expect(s.sendFailures + s.reconciliations).toBeGreaterThan(1);
      expect(s.bytesAfterCompression).toBeGreaterThan(0);
    } finally {
      await relay.stop();
      await producer.close();
      await spool.close();
      await theatreBus.close();
      await commandBus.close();
    }
  }, 300_000);
});
