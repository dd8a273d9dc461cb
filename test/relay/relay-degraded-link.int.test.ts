import { join } from 'node:path';
import { KafkaBus, parseOffset, type BusMessage } from '../../src/bus';
import type { DerivedRecord } from '../../src/codec';
import { FileSpool } from '../../src/edge/spool';
import { labelVerdict, Relay, RELAY_ID_HEADER, relayIdOf } from '../../src/relay';
import type { KafkaService } from '../../scripts/services';
import { readKafka } from '../edge/gateway/gateway-fixture';
import { LinkEmulator } from '../harness/link-emulator';
import { until } from '../harness/until';
import { relayFixture, sealedMessage, twoKafkasOverLink, vitalsStreamRecord } from './relay-fixture';

const SOURCE = 'derived.vitals';
const DEST = 'theatre.north.derived.vitals';
/** The link: 300 ms each way (600 ms RTT), 256 kbit/s each way. */
const LATENCY_MS = 300;
const LINK_BYTES_PER_SECOND = 32_000;
/**
 * The relay's budget, `relay.maxBytesPerSecond`: half the link (the rest is left to the
 * link's other users). Well below the link's capacity on purpose, so that what the link
 * carries over any 10 s measures the relay's budget and not the emulator's cap.
 */
const BUDGET = 16_000;
const BATCH_MAX_BYTES = 32 * 1024;
const BLACKOUT_MS = 60_000;
/** Load: 120 soldiers' 10 s vitals windows and their alerts, 12 records/s (~10 releasable, ~3 kB/s: a fifth of the budget). */
const RECORDS_PER_SECOND = 12;
const SOLDIERS = 120;

interface Produced {
  readonly record: DerivedRecord;
  readonly id: string;
  readonly at: number;
  readonly releasable: boolean;
  readonly flash: boolean;
}

// Two real Kafkas (theatre, command); the relay reaches command only through a link emulator
// (command advertises the emulator's port) with 600 ms RTT and 256 kbit/s, blacked out twice
// for 60 s while a steady derived stream keeps arriving at the theatre.
describe('vigil relay over a degraded link: 600 ms RTT, 256 kbit/s, two 60 s blackouts, under load', () => {
  const env = twoKafkasOverLink(() => LinkEmulator.start(0, { latencyMs: LATENCY_MS, bytesPerSecond: LINK_BYTES_PER_SECOND }), 'vigil-relay-ddil-');

  it('loses nothing releasable, sends each record once, flash before the blackout backlog, drains it, and keeps to the budget', async () => {
    const l = env.link as LinkEmulator;
    const f = relayFixture();
    const theatreBus = new KafkaBus({ brokers: [(env.theatre as KafkaService).brokers], clientId: 'relay-ddil-theatre', logLevel: 'nothing' });
    const commandBus = new KafkaBus({ brokers: [(env.command as KafkaService).brokers], clientId: 'relay-ddil-command', logLevel: 'nothing', compression: 'gzip', sendTimeoutMs: 30_000 });
    const spool = await FileSpool.open({ dir: join(env.dir, 'spool'), fsync: 'always', shed: true, onDrop: (e) => relay.onShed(e) });
    const events: string[] = [];
    const relay: Relay = new Relay({
      policy: f.policy,
      keys: f.keys,
      source: theatreBus,
      destination: commandBus,
      spool,
      compression: 'gzip',
      maxBytesPerSecond: BUDGET,
      batchMaxBytes: BATCH_MAX_BYTES,
      destinationPartitions: 3,
      retryMaxMs: 2000,
      onEvent: (e) => events.push(`${new Date().toISOString()} ${e.event} ${e.link} ${e.message ?? ''}`),
    });
    const producer = theatreBus.producer();
    const produced: Produced[] = [];
    let stopLoad = false;
    let load: Promise<void> = Promise.resolve();
    try {
      await theatreBus.admin().ensureTopics([{ topic: SOURCE, partitions: 3 }]);
      // A steady stream at the theatre, in 250 ms ticks, for the whole run.
      load = (async () => {
        const t0 = Date.now();
        let n = 0;
        while (!stopLoad) {
          const due = Math.floor(((Date.now() - t0) / 1000) * RECORDS_PER_SECOND);
          const batch: DerivedRecord[] = [];
          for (; n < due; n++) batch.push(vitalsStreamRecord(n, SOLDIERS));
          if (batch.length > 0) {
            const at = Date.now();
            await producer.send(SOURCE, batch.map((r) => sealedMessage(f, r)));
            for (const r of batch) {
              const releasable = labelVerdict(r.label, f.policy.destination.ceiling) === 'release';
              produced.push({ record: r, id: relayIdOf(r), at, releasable, flash: r.values.alarm === true });
            }
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const started = Date.now();
      await relay.start();
      await until(() => relay.stats().relayed >= 100, 90_000, 'relay in its stride before the first blackout');

      const blackouts: Array<{ cutAt: number; restoreAt: number; drainedAt: number; backlog: number }> = [];
      for (let i = 0; i < 2; i++) {
        const cutAt = Date.now();
        await l.blackout(BLACKOUT_MS);
        const restoreAt = Date.now();
        const backlog = relay.stats().backlogRecords;
        // Drained: nothing queued during the blackout is left (what is queued now arrived since).
        await until(() => relay.stats().link === 'up' && relay.stats().backlogOldestAgeMs < 2000, 120_000, `backlog of blackout ${i + 1} drained`).catch((err: Error) => {
          throw new Error(`${err.message}; stats ${JSON.stringify(relay.stats())}; relay events:\n${events.slice(-20).join('\n')}`);
        });
        blackouts.push({ cutAt, restoreAt, drainedAt: Date.now(), backlog });
      }
      stopLoad = true;
      await load;
      const releasable = produced.filter((p) => p.releasable);
      await until(() => relay.stats().queued >= releasable.length && relay.stats().backlogRecords === 0, 120_000, 'everything queued and the backlog at 0');
      const ended = Date.now();
      await relay.stop();

      // What the relay put on the link (client → command), its budget's measure; then the link is cleared for reading back.
      const up = l.bytes('up', started, ended);
      const s = relay.stats();
      const seconds = (ended - started) / 1000;
      const peak10 = l.peakBytes('up', 10_000, started, ended);
      const peak30 = l.peakBytes('up', 30_000, started, ended);
      const drains = blackouts.map((b) => ({
        backlog: b.backlog,
        drainSeconds: (b.drainedAt - b.restoreAt) / 1000,
        linkBytesPerSecond: Math.round(l.bytes('up', b.restoreAt, b.drainedAt) / ((b.drainedAt - b.restoreAt) / 1000)),
      }));
      process.stderr.write(
        `relay over the degraded link: ${s.relayed} records in ${seconds.toFixed(0)} s; link up ${up} B (${Math.round(up / seconds)} B/s), record bytes after compression ${s.bytesAfterCompression} B (link/record bytes ${(up / s.bytesAfterCompression).toFixed(3)}); ` +
          `peak 10 s ${peak10} B, 30 s ${peak30} B; budget ${BUDGET} B/s; drains ${JSON.stringify(drains)}; sendFailures ${s.sendFailures}, reconciliations ${s.reconciliations}, duplicatesSkipped ${s.duplicatesSkipped}\n`,
      );
      l.reshape({ latencyMs: 0, bytesPerSecond: 0 });

      // Budget: over any window of W s, at most W s of budget + the bucket's one second + one batch
      // (docs/relay.md), plus 5% for what the budget does not count (Kafka's framing, metadata, read-backs).
      const allowance = (w: number): number => (BUDGET * (w + 1) + BATCH_MAX_BYTES) * 1.05;
      expect(peak10).toBeLessThanOrEqual(allowance(10));
      expect(peak30).toBeLessThanOrEqual(allowance(30));
      expect(up).toBeLessThanOrEqual(allowance(seconds));

      // Nothing releasable lost, nothing twice, nothing else: the destination holds exactly the releasable records.
      const admin = commandBus.admin();
      const ends = await admin.offsets(DEST);
      await admin.close();
      expect(ends.reduce((n, p) => n + parseOffset(p.end) - parseOffset(p.start), 0)).toBe(releasable.length);
      const got = await readKafka((env.command as KafkaService).brokers, [DEST], (msgs) => msgs.length >= releasable.length, 120_000);
      const idOf = (m: BusMessage): string => m.headers[RELAY_ID_HEADER]?.toString() ?? '';
      expect(got.map(idOf).sort()).toEqual(releasable.map((p) => p.id).sort());
      for (const m of got) {
        const r = f.codec.open(m.value as Buffer, f.relayKey);
        expect(labelVerdict(r.label, f.policy.destination.ceiling)).toBe('release');
        expect(relayIdOf(r)).toBe(idOf(m));
      }
      expect(s.shed).toEqual({ flash: 0, immediate: 0, routine: 0 });

      // After each blackout: the flash alerts queued during it were written before any routine record queued during it.
      const byId = new Map(produced.map((p) => [p.id, p]));
      for (const [i, b] of blackouts.entries()) {
        const during = got.filter((m) => {
          const p = byId.get(idOf(m)) as Produced;
          return p.at >= b.cutAt && p.at < b.restoreAt;
        });
        const flash = during.filter((m) => (byId.get(idOf(m)) as Produced).flash);
        const routine = during.filter((m) => !(byId.get(idOf(m)) as Produced).flash);
        expect({ blackout: i + 1, flash: flash.length > 10, routine: routine.length > 200 }).toEqual({ blackout: i + 1, flash: true, routine: true });
        for (const p of [0, 1, 2]) {
          const lastFlash = Math.max(-1, ...flash.filter((m) => m.partition === p).map((m) => parseOffset(m.offset)));
          const firstRoutine = Math.min(Number.MAX_SAFE_INTEGER, ...routine.filter((m) => m.partition === p).map((m) => parseOffset(m.offset)));
          expect({ blackout: i + 1, partition: p, flashFirst: lastFlash < firstRoutine }).toEqual({ blackout: i + 1, partition: p, flashFirst: true });
        }
        // (Across partitions there is no order to check: one request carries a batch to every partition,
        // and kafkajs stamps each partition's record batch a few ms apart.)
      }
    } finally {
      stopLoad = true;
      await load.catch(() => undefined);
      await relay.stop();
      await producer.close();
      await spool.close();
      await theatreBus.close();
      await commandBus.close();
    }
  }, 480_000);
});
