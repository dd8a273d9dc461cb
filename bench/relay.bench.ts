/**
 * `vigil relay` throughput and bytes on the wire (issue 15), between two real Kafkas on
 * loopback, unthrottled:
 *
 * 1. **Throughput**: records/s the relay moves from a theatre topic to a command topic
 *    (open with the theatre ring, check the label, re-seal under the relay key — on the
 *    process's release thread with two cores or more, as `relay.releaseThread: auto` — durable
 *    queue with fsync, send with acks=all in batches of the unbudgeted defaults, commit), against a plain kafkajs consumer → producer copy
 *    of the same records in the same run (same compression, acks=all, idempotent producer,
 *    one batch at a time per consumed batch, no opening, no queue). Rounds alternate copy and
 *    relay; the ratio is of the medians. Target: relay ≥ 70% of the copy. Both clocks run from
 *    before their clients connect (the copy's consumer and producer, the relay's start) to the
 *    last record in the destination; the destination topic exists before either starts. CPU
 *    µs/record is this process's user + system time over the run (both run in it; the Kafkas
 *    are other processes; thread-pool work such as gzip included).
 * 2. **Bytes on the wire per record**, per derived stream of the deployed pipelines (a
 *    simulated fleet), relay → command through a counting TCP proxy (a third Kafka that
 *    advertises the proxy), with `relay.compression` none, gzip and lz4: every byte of the
 *    relay's connections to command (Kafka framing, metadata, read-back included).
 *
 * Run: `npm run bench relay`. Env: VIGIL_BENCH_RELAY_COMPRESSION of both systems in part 1 (gzip | lz4 | none) [gzip],
 * VIGIL_BENCH_RELAY_RECORDS [30000], VIGIL_BENCH_RELAY_ROUNDS
 * [3] counted after VIGIL_BENCH_RELAY_WARMUP [1] uncounted rounds of each, VIGIL_BENCH_RELAY_MINUTES
 * of fleet time for the wire figures [5].
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import { KafkaBus, parseOffset, type Bus } from '../src/bus';
import { FileSpool } from '../src/edge/spool';
import { generateStreamKey, StreamKeyring } from '../src/crypto';
import { labelVerdict, parseRelayPolicy, Relay, type RelayStreamKeys } from '../src/relay';
import { startKafka } from '../scripts/services';
import { LinkEmulator } from '../test/harness/link-emulator';
import { policyDoc, relayFixture, sealedMessage, vitalsStreamRecord } from '../test/relay/relay-fixture';
import { derivedRecords } from './lib/derived-records';
import { writeReport, type BenchRow } from './lib/report';

const RECORDS = Number(process.env.VIGIL_BENCH_RELAY_RECORDS ?? 30_000);
const ROUNDS = Number(process.env.VIGIL_BENCH_RELAY_ROUNDS ?? 3);
const WARMUP = Number(process.env.VIGIL_BENCH_RELAY_WARMUP ?? 1);
const MINUTES = Number(process.env.VIGIL_BENCH_RELAY_MINUTES ?? 5);
const WIRE_SAMPLE = 3000;
const PARTITIONS = 3;
type Compression = 'none' | 'gzip' | 'lz4';
/** Batch compression of both systems in the throughput part: gzip (the relay's default) or lz4 (Vigil's codec, registered for kafkajs by KafkaBus). */
const COMPRESSION = (process.env.VIGIL_BENCH_RELAY_COMPRESSION ?? 'gzip') as Compression;
if (!['none', 'gzip', 'lz4'].includes(COMPRESSION)) throw new Error(`VIGIL_BENCH_RELAY_COMPRESSION must be none, gzip or lz4, got ${COMPRESSION}`);
const CODEC: Record<Compression, CompressionTypes> = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, lz4: CompressionTypes.LZ4 };
const SOURCE = 'derived.vitals';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function endCount(bus: Bus, topic: string): Promise<number> {
  const admin = bus.admin();
  try {
    return (await admin.offsets(topic)).reduce((n, p) => n + parseOffset(p.end) - parseOffset(p.start), 0);
  } catch {
    return 0;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Waits (polling every 50 ms) until `topic` holds `n` records; returns when. */
async function untilCount(bus: Bus, topic: string, n: number, timeoutMs = 600_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if ((await endCount(bus, topic)) >= n) return Date.now();
    if (Date.now() - t0 > timeoutMs) throw new Error(`${topic}: fewer than ${n} records after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The baseline: a plain kafkajs consumer → producer copy, one send per consumed batch. */
async function copy(theatre: string, command: string, dest: string, n: number, compression: Compression, round: number): Promise<{ perSecond: number; cpuUsPerRecord: number }> {
  const src = new Kafka({ clientId: `copy-src-${round}`, brokers: [theatre], logLevel: logLevel.NOTHING });
  const dst = new Kafka({ clientId: `copy-dst-${round}`, brokers: [command], logLevel: logLevel.NOTHING });
  const admin = dst.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: dest, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const count = new KafkaBus({ brokers: [command], clientId: 'bench-count', logLevel: 'nothing' });
  // From here as for the relay: connecting, joining the group, copying (the destination topic exists for both).
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const producer = dst.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = src.consumer({ groupId: `bench-copy-${round}-${Date.now()}`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: SOURCE, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      await producer.send({ topic: dest, acks: -1, compression: CODEC[compression], messages: batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
    },
  });
  const t1 = await untilCount(count, dest, n);
  const cpu = process.cpuUsage(cpu0);
  await consumer.disconnect();
  await producer.disconnect();
  await count.close();
  return { perSecond: (n * 1000) / (t1 - t0), cpuUsPerRecord: (cpu.user + cpu.system) / n };
}

/** The relay in this process, theatre → command, queue on disk (fsync always, as deployed). */
async function relayOnce(o: { theatre: string; command: string; dest: string; name: string; keys: ReadonlyMap<string, RelayStreamKeys>; sources: string[]; n: number; compression: Compression }): Promise<{ perSecond: number; cpuUsPerRecord: number; relay: Relay }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-relay-'));
  const policy = parseRelayPolicy({
    ...policyDoc(),
    name: o.name,
    streams: o.sources.map((source, i) => ({ source, destination: o.sources.length === 1 ? o.dest : `${o.dest}.${i}`, sourceKeyFile: 'theatre.key.json', relayKeyFile: 'relay.key.json' })),
  });
  const source = new KafkaBus({ brokers: [o.theatre], clientId: `bench-relay-src-${o.name}`, logLevel: 'nothing' });
  const destination = new KafkaBus({ brokers: [o.command], clientId: `bench-relay-dst-${o.name}`, logLevel: 'nothing', compression: o.compression });
  const spool = await FileSpool.open({ dir: join(dir, 'spool'), shed: true });
  // As `vigil relay` runs by default: the release thread on with two cores or more (relay.releaseThread auto), batches by the unbudgeted defaults.
  const relay = new Relay({ policy, keys: o.keys, source, destination, spool, compression: o.compression, destinationPartitions: PARTITIONS, releaseThread: availableParallelism() >= 2 });
  // The destination topics exist before the clock starts, as for the copy (creating them is the broker's time, not the relay's).
  const admin = destination.admin();
  await admin.ensureTopics(policy.streams.map((s) => ({ topic: s.destination, partitions: PARTITIONS })));
  await admin.close();
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  await relay.start();
  const deadline = t0 + 600_000;
  while (relay.stats().relayed + relay.stats().duplicatesSkipped < o.n) {
    if (Date.now() > deadline || relay.failure !== undefined) throw new Error(`relay ${o.name}: ${JSON.stringify(relay.stats())} ${relay.failure?.message ?? ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const t1 = Date.now();
  const cpu = process.cpuUsage(cpu0);
  await relay.stop();
  await spool.close();
  await source.close();
  await destination.close();
  rmSync(dir, { recursive: true, force: true });
  return { perSecond: (o.n * 1000) / (t1 - t0), cpuUsPerRecord: (cpu.user + cpu.system) / o.n, relay };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const link = await LinkEmulator.start(0);
  const [theatre, command, wire] = await Promise.all([startKafka({ log }), startKafka({ log }), startKafka({ log, advertisedPort: link.port })]);
  link.setTarget(wire.port);
  const rows: BenchRow[] = [];
  const extra: Record<string, unknown> = {};
  try {
    // ---- 1. throughput: the same releasable vitals records, copy against relay.
    const f = relayFixture();
    const records = [];
    for (let i = 0; records.length < RECORDS; i++) {
      const r = vitalsStreamRecord(i, 400);
      if (labelVerdict(r.label, f.policy.destination.ceiling) === 'release') records.push(r);
    }
    const theatreBus = new KafkaBus({ brokers: [theatre.brokers], clientId: 'bench-theatre', logLevel: 'nothing' });
    await theatreBus.admin().ensureTopics([{ topic: SOURCE, partitions: PARTITIONS }]);
    const p = theatreBus.producer();
    for (let i = 0; i < records.length; i += 500) await p.send(SOURCE, records.slice(i, i + 500).map((r) => sealedMessage(f, r)));
    await p.close();
    log(`${records.length} sealed derived.vitals records in the theatre Kafka (${PARTITIONS} partitions)`);
    const copies: number[] = [];
    const relays: number[] = [];
    // Uncounted rounds first: the relay and the copy run for days, not from a cold JIT (the counted
    // rounds of a cold start rose 40-60% from the first to the third, both systems).
    for (let w = 0; w < WARMUP; w++) {
      await copy(theatre.brokers, command.brokers, `copy.warmup${w}.vitals`, records.length, COMPRESSION, 100 + w);
      await relayOnce({ theatre: theatre.brokers, command: command.brokers, dest: `relay.warmup${w}.vitals`, name: `bench-warmup${w}`, keys: f.keys, sources: [SOURCE], n: records.length, compression: COMPRESSION });
      log(`warm-up round ${w + 1} done`);
    }
    for (let round = 0; round < ROUNDS; round++) {
      const c = await copy(theatre.brokers, command.brokers, `copy.${round}.vitals`, records.length, COMPRESSION, round);
      copies.push(c.perSecond);
      rows.push({ part: 'throughput', system: 'kafkajs copy', round: round + 1, compression: COMPRESSION, records: records.length, 'records/s': Math.round(c.perSecond), 'cpu µs/record': Number(c.cpuUsPerRecord.toFixed(1)) });
      log(`round ${round + 1}: copy ${Math.round(c.perSecond)} records/s, ${c.cpuUsPerRecord.toFixed(1)} cpu µs/record`);
      const r = await relayOnce({ theatre: theatre.brokers, command: command.brokers, dest: `relay.${round}.vitals`, name: `bench-${round}`, keys: f.keys, sources: [SOURCE], n: records.length, compression: COMPRESSION });
      relays.push(r.perSecond);
      rows.push({ part: 'throughput', system: 'vigil relay', round: round + 1, compression: COMPRESSION, records: records.length, 'records/s': Math.round(r.perSecond), 'cpu µs/record': Number(r.cpuUsPerRecord.toFixed(1)) });
      log(`round ${round + 1}: relay ${Math.round(r.perSecond)} records/s, ${r.cpuUsPerRecord.toFixed(1)} cpu µs/record (${r.relay.stats().reconciliations} read-backs)`);
    }
    const ratio = median(relays) / median(copies);
    extra.throughput = { copyMedian: median(copies), relayMedian: median(relays), ratio, target: 0.7, met: ratio >= 0.7, warmupRounds: WARMUP, compression: COMPRESSION };
    log(`relay / copy (medians): ${(100 * ratio).toFixed(1)}% (target ≥ 70%)`);
    await theatreBus.close();

    // ---- 2. bytes on the wire per record, per derived stream, none and gzip.
    const streams = await derivedRecords(MINUTES);
    const wireRows: Array<Record<string, string | number>> = [];
    const loader = new KafkaBus({ brokers: [theatre.brokers], clientId: 'bench-wire-load', logLevel: 'nothing' });
    const lp = loader.producer();
    for (const [name, s] of streams) {
      if (s.messages.length === 0) continue;
      const msgs = s.messages.slice(0, WIRE_SAMPLE);
      const topic = `derived.${name}`;
      await loader.admin().ensureTopics([{ topic, partitions: PARTITIONS }]);
      // In requests of at most ~512 KB (unit-picture records are several kB each).
      let chunk: typeof msgs = [];
      let bytes = 0;
      for (const m of [...msgs, null]) {
        if (m === null || bytes + (m.value?.length ?? 0) > 512 * 1024) {
          if (chunk.length > 0) await lp.send(topic, chunk.map((x) => ({ key: x.key, value: x.value, headers: x.headers })));
          [chunk, bytes] = [[], 0];
        }
        if (m !== null) [chunk, bytes] = [[...chunk, m], bytes + (m.value?.length ?? 0)];
      }
      log(`${topic}: ${msgs.length} records, largest ${Math.max(...msgs.map((m) => m.value?.length ?? 0))} B`);
      const keys = new Map<string, RelayStreamKeys>([[topic, { source: new StreamKeyring([s.key]), relay: generateStreamKey(`relay.${name}-1`) }]]);
      const row: Record<string, string | number> = { part: 'wire', stream: topic, records: msgs.length };
      for (const tag of ['none', 'gzip', 'lz4'] as const) {
        const before = link.bytes('up');
        const { relay } = await relayOnce({ theatre: theatre.brokers, command: `127.0.0.1:${link.port}`, dest: `wire.${name}.${tag}`, name: `wire-${name}-${tag}`, keys, sources: [topic], n: msgs.length, compression: tag });
        const st = relay.stats();
        row[`record B/rec (${tag})`] = Number((st.bytesAfterCompression / st.relayed).toFixed(1));
        row[`wire B/rec (${tag})`] = Number(((link.bytes('up') - before) / st.relayed).toFixed(1));
      }
      row['wire none/gzip'] = Number(((row['wire B/rec (none)'] as number) / (row['wire B/rec (gzip)'] as number)).toFixed(2));
      row['wire none/lz4'] = Number(((row['wire B/rec (none)'] as number) / (row['wire B/rec (lz4)'] as number)).toFixed(2));
      wireRows.push(row);
      log(`wire ${topic}: ${JSON.stringify(row)}`);
    }
    await lp.close();
    await loader.close();
    rows.push(...wireRows);
    extra.minutes = MINUTES;
  } finally {
    await Promise.all([theatre.stop(), command.stop(), wire.stop()]);
    await link.close();
  }
  writeReport('relay', rows, extra);
  const t = extra.throughput as { copyMedian: number; relayMedian: number; ratio: number };
  console.log(`\nrelay ${Math.round(t.relayMedian)} records/s / kafkajs copy ${Math.round(t.copyMedian)} records/s = ${(100 * t.ratio).toFixed(1)}% (target ≥ 70%)`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
