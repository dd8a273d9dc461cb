/**
 * End to end on this machine, real brokers on loopback: sensors (mqtt.js, QoS 1, several
 * connections, frames sealed before each run) → Mosquitto → gateway (`startGateway` in a
 * child process: pipelined ingest → admission → Kafka → PUBACKs) → Kafka → one pipeline
 * worker (`startWorker`, child process, per-device 1 s tumbling count/mean of
 * telemetry.power) → a consumer of telemetry.power and derived.bench-power (this process).
 *
 * 1. Sustained rate: the offered rate steps up (×2 from 2,000 frames/s, then 4 bisections,
 *    at most 11 runs of 6 s) until a run loses anything or falls behind: a run passes when
 *    the publisher kept its schedule (lag < 500 ms), the consumer was less than 0.5 s of
 *    frames behind when publishing ended, and every frame (unique device+seq) reached
 *    Kafka within 4 s after. Measured the same way for
 * 2. the baseline: a naive bridge (mqtt.js subscriber → kafkajs producer, no crypto, no
 *    validation, acknowledgement before durability) in a child process; gateway/naive ratio.
 *    The search runs without the pipeline worker for both, so only the bridge differs.
 * 3. Latency at 25 %, 50 % (10 s each) and 90 % (60 s, the RSS run) of the gateway's
 *    sustained rate as searched WITHOUT the worker, with the worker running (so 90 % may be
 *    more than the whole chain sustains on 2 cores; the output says so). Every frame's eventTimeMs is its SCHEDULED
 *    publish time (sealed before the run; the publisher publishes on that schedule, and a
 *    late publish still carries the scheduled time, so publisher/broker backpressure counts
 *    against latency). All processes share one clock (same host). Histograms (HDR, ms):
 *    - publish → admitted: record.ingestTimeMs (gateway clock at admission) − eventTimeMs;
 *    - publish → sealed record in Kafka: the consumer's receive time − eventTimeMs (an upper
 *      bound: it includes the consumer's fetch, at most 20 ms wait, and decoding), split into
 *      publish → admitted, admitted → produced (the record's Kafka CreateTime, stamped by
 *      kafkajs as it encodes the produce request: the wait for the lane's previous batch) and
 *      produced → consumer (Kafka's acknowledgement plus the consumer's fetch);
 *    - window end → derived record: receive time of a derived record (revision 0) −
 *      windowEndMs; includes the pipeline's 200 ms out-of-orderness bound.
 *    The first second of each run is warm-up and not recorded. Peak RSS (VmHWM) of the
 *    gateway and worker processes; RSS of the gateway sampled over the 60 s run.
 *
 * Secure variant (issue 12): `VIGIL_BENCH_E2E_SECURE=1 npm run bench e2e` measures instead the
 * gateway's sustained rate twice in one run, on plaintext brokers and then on the deployment's
 * secure ones (Mosquitto TLS with client certificates and an ACL, Kafka SASL_SSL with SCRAM and
 * the StandardAuthorizer, the gateway as Kafka user gw-1 with the gateway role), same search,
 * same machine; prints secure/plaintext (target >= 85 %).
 *
 * Cost variant (issue 16): `VIGIL_BENCH_E2E_COST=1 npm run bench e2e` finds the naive bridge's
 * sustained rate, then at 25 % and 50 % of it (a load both sustain) measures, in the same run,
 * **CPU microseconds per frame** of the naive bridge process and of the gateway process with
 * 1 Kafka lane and with VIGIL_BENCH_LANES (default 4) lanes — user + system time from
 * /proc/<pid>/stat from the end of the warm-up second to the end of the run (drain included),
 * divided by the frames published after warm-up — with each process's event-loop delay p99 (beyond the 10 ms timer of Node's monitor, bench/lib/loop-delay.ts),
 * publish → Kafka latency of each run and its breakdown (above), the gateway's per-frame
 * publish → acknowledged by Kafka (its batch's produce acknowledged: the frame is in Kafka;
 * the consumer's fetch comes after), and the gateway's own
 * per-batch timings: the Kafka write (send → acknowledgement), the replay flush before the
 * PUBACKs, frames per batch (no worker). CPU per frame is stable where throughput on
 * this shared machine is not.
 *
 * Run: `npm run bench e2e`. Env: VIGIL_BENCH_E2E_SECONDS (search run length, default 6),
 * VIGIL_BENCH_RSS_SECONDS (default 60), VIGIL_BENCH_E2E_BISECTIONS (default 4),
 * VIGIL_BENCH_RECEIVE_MAXIMUM (the gateway's gateway.receiveMaximum; Mosquitto keeps 1000), VIGIL_BENCH_VERBOSE=1 (children's stderr),
 * VIGIL_BENCH_E2E_RATES=3000,6000: the cost variant's offered loads, instead of 25 % and 50 % of the naive bridge's rate.
 * VIGIL_BENCH_E2E_LINGER=2,5: the cost variant also runs the gateway (1 lane) with gateway.lingerMs at each value.
 * VIGIL_BENCH_NAIVE_STOCK_KAFKAJS=<dir of a kafkajs package>|npm: the cost variant also runs the naive bridge on that kafkajs
 * (stock, without Vigil's patches; `npm`: the locked version fetched from the registry). VIGIL_BENCH_GATEWAY_BEFORE=<other checkout>/bench/lib/gateway-child.ts: it also runs
 * that gateway (1 lane), for before/after in one run (that checkout built: its gateway child runs its dist/).
 * The gateway runs compiled (dist/, as `bin/vigil.js` ships it; `npm run bench` builds it first).
 * VIGIL_BENCH_E2E_SRC=1: the cost variant also runs the gateway (1 lane) from the sources through tsx.
 * VIGIL_BENCH_E2E_NODE_FLAGS="--single-threaded-gc": the cost variant also runs the gateway (1 lane) under those Node flags.
 * VIGIL_BENCH_E2E_COST_WARMUP_SECONDS (default 20): in the cost and profile variants each process first runs this long at the highest
 * offered load, not measured, so V8 has compiled its hot code (otherwise the first measured run carries seconds of
 * optimising-compiler threads: ~15 µs/frame of the naive bridge's 76 at 3,000/s here).
 * VIGIL_BENCH_E2E_COST_PAIRED=<repeats> (with VIGIL_BENCH_E2E_COST=1): the bridges and the gateway take the same frames at
 * once, each run measuring all of them over one window, <repeats> runs per rate: paired ratios (see mainCostPaired).
 * VIGIL_BENCH_E2E_PROFILE=<dir>: instead, one 8 s gateway run at VIGIL_BENCH_E2E_RATE (default
 * 12,000) frames/s with the gateway under `--cpu-prof` (profile written to <dir>), after the
 * warm-up run below (the profile holds both: its last 8 s are the run); with
 * VIGIL_BENCH_E2E_PROFILE_NAIVE=1 the naive bridge is profiled the same way after it (<dir>/naive).
 */
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Kafka, logLevel, type Consumer, type KafkaConfig } from 'kafkajs';
import { parse, stringify } from 'yaml';
import { startKafka, startMosquitto, type KafkaService, type MosquittoService } from '../scripts/services';
import { FrameOpener, RecordCodec, type DerivedRecord, type TelemetryRecord } from '../src/codec';
import { KafkaBus, roleAcls } from '../src/bus';
import { boxSharedKey } from '../src/crypto';
import { createCa, issueCertificate, type IssuedCertificate } from '../src/pki';
import { BENCH_PIPELINE_OOO_MS, benchPowerPipeline } from './lib/bench-pipeline';
import { BenchChild, contextSwitches, mainThreadCpuSeconds, processCpuSeconds } from './lib/child-process';
import { provisionBench, type BenchProvision } from './lib/provision';
import { writeReport, type BenchRow } from './lib/report';

const SEARCH_MS = Number(process.env.VIGIL_BENCH_E2E_SECONDS ?? 6) * 1000;
const LAT_MS = 10_000;
const RSS_MS = Number(process.env.VIGIL_BENCH_RSS_SECONDS ?? 60) * 1000;
const START_RATE = 2000;
const MAX_RATE = 64_000;
const MAX_DOUBLINGS = 6;
const BISECTIONS = Number(process.env.VIGIL_BENCH_E2E_BISECTIONS ?? 4);
const DRAIN_MS = 4000;
const DEVICES = 100;
const CONNECTIONS = 4;
const PUB_WINDOW = 500;
const WARMUP_MS = 1000;
const NAIVE_TOPIC = 'bench.naive';
const DERIVED_TOPIC = `derived.${benchPowerPipeline.name}`;
const LIB = join(__dirname, 'lib');

type Hist = ReturnType<typeof hdr.build>;
const newHist = (): Hist => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
const rec = (h: Hist, v: number): void => h.recordValue(Math.max(0, Math.round(v)));
const pct = (h: Hist): { p50: number; p99: number; p999: number; max: number; n: number } => ({
  p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9), max: h.maxValue, n: h.totalCount,
});

/** What the consumer tallies for the run in progress. */
interface Tally {
  t0: number;
  endMs: number;
  seen: Set<number>;
  duplicates: number;
  admit: Hist;
  kafka: Hist;
  /** Breakdown: admitted → produce request built (the record's Kafka CreateTime, which kafkajs stamps as it encodes the request). */
  wait: Hist;
  /** Breakdown: produce request built → the consumer has it (Kafka acknowledgement, then the consumer's fetch). */
  ackFetch: Hist;
  derived: Hist;
  derivedRecords: number;
}
let tally: Tally | undefined;
let phase = 'starting';
const mem = { gatewayRss: 0, gatewayHwm: 0, workerHwm: 0 };

function devIndex(id: string): number {
  return Number(id.slice(id.lastIndexOf('-') + 1));
}

function count(deviceId: string, seq: bigint, eventTimeMs: number, ingestTimeMs: number | undefined, producedMs: number, now: number): void {
  const t = tally;
  if (!t || eventTimeMs < t.t0 || eventTimeMs > t.endMs) return;
  const id = devIndex(deviceId) * 2 ** 32 + Number(seq);
  if (t.seen.has(id)) {
    t.duplicates++;
    return;
  }
  t.seen.add(id);
  if (eventTimeMs < t.t0 + WARMUP_MS) return;
  // The naive bridge has no admission time: its "admitted" is the produce request (MQTT delivery plus its batching).
  rec(t.admit, (ingestTimeMs ?? producedMs) - eventTimeMs);
  if (ingestTimeMs !== undefined) rec(t.wait, producedMs - ingestTimeMs);
  rec(t.ackFetch, now - producedMs);
  rec(t.kafka, now - eventTimeMs);
}

/** How this process reaches Kafka: plaintext, or the secure variant's TLS and SCRAM credentials. */
type KafkaAccess = Pick<KafkaConfig, 'ssl' | 'sasl'>;

async function startConsumer(brokers: string, prov: BenchProvision, access: KafkaAccess = {}, topics: readonly string[] = ['telemetry.power', NAIVE_TOPIC, DERIVED_TOPIC]): Promise<Consumer> {
  const kafka = new Kafka({ clientId: 'bench-e2e-consumer', brokers: [brokers], logLevel: logLevel.NOTHING, ...access });
  const consumer = kafka.consumer({ groupId: `bench-e2e-${prov.theatre}`, maxWaitTimeInMs: 20, minBytes: 1, maxBytesPerPartition: 4 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topics: [...topics], fromBeginning: true });
  const codec = new RecordCodec();
  const opener = new FrameOpener();
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        if (!m.value) continue;
        if (batch.topic === 'telemetry.power') {
          const r = codec.open(m.value, prov.streamKey) as TelemetryRecord;
          count(r.deviceId, r.seq, r.eventTimeMs, r.ingestTimeMs, Number(m.timestamp), now);
        } else if (batch.topic === NAIVE_TOPIC) {
          const f = opener.decode(m.value);
          count(f.deviceId, f.seq, f.eventTimeMs, undefined, Number(m.timestamp), now);
        } else {
          const d = codec.open(m.value, prov.derivedKey) as DerivedRecord;
          const t = tally;
          if (t && d.revision === 0 && d.windowStartMs >= t.t0 + WARMUP_MS && d.windowEndMs <= t.endMs) {
            t.derivedRecords++;
            rec(t.derived, now - d.windowEndMs);
          }
        }
      }
    },
  });
  return consumer;
}

interface RunResult {
  rate: number;
  frames: number;
  published: number;
  consumed: number;
  duplicates: number;
  maxLagMs: number;
  backlogAtEnd: number;
  drainMs: number;
  pass: boolean;
  why: string;
  admit: ReturnType<typeof pct>;
  kafka: ReturnType<typeof pct>;
  wait: ReturnType<typeof pct>;
  ackFetch: ReturnType<typeof pct>;
  derived: ReturnType<typeof pct>;
  derivedRecords: number;
}

async function runAt(pub: BenchChild, rate: number, durationMs: number, onTick?: () => void, onStart?: (t0: number) => void): Promise<RunResult> {
  const done = pub.request('run', { rate, durationMs });
  const started = await pub.next('started');
  const t0 = started.t0 as number;
  onStart?.(t0);
  const frames = started.frames as number;
  const t: Tally = { t0, endMs: t0 + durationMs + 1000, seen: new Set(), duplicates: 0, admit: newHist(), kafka: newHist(), wait: newHist(), ackFetch: newHist(), derived: newHist(), derivedRecords: 0 };
  tally = t;
  const ticker = setInterval(() => {
    onTick?.();
    const left = Math.max(0, (t0 + durationMs - Date.now()) / 1000);
    process.stderr.write(`\re2e ${phase}: ${rate} frames/s offered, ${t.seen.size}/${frames} in Kafka, ${left.toFixed(0)} s left, gateway RSS ${(mem.gatewayRss / 1048576).toFixed(0)} MB`.padEnd(110));
  }, 500);
  try {
    const r = await done;
    const backlogAtEnd = frames - t.seen.size;
    const tEnd = Date.now();
    while (t.seen.size < frames && Date.now() - tEnd < DRAIN_MS) await new Promise((res) => setTimeout(res, 50));
    const drainMs = Date.now() - tEnd;
    // Let the derived windows of the run's last seconds arrive (watermark + one more window).
    await new Promise((res) => setTimeout(res, 1500));
    const maxLagMs = r.maxLagMs as number;
    const why = [
      maxLagMs >= 500 ? `publisher fell ${maxLagMs} ms behind schedule` : '',
      backlogAtEnd > rate * 0.5 ? `${backlogAtEnd} frames not yet in Kafka when publishing ended` : '',
      t.seen.size < frames ? `${frames - t.seen.size} frames missing ${DRAIN_MS} ms after` : '',
    ].filter(Boolean).join('; ');
    return {
      rate, frames, published: r.published as number, consumed: t.seen.size, duplicates: t.duplicates, maxLagMs, backlogAtEnd, drainMs, pass: why === '', why,
      admit: pct(t.admit), kafka: pct(t.kafka), wait: pct(t.wait), ackFetch: pct(t.ackFetch), derived: pct(t.derived), derivedRecords: t.derivedRecords,
    };
  } finally {
    clearInterval(ticker);
    tally = undefined;
    process.stderr.write('\r'.padEnd(111) + '\r');
  }
}

/** Steps the offered rate up until a run fails, then bisects: bounded to MAX_DOUBLINGS + BISECTIONS (+2 downward) runs. */
async function searchSustained(pub: BenchChild, label: string, runs: RunResult[]): Promise<number> {
  let lo = 0;
  let hi = 0;
  let rate = START_RATE;
  for (let i = 0; i <= MAX_DOUBLINGS && rate <= MAX_RATE; i++) {
    phase = `${label} search`;
    const r = await runAt(pub, rate, SEARCH_MS);
    runs.push(r);
    process.stderr.write(`${label} @ ${rate}/s: ${r.pass ? 'pass' : `FAIL (${r.why})`}\n`);
    if (r.pass) {
      lo = rate;
      if (hi) break;
      rate *= 2;
    } else {
      hi = rate;
      if (lo) break;
      if (rate <= START_RATE / 4) break;
      rate = Math.round(rate / 2);
    }
  }
  if (lo && hi) {
    for (let b = 0; b < BISECTIONS; b++) {
      rate = Math.round((lo + hi) / 2 / 100) * 100;
      if (rate <= lo || rate >= hi) break;
      const r = await runAt(pub, rate, SEARCH_MS);
      runs.push(r);
      process.stderr.write(`${label} @ ${rate}/s: ${r.pass ? 'pass' : `FAIL (${r.why})`}\n`);
      if (r.pass) lo = rate;
      else hi = rate;
    }
  }
  return lo;
}

async function waitTopics(brokers: string, topics: readonly string[], timeoutMs = 60_000, access: KafkaAccess = {}): Promise<void> {
  const admin = new Kafka({ clientId: 'bench-e2e-admin', brokers: [brokers], logLevel: logLevel.NOTHING, ...access }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const have = new Set(await admin.listTopics());
      if (topics.every((t) => have.has(t))) return;
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} not there within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}

async function createTopics(brokers: string, topics: readonly string[], access: KafkaAccess = {}): Promise<void> {
  const admin = new Kafka({ clientId: 'bench-e2e-admin', brokers: [brokers], logLevel: logLevel.NOTHING, ...access }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 1 })) });
  } finally {
    await admin.disconnect();
  }
}

const row = (system: string, what: string, r: RunResult, extra: Record<string, string | number> = {}): BenchRow => ({
  system, run: what, 'offered/s': r.rate, frames: r.frames, inKafka: r.consumed, result: r.pass ? 'pass' : 'FAIL',
  'kafka p50 ms': r.kafka.p50, 'kafka p99 ms': r.kafka.p99, 'kafka p99.9 ms': r.kafka.p999, ...extra,
});

/** What the plaintext runs stand on; filled in as it starts, so `stopRig` also undoes a half-started one. */
interface Rig {
  readonly started: BenchChild[];
  kafka?: KafkaService;
  mosq?: MosquittoService;
  prov?: BenchProvision;
  consumer?: Consumer;
}

/** Kafka and Mosquitto on loopback, the bench fleet provisioned, its topics, the consumer, and the publisher child initialised. */
async function startRig(rig: Rig, label: string): Promise<{ kafka: KafkaService; mosq: MosquittoService; prov: BenchProvision; pub: BenchChild }> {
  process.stderr.write(`${label}: starting Kafka and Mosquitto on 127.0.0.1…\n`);
  const [kafka, mosq] = await Promise.all([startKafka(), startMosquitto()]);
  Object.assign(rig, { kafka, mosq });
  const prov = await provisionBench({ kafkaBrokers: kafka.brokers, mqttUrl: mosq.url, devices: DEVICES, pipeline: benchPowerPipeline.name });
  rig.prov = prov;
  await createTopics(kafka.brokers, ['telemetry.power', NAIVE_TOPIC, DERIVED_TOPIC]);
  rig.consumer = await startConsumer(kafka.brokers, prov);
  const pub = await BenchChild.start('publisher', join(LIB, 'publisher-child.ts'), []);
  rig.started.push(pub);
  const init = await pub.request('init', {
    url: mosq.url, connections: CONNECTIONS, window: PUB_WINDOW,
    devices: prov.devices.map((d) => ({ deviceId: d.deviceId, topic: prov.topicOf(d.deviceId), sharedKey: Buffer.from(boxSharedKey(prov.ingest.box.publicKey, d.box.secretKey)).toString('base64') })),
  });
  if (init.error) throw new Error(`publisher init: ${String(init.error)}`);
  return { kafka, mosq, prov, pub };
}

async function stopRig(rig: Rig, label: string): Promise<void> {
  process.stderr.write(`\n${label}: stopping processes…\n`);
  for (const c of rig.started.reverse()) await c.stop(10_000).catch(() => undefined);
  await rig.consumer?.disconnect().catch(() => undefined);
  await rig.mosq?.stop().catch(() => undefined);
  await rig.kafka?.stop().catch(() => undefined);
  rig.prov?.cleanup();
}

async function main(): Promise<void> {
  const rig: Rig = { started: [] };
  const started = rig.started;
  const rows: BenchRow[] = [];
  try {
    const { kafka, mosq, prov: p, pub } = await startRig(rig, 'e2e');

    const profileDir = process.env.VIGIL_BENCH_E2E_PROFILE;
    if (profileDir) {
      const gw = await BenchChild.start('gateway', join(LIB, 'gateway-child.ts'), [p.configFile], 60_000, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
      started.push(gw);
      await waitTopics(kafka.brokers, ['telemetry.power']);
      const rate = Number(process.env.VIGIL_BENCH_E2E_RATE ?? 12_000);
      await warmUp(pub, [rate], 'profile');
      phase = 'profile';
      const r = await runAt(pub, rate, 8000);
      process.stdout.write(`profile run: ${JSON.stringify({ ...r, admit: r.admit, kafka: r.kafka })}\n`);
      await gw.stop();
      if (process.env.VIGIL_BENCH_E2E_PROFILE_NAIVE) {
        // The baseline under the same profiler at the same rate, for per-frame comparisons.
        const naiveDir = join(profileDir, 'naive');
        const naive = await BenchChild.start('naive-bridge', join(LIB, 'naive-bridge-child.ts'), [mosq.url, kafka.brokers, `vigil/v1/${p.theatre}/+/+/telemetry`, NAIVE_TOPIC], 60_000, ['--cpu-prof', `--cpu-prof-dir=${naiveDir}`]);
        started.push(naive);
        await warmUp(pub, [rate], 'profile (naive bridge)');
        phase = 'profile (naive bridge)';
        const n = await runAt(pub, rate, 8000);
        process.stdout.write(`profile run (naive bridge, ${naiveDir}): ${JSON.stringify({ ...n, admit: undefined })}\n`);
        await naive.stop();
      }
      return;
    }

    // Baseline first: its subscriber has a clean session, so nothing is queued for it afterwards.
    const naiveRuns: RunResult[] = [];
    const filter = `vigil/v1/${p.theatre}/+/+/telemetry`;
    const naive = await BenchChild.start('naive-bridge', join(LIB, 'naive-bridge-child.ts'), [mosq.url, kafka.brokers, filter, NAIVE_TOPIC]);
    started.push(naive);
    const naiveSustained = await searchSustained(pub, 'naive', naiveRuns);
    const naiveHwm = naive.memory().hwmBytes;
    await naive.stop();
    for (const r of naiveRuns) rows.push(row('naive bridge', 'search', r));

    const gateway = await BenchChild.start('gateway', join(LIB, 'gateway-child.ts'), [p.configFile]);
    started.push(gateway);
    await waitTopics(kafka.brokers, ['telemetry.power']);
    const sample = (): void => {
      const m = gateway.memory();
      mem.gatewayRss = m.rssBytes;
      mem.gatewayHwm = Math.max(mem.gatewayHwm, m.hwmBytes);
    };
    const gwRuns: RunResult[] = [];
    const sustained = await searchSustained(pub, 'gateway', gwRuns);
    for (const r of gwRuns) rows.push(row('gateway', 'search', r, { 'admit p50 ms': r.admit.p50, 'admit p99 ms': r.admit.p99 }));
    sample();
    const gatewayHwmAfterSearch = mem.gatewayHwm;

    // Latency with the whole chain, worker included.
    const worker = await BenchChild.start('worker', join(LIB, 'worker-child.ts'), [p.configFile]);
    started.push(worker);
    // The worker reads telemetry.power from the beginning, which holds every frame of the
    // search runs: let it catch up first, or the first latency run measures that backlog
    // (window end → derived in seconds at 25%, as two runs did before this wait).
    phase = 'worker catching up';
    const readByWorker = async (): Promise<number> => {
      const s = (await worker.request('stats')) as unknown as { workers: Record<string, { records: number }> };
      return Object.values(s.workers).reduce((n, w) => n + w.records, 0);
    };
    for (let last = -1, steady = 0, deadline = Date.now() + 180_000; steady < 4 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      const n = await readByWorker();
      steady = n === last ? steady + 1 : 0;
      last = n;
    }
    const latency: Record<string, unknown> = {};
    const rssSamples: number[] = [];
    if (sustained > 0) {
      for (const [share, ms] of [[0.25, LAT_MS], [0.5, LAT_MS], [0.9, RSS_MS]] as const) {
        phase = `latency @ ${share * 100}%${ms === RSS_MS ? ` (${RSS_MS / 1000} s RSS run)` : ''}`;
        const rate = Math.max(100, Math.round((sustained * share) / 100) * 100);
        const r = await runAt(pub, rate, ms, () => {
          sample();
          if (ms === RSS_MS) rssSamples.push(mem.gatewayRss);
        });
        sample();
        mem.workerHwm = Math.max(mem.workerHwm, worker.memory().hwmBytes);
        latency[`${share * 100}%`] = { rate, share, of: 'the gateway-only sustained rate (searched without the worker)', pass: r.pass, why: r.why, publishToAdmitted: r.admit, publishToKafka: r.kafka, breakdown: breakdown(r), windowEndToDerived: r.derived, derivedRecords: r.derivedRecords, durationMs: ms };
        rows.push(row('gateway+worker', `latency @ ${share * 100}% of gateway-only`, r, {
          'admit p50 ms': r.admit.p50, 'admit p99 ms': r.admit.p99, 'admit→produce p99': r.wait.p99, 'produce→consumer p99': r.ackFetch.p99,
          'derived p50 ms': r.derived.p50, 'derived p99 ms': r.derived.p99, 'derived p99.9 ms': r.derived.p999,
        }));
      }
    }
    const gwStats = await gateway.request('stats');
    const workerStats = await worker.request('stats');
    sample();
    mem.workerHwm = Math.max(mem.workerHwm, worker.memory().hwmBytes);
    await worker.stop();
    await gateway.stop();

    const ratio = naiveSustained > 0 ? sustained / naiveSustained : 0;
    const rssMax = rssSamples.length ? Math.max(...rssSamples) : 0;
    writeReport('e2e', rows, {
      headline: {
        gatewaySustainedFramesPerSec: sustained,
        naiveSustainedFramesPerSec: naiveSustained,
        gatewayToNaive: Number(ratio.toFixed(3)),
        gatewayToNaiveTarget: 0.7,
        gatewayPeakRssBytes: mem.gatewayHwm,
        gatewayPeakRssAfterSearchBytes: gatewayHwmAfterSearch,
        gatewayRssDuring90pctRun: { maxBytes: rssMax, lastBytes: rssSamples.at(-1) ?? 0, samples: rssSamples.length, seconds: RSS_MS / 1000 },
        gatewayRssTargetBytes: 300 * 1048576,
        workerPeakRssBytes: mem.workerHwm,
        naivePeakRssBytes: naiveHwm,
      },
      latency,
      gatewayStats: gwStats,
      workerStats,
      settings: {
        searchRunMs: SEARCH_MS, latencyRunMs: LAT_MS, rssRunMs: RSS_MS, startRate: START_RATE, bisections: BISECTIONS, drainMs: DRAIN_MS, devices: DEVICES, publisherConnections: CONNECTIONS,
        publisherWindow: PUB_WINDOW, readingsPerFrame: 1, kafkaPartitions: 3, pipelineOutOfOrdernessMs: BENCH_PIPELINE_OOO_MS, warmupMs: WARMUP_MS,
        passRule: 'publisher lag < 500 ms, < 0.5 s of frames not yet in Kafka when publishing ended, every frame in Kafka within 4 s',
        latency: 'eventTimeMs = scheduled publish time; admitted = record.ingestTimeMs - eventTimeMs; produced = the record\'s Kafka CreateTime (kafkajs stamps it as it encodes the produce request); kafka = consumer receive time - eventTimeMs; derived = receive time - windowEndMs (revision 0)',
        latencyRates: 'the 25/50/90% runs are shares of the gateway-only sustained rate: the search runs without the worker, the latency runs with it (the deployed shape), so 90% may be more than the whole chain sustains on these 2 cores',
        children: 'node --import tsx (TypeScript compiled on load; RSS includes the loader)',
      },
    });
    process.stdout.write(`gateway sustained ${sustained} frames/s, naive ${naiveSustained} frames/s, ratio ${(100 * ratio).toFixed(1)}% (target >= 70%); both searched without the worker\n`);
    process.stdout.write(`latency runs at 25/50/90% of the gateway-only rate with the worker running (the deployed shape):\n`);
    for (const [k, v] of Object.entries(latency) as Array<[string, { rate: number; publishToKafka: ReturnType<typeof pct>; breakdown: ReturnType<typeof breakdown>; pass: boolean }]>) {
      const b = v.breakdown;
      process.stdout.write(`  ${k.padEnd(4)} ${String(v.rate).padStart(6)}/s  publish→Kafka p50 ${v.publishToKafka.p50} p99 ${v.publishToKafka.p99} p99.9 ${v.publishToKafka.p999} ms; p99 of publish→admit ${b.publishToAdmitted.p99}, admit→produce ${b.admittedToProduced.p99}, produce→consumer ${b.producedToConsumer.p99} ms${v.pass ? '' : ' (did not pass)'}\n`);
    }
    process.stdout.write(`gateway peak RSS ${(mem.gatewayHwm / 1048576).toFixed(0)} MB, during the ${RSS_MS / 1000} s run at 90%: max ${(rssMax / 1048576).toFixed(0)} MB (target < 300 MB); worker peak ${(mem.workerHwm / 1048576).toFixed(0)} MB\n`);
  } finally {
    await stopRig(rig, 'e2e');
  }
}

/** One sustained-rate search of the gateway on the given brokers (plaintext, or secure with `secure` set). */
async function gatewaySustained(label: string, secure: boolean, rows: BenchRow[]): Promise<number> {
  const started: BenchChild[] = [];
  let kafka: KafkaService | undefined;
  let mosq: MosquittoService | undefined;
  let prov: BenchProvision | undefined;
  let consumer: Consumer | undefined;
  try {
    let ca: IssuedCertificate | undefined;
    let access: KafkaAccess = {};
    let publisherTls: { ca: string; cert: string; key: string } | undefined;
    const gwPassword = `gw-${Math.random().toString(36).slice(2)}`;
    if (secure) {
      ca = await createCa({ name: 'bench-e2e-ca', days: 1 });
      kafka = await startKafka({ secure: { users: { 'gw-1': gwPassword } } });
    } else {
      kafka = await startKafka();
    }
    const security = kafka.security;
    if (security !== undefined) access = { ssl: { ca: [readFileSync(security.caFile, 'utf8')] }, sasl: { mechanism: 'scram-sha-512', username: security.admin.username, password: security.admin.password } };
    // Provisioned first: the gateway's id (its certificate's CN) is known only then.
    prov = await provisionBench({ kafkaBrokers: kafka.brokers, mqttUrl: 'mqtt://127.0.0.1:1', devices: DEVICES, pipeline: benchPowerPipeline.name });
    const p = prov;
    const cfg = parse(readFileSync(p.configFile, 'utf8')) as { mqtt: Record<string, unknown>; kafka: Record<string, unknown>; gateway: { id: string; group: string } };
    if (secure && ca !== undefined && security !== undefined) {
      const file = (name: string, text: string, mode = 0o644): string => {
        writeFileSync(join(p.dir, name), text, { mode });
        return join(p.dir, name);
      };
      const server = await issueCertificate(ca, { role: 'broker', name: 'localhost', days: 1 });
      const gatewayCert = await issueCertificate(ca, { role: 'gateway', name: cfg.gateway.id, days: 1 });
      const pubCert = await issueCertificate(ca, { role: 'device', name: 'bench-publisher', days: 1 });
      // The deployment's ACL shape: the publisher (standing in for 100 devices on 4 connections) writes telemetry, the gateway takes it.
      const acl = file('acl', [`user bench-publisher`, `topic write vigil/v1/+/+/+/telemetry`, `user gateway-${cfg.gateway.id}`, `topic read vigil/v1/+/+/+/telemetry`, `topic read $share/${cfg.gateway.group}/vigil/v1/+/+/+/telemetry`, `topic write vigil/v1/+/+/+/receipt`, ''].join('\n'));
      mosq = await startMosquitto({ tls: { caFile: file('ca.crt', ca.certPem), certFile: file('server.crt', server.certPem), keyFile: file('server.key', server.keyPem, 0o600), aclFile: acl } });
      cfg.mqtt = { ...cfg.mqtt, url: `mqtts://127.0.0.1:${mosq.port}`, tls: { caFile: join(p.dir, 'ca.crt'), certFile: file('gateway.crt', gatewayCert.certPem), keyFile: file('gateway.key', gatewayCert.keyPem, 0o600) } };
      cfg.kafka = { ...cfg.kafka, ssl: { caFile: security.caFile }, sasl: { username: 'gw-1', passwordFile: file('gw-1.pass', `${gwPassword}\n`, 0o600) } };
      publisherTls = { ca: ca.certPem, cert: pubCert.certPem, key: pubCert.keyPem };
      // The admin makes the topics and the gateway role's ACLs; the gateway may create none.
      const admin = new KafkaBus({ brokers: [kafka.brokers], ssl: { ca: readFileSync(security.caFile) }, sasl: { mechanism: 'scram-sha-512', ...security.admin }, logLevel: 'nothing' });
      try {
        await admin.admin().ensureTopics([...['position', 'vitals', 'vehicle', 'ugs', 'power', 'metric', 'rejected'].map((k) => ({ topic: `telemetry.${k}`, partitions: 3 }))]);
        await admin.createAcls(roleAcls('gateway', 'gw-1'));
      } finally {
        await admin.close();
      }
    } else {
      mosq = await startMosquitto();
      cfg.mqtt = { ...cfg.mqtt, url: mosq.url };
      // The bus's ensureTopics waits until every partition is served (kafkajs's waitForLeaders does not).
      const admin = new KafkaBus({ brokers: [kafka.brokers], logLevel: 'nothing' });
      try {
        await admin.admin().ensureTopics([{ topic: 'telemetry.power', partitions: 3 }]);
      } finally {
        await admin.close();
      }
    }
    writeFileSync(p.configFile, stringify(cfg));
    consumer = await startConsumer(kafka.brokers, p, access, ['telemetry.power']);
    const pub = await BenchChild.start('publisher', join(LIB, 'publisher-child.ts'), []);
    started.push(pub);
    const init = await pub.request('init', {
      url: cfg.mqtt.url, connections: CONNECTIONS, window: PUB_WINDOW, ...(publisherTls === undefined ? {} : { tls: publisherTls }),
      devices: p.devices.map((d) => ({ deviceId: d.deviceId, topic: p.topicOf(d.deviceId), sharedKey: Buffer.from(boxSharedKey(p.ingest.box.publicKey, d.box.secretKey)).toString('base64') })),
    });
    if (init.error) throw new Error(`publisher init: ${String(init.error)}`);
    const gateway = await BenchChild.start('gateway', join(LIB, 'gateway-child.ts'), [p.configFile]);
    started.push(gateway);
    await waitTopics(kafka.brokers, ['telemetry.power'], 60_000, access);
    const runs: RunResult[] = [];
    const sustained = await searchSustained(pub, label, runs);
    for (const r of runs) rows.push(row(label, 'search', r, { 'admit p50 ms': r.admit.p50, 'admit p99 ms': r.admit.p99 }));
    return sustained;
  } finally {
    for (const c of started.reverse()) await c.stop(10_000).catch(() => undefined);
    await consumer?.disconnect().catch(() => undefined);
    await mosq?.stop().catch(() => undefined);
    await kafka?.stop().catch(() => undefined);
    prov?.cleanup();
  }
}

async function mainSecure(): Promise<void> {
  const rows: BenchRow[] = [];
  process.stderr.write('e2e --secure: the gateway on plaintext brokers, then on TLS Mosquitto + SASL_SSL Kafka with ACLs…\n');
  const plain = await gatewaySustained('gateway, plaintext', false, rows);
  const secure = await gatewaySustained('gateway, TLS + SASL_SSL', true, rows);
  const ratio = plain > 0 ? secure / plain : 0;
  writeReport('e2e-secure', rows, {
    headline: { plaintextSustainedFramesPerSec: plain, secureSustainedFramesPerSec: secure, secureToPlaintext: Number(ratio.toFixed(3)), secureToPlaintextTarget: 0.85 },
    settings: {
      searchRunMs: SEARCH_MS, startRate: START_RATE, bisections: BISECTIONS, devices: DEVICES, publisherConnections: CONNECTIONS, publisherWindow: PUB_WINDOW,
      secure: 'Mosquitto TLS only, client certificates required, ACL file; Kafka SASL_SSL (SCRAM-SHA-512, TLS 1.3, ECDSA P-256 certificates), StandardAuthorizer, the gateway as user gw-1 with the gateway role',
      passRule: 'publisher lag < 500 ms, < 0.5 s of frames not yet in Kafka when publishing ended, every frame in Kafka within 4 s',
    },
  });
  process.stdout.write(`gateway sustained: plaintext ${plain} frames/s, TLS + SASL_SSL ${secure} frames/s, ratio ${(100 * ratio).toFixed(1)}% (target >= 85%)\n`);
}

/**
 * VIGIL_BENCH_NAIVE_STOCK_KAFKAJS: a directory holding a kafkajs package, or `npm`: the kafkajs
 * version in package-lock.json as published on npm (without Vigil's patches/), unpacked once
 * into node_modules/.cache/vigil-bench/.
 */
function stockKafkajsDir(v: string | undefined): string | undefined {
  if (v !== 'npm') return v || undefined;
  const lock = JSON.parse(readFileSync(join(__dirname, '../package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages['node_modules/kafkajs']?.version;
  if (!version) throw new Error('VIGIL_BENCH_NAIVE_STOCK_KAFKAJS=npm: kafkajs is not in package-lock.json');
  const dir = join(__dirname, '../node_modules/.cache/vigil-bench', `kafkajs-${version}`);
  if (!existsSync(join(dir, 'package/package.json'))) {
    mkdirSync(dir, { recursive: true });
    const tgz = execFileSync('npm', ['pack', `kafkajs@${version}`, '--silent', '--pack-destination', dir], { encoding: 'utf8' }).trim().split('\n').pop() as string;
    execFileSync('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  }
  return join(dir, 'package');
}

/** VIGIL_BENCH_E2E_RATES as offered loads (frames/s); [] when unset. */
function fixedRates(): number[] {
  const rates = (process.env.VIGIL_BENCH_E2E_RATES ?? '').split(',').filter(Boolean).map(Number);
  if (rates.some((r) => !Number.isInteger(r) || r <= 0)) throw new Error(`VIGIL_BENCH_E2E_RATES must be positive integers (frames/s), comma separated; got ${process.env.VIGIL_BENCH_E2E_RATES}`);
  return rates;
}

/** The bench's gateway config with `kafkaLanes` (and `lingerMs`) set, written beside it; its path. */
function gatewayConfigFile(configFile: string, lanes: number, lingerMs?: number): string {
  const file = `${configFile}.lanes-${lanes}${lingerMs === undefined ? '' : `-linger-${lingerMs}`}.yaml`;
  const doc = parse(readFileSync(configFile, 'utf8')) as { gateway: Record<string, unknown> };
  writeFileSync(file, stringify({ ...doc, gateway: { ...doc.gateway, kafkaLanes: lanes, ...(lingerMs === undefined ? {} : { lingerMs }) } }));
  return file;
}

const COST_WARMUP_MS = 1000 * Number(process.env.VIGIL_BENCH_E2E_COST_WARMUP_SECONDS ?? 20);

/** A run that is not measured: JIT warm-up of a freshly started process at the highest offered load. */
async function warmUp(pub: BenchChild, rates: readonly number[], what: string): Promise<void> {
  if (!(COST_WARMUP_MS > 0)) return;
  phase = `${what} warm-up`;
  const r = await runAt(pub, Math.max(...rates), COST_WARMUP_MS);
  if (!r.pass) process.stderr.write(`\n${what}: warm-up run did not pass (${r.why}); measuring anyway\n`);
}

type Cost = { run: RunResult; cpuUsPerFrame: number; mainThreadUsPerFrame: number; switchesPerFrame: { main: number; other: number }; loop: Record<string, unknown> };

/** One measured run at `rate`: CPU µs per frame of `child` from the end of warm-up to the end of the run. */
async function costRun(pub: BenchChild, child: BenchChild, rate: number): Promise<Cost> {
  return (await costRunMany(pub, [child], rate))[0] as Cost;
}

/** One run at `rate`; the CPU of each child over the same measured window (they may all be taking the frames at once). */
async function costRunMany(pub: BenchChild, children: readonly BenchChild[], rate: number): Promise<Cost[]> {
  let at0 = children.map(() => ({ cpu: 0, main: 0, cs: { main: 0, all: 0 } }));
  let warm: NodeJS.Timeout | undefined;
  // The measured part starts when the warm-up second of the publisher's schedule ends: the
  // frames counted below, and those the consumer (and the gateway's ack tally) count.
  const run = await runAt(pub, rate, LAT_MS, undefined, (t0) => {
    warm = setTimeout(() => {
      at0 = children.map((c) => ({ cpu: processCpuSeconds(c.pid), main: mainThreadCpuSeconds(c.pid), cs: contextSwitches(c.pid) }));
      for (const c of children) void c.request('loopReset', { since: t0 + WARMUP_MS }).catch(() => undefined);
    }, Math.max(0, t0 + WARMUP_MS - Date.now()));
  });
  clearTimeout(warm);
  const at1 = children.map((c) => ({ cpu: processCpuSeconds(c.pid), main: mainThreadCpuSeconds(c.pid), cs: contextSwitches(c.pid) }));
  const frames = Math.max(1, Math.round((rate * (LAT_MS - WARMUP_MS)) / 1000));
  const perFrame = (n: number): number => Number((n / frames).toFixed(3));
  const out: Cost[] = [];
  for (let k = 0; k < children.length; k++) {
    const a = at0[k] as (typeof at0)[number];
    const b = at1[k] as (typeof at0)[number];
    const loop = await (children[k] as BenchChild).request('loop');
    out.push({
      run,
      cpuUsPerFrame: Number((((b.cpu - a.cpu) * 1e6) / frames).toFixed(1)),
      mainThreadUsPerFrame: Number((((b.main - a.main) * 1e6) / frames).toFixed(1)),
      switchesPerFrame: { main: perFrame(b.cs.main - a.cs.main), other: perFrame(b.cs.all - a.cs.all - (b.cs.main - a.cs.main)) },
      loop,
    });
  }
  return out;
}

/** Where publish → Kafka went, per frame, p50/p99 (ms): see Tally. */
function breakdown(r: RunResult): Record<string, ReturnType<typeof pct>> {
  return { publishToAdmitted: r.admit, admittedToProduced: r.wait, producedToConsumer: r.ackFetch };
}

/** GC pause time over a run, ms, as `minor / major`. */
function gcMs(gc: unknown): string {
  const g = gc as { minor?: { ms: number }; major?: { ms: number } } | undefined;
  return g?.minor && g.major ? `${Math.round(g.minor.ms)} / ${Math.round(g.major.ms)}` : '-';
}

/** The cost rows' columns: CPU per frame, event-loop delay, the latency breakdown at p99 and the gateway's per-batch timings. */
function costColumns(c: Cost): Record<string, string | number> {
  const fix = (v: unknown): number => Number(Number(v ?? 0).toFixed(1));
  const write = c.loop.writeMs as { p99: number } | undefined;
  const flush = c.loop.replayFlushMs as { p99: number } | undefined;
  const frames = c.loop.batchFrames as { p50: number } | undefined;
  const ack = c.loop.publishToKafkaAckMs as { p50: number; p99: number; p999: number; n: number } | undefined;
  return {
    'publish→Kafka ack p50/p99/p99.9 ms': ack && ack.n > 0 ? `${ack.p50} / ${ack.p99} / ${ack.p999}` : '-',
    'cpu µs/frame': c.cpuUsPerFrame,
    'main thread µs/frame': c.mainThreadUsPerFrame,
    'context switches/frame main / other threads': `${c.switchesPerFrame.main} / ${c.switchesPerFrame.other}`,
    'gc ms (minor/major)': gcMs(c.loop.gc),
    'loop delay p99 ms': fix(c.loop.p99Ms),
    'publish→admit p99': c.run.admit.p99,
    'admit→produce p99': c.run.wait.n > 0 ? c.run.wait.p99 : '-',
    'produce→consumer p99': c.run.ackFetch.p99,
    'kafka write p99': write ? fix(write.p99) : '-',
    'replay flush p99': flush ? fix(flush.p99) : '-',
    'batch p50': frames ? frames.p50 : '-',
  };
}

async function mainCost(): Promise<void> {
  const rig: Rig = { started: [] };
  const started = rig.started;
  const rows: BenchRow[] = [];
  const lanes = Number(process.env.VIGIL_BENCH_LANES ?? 4);
  try {
    const { kafka, mosq, prov: p, pub } = await startRig(rig, 'e2e cost');

    const naive = await BenchChild.start('naive-bridge', join(LIB, 'naive-bridge-child.ts'), [mosq.url, kafka.brokers, `vigil/v1/${p.theatre}/+/+/telemetry`, NAIVE_TOPIC]);
    started.push(naive);
    const naiveRuns: RunResult[] = [];
    // VIGIL_BENCH_E2E_RATES=3000,6000 fixes the offered loads (comparable across runs on a machine whose load varies); default 25% and 50% of the naive bridge's sustained rate.
    const fixed = fixedRates();
    const naiveSustained = fixed.length > 0 ? 0 : await searchSustained(pub, 'naive', naiveRuns);
    if (fixed.length === 0 && naiveSustained === 0) throw new Error('the naive bridge sustained no rate');
    const rates = fixed.length > 0 ? fixed : [0.25, 0.5].map((share) => Math.max(100, Math.round((naiveSustained * share) / 100) * 100));
    const cost: Record<string, Record<string, unknown>> = {};
    await warmUp(pub, rates, 'naive');
    for (const rate of rates) {
      phase = `naive cost @ ${rate}/s`;
      const c = await costRun(pub, naive, rate);
      cost[`naive @ ${rate}`] = { rate, cpuUsPerFrame: c.cpuUsPerFrame, mainThreadUsPerFrame: c.mainThreadUsPerFrame, eventLoop: c.loop, publishToKafka: c.run.kafka, breakdown: breakdown(c.run), pass: c.run.pass };
      rows.push(row('naive bridge', `cost @ ${rate}/s`, c.run, costColumns(c)));
    }
    await naive.stop();
    // Optional, same run: the naive bridge on another kafkajs installation (stock kafkajs, without
    // the patches Vigil's own kafkajs carries), as a bridge written without Vigil would run.
    const stockKafkajs = stockKafkajsDir(process.env.VIGIL_BENCH_NAIVE_STOCK_KAFKAJS);
    if (stockKafkajs) {
      const stock = await BenchChild.start('naive-bridge-stock', join(LIB, 'naive-bridge-child.ts'), [mosq.url, kafka.brokers, `vigil/v1/${p.theatre}/+/+/telemetry`, NAIVE_TOPIC, stockKafkajs]);
      started.push(stock);
      await warmUp(pub, rates, 'naive (stock kafkajs)');
      for (const rate of rates) {
        phase = `naive (stock kafkajs) cost @ ${rate}/s`;
        const c = await costRun(pub, stock, rate);
        cost[`naive stock kafkajs @ ${rate}`] = { rate, cpuUsPerFrame: c.cpuUsPerFrame, mainThreadUsPerFrame: c.mainThreadUsPerFrame, eventLoop: c.loop, publishToKafka: c.run.kafka, breakdown: breakdown(c.run), pass: c.run.pass };
        rows.push(row('naive, stock kafkajs', `cost @ ${rate}/s`, c.run, costColumns(c)));
      }
      await stock.stop();
    }

    // Optional, same run: an earlier gateway (its checkout's bench/lib/gateway-child.ts, with that checkout's node_modules), 1 lane.
    const before = process.env.VIGIL_BENCH_GATEWAY_BEFORE;
    // Optional: VIGIL_BENCH_E2E_LINGER=2,5 adds the gateway (1 lane) with gateway.lingerMs at each value.
    const lingers = (process.env.VIGIL_BENCH_E2E_LINGER ?? '').split(',').filter(Boolean).map(Number);
    if (lingers.some((l) => !Number.isInteger(l) || l < 0)) throw new Error(`VIGIL_BENCH_E2E_LINGER must be non-negative integers (ms), comma separated; got ${process.env.VIGIL_BENCH_E2E_LINGER}`);
    // Optional: VIGIL_BENCH_E2E_NODE_FLAGS="--single-threaded-gc" adds the gateway (1 lane) under those Node/V8 flags (space separated).
    const nodeFlags = (process.env.VIGIL_BENCH_E2E_NODE_FLAGS ?? '').split(' ').filter(Boolean);
    const gateways: Array<{ label: string; key: string; lanes: number; child: string; lingerMs?: number; build?: string; execArgv?: string[] }> = [
      ...(before ? [{ label: 'gateway before, 1 lane', key: 'gateway before 1 lane', lanes: 1, child: before }] : []),
      ...[...new Set([1, lanes])].map((n) => ({ label: `gateway, ${n} lane${n > 1 ? 's' : ''}`, key: `gateway ${n} lane${n > 1 ? 's' : ''}`, lanes: n, child: join(LIB, 'gateway-child.ts') })),
      ...lingers.map((l) => ({ label: `gateway, 1 lane, linger ${l} ms`, key: `gateway 1 lane linger ${l}`, lanes: 1, child: join(LIB, 'gateway-child.ts'), lingerMs: l })),
      // Optional: VIGIL_BENCH_E2E_SRC=1 adds the gateway (1 lane) run from the TypeScript sources through tsx rather than the compiled dist/ it ships as.
      ...(nodeFlags.length > 0 ? [{ label: `gateway, 1 lane, ${nodeFlags.join(' ')}`, key: 'gateway 1 lane flags', lanes: 1, child: join(LIB, 'gateway-child.ts'), execArgv: nodeFlags }] : []),
      ...(process.env.VIGIL_BENCH_E2E_SRC === '1' ? [{ label: 'gateway, 1 lane, tsx src', key: 'gateway 1 lane src', lanes: 1, child: join(LIB, 'gateway-child.ts'), build: 'src' }] : []),
    ];
    for (const g of gateways) {
      const file = gatewayConfigFile(p.configFile, g.lanes, g.lingerMs);
      const gw = await BenchChild.start('gateway', g.child, [file, ...(g.build ? [g.build] : [])], 60_000, g.execArgv ?? []);
      started.push(gw);
      await waitTopics(kafka.brokers, ['telemetry.power']);
      await warmUp(pub, rates, g.label);
      for (const rate of rates) {
        phase = `${g.label} cost @ ${rate}/s`;
        const c = await costRun(pub, gw, rate);
        cost[`${g.key} @ ${rate}`] = { rate, lanes: g.lanes, cpuUsPerFrame: c.cpuUsPerFrame, mainThreadUsPerFrame: c.mainThreadUsPerFrame, eventLoop: c.loop, publishToKafka: c.run.kafka, breakdown: breakdown(c.run), pass: c.run.pass, why: c.run.why };
        rows.push(row(g.label, `cost @ ${rate}/s`, c.run, costColumns(c)));
      }
      await gw.stop();
    }
    const at = (k: string): number => (cost[k]?.cpuUsPerFrame as number) ?? 0;
    const headline: Record<string, unknown> = { naiveSustainedFramesPerSec: naiveSustained, rates, lanes };
    for (const rate of rates) {
      headline[`gatewayToNaiveCpu@${rate}`] = Number((at(`gateway 1 lane @ ${rate}`) / at(`naive @ ${rate}`)).toFixed(2));
      headline[`gateway${lanes}LanesToNaiveCpu@${rate}`] = Number((at(`gateway ${lanes} lanes @ ${rate}`) / at(`naive @ ${rate}`)).toFixed(2));
      if (stockKafkajs) headline[`gatewayToNaiveStockKafkajsCpu@${rate}`] = Number((at(`gateway 1 lane @ ${rate}`) / at(`naive stock kafkajs @ ${rate}`)).toFixed(2));
      if (before) headline[`gatewayToBeforeCpu@${rate}`] = Number((at(`gateway 1 lane @ ${rate}`) / at(`gateway before 1 lane @ ${rate}`)).toFixed(2));
    }
    writeReport('e2e-cost', rows, { headline, cost, settings: { runMs: LAT_MS, warmupMs: WARMUP_MS, processWarmupMs: COST_WARMUP_MS, devices: DEVICES, publisherConnections: CONNECTIONS, cpu: 'user+system from /proc/<pid>/stat, warm-up end to run end (drain included), / frames published after warm-up' } });
    for (const [k, v] of Object.entries(cost)) {
      const lat = v.publishToKafka as ReturnType<typeof pct>;
      const loop = v.eventLoop as { p99Ms: number };
      const b = v.breakdown as ReturnType<typeof breakdown>;
      const ack = (v.eventLoop as { publishToKafkaAckMs?: { p50: number; p99: number; p999: number; n: number } }).publishToKafkaAckMs;
      const acked = ack && ack.n > 0 ? `   publish→Kafka ack p50 ${ack.p50} ms p99 ${ack.p99} ms p99.9 ${ack.p999} ms` : '';
      process.stdout.write(`${k.padEnd(26)} ${String(v.cpuUsPerFrame).padStart(7)} µs/frame (main thread ${String(v.mainThreadUsPerFrame)}, GC ${gcMs((v.eventLoop as { gc?: unknown }).gc)} ms)${acked}   publish→consumer p50 ${lat.p50} ms p99 ${lat.p99} ms p99.9 ${lat.p999} ms   loop delay p99 ${loop.p99Ms.toFixed(1)} ms   p99 breakdown: publish→admit ${b.publishToAdmitted.p99}, admit→produce ${b.admittedToProduced.n > 0 ? b.admittedToProduced.p99 : '-'}, produce→consumer ${b.producedToConsumer.p99} ms${v.pass ? '' : `   (run did not pass: ${String(v.why ?? '')})`}\n`);
    }
  } finally {
    await stopRig(rig, 'e2e cost');
  }
}

/**
 * VIGIL_BENCH_E2E_COST=1 VIGIL_BENCH_E2E_COST_PAIRED=<repeats>: the naive bridge (and the stock-kafkajs
 * one, if VIGIL_BENCH_NAIVE_STOCK_KAFKAJS is set) and the gateway (1 lane) run at once, each
 * subscribed to the same frames, and each run measures all of them over the same window: paired
 * figures, so what the shared host does meanwhile falls on both sides of a ratio. They compete
 * for the two cores (latency here is not the sequential runs' latency), and Kafka holds every
 * frame twice.
 */
async function mainCostPaired(repeats: number): Promise<void> {
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`VIGIL_BENCH_E2E_COST_PAIRED must be a positive integer (paired runs per rate); got ${process.env.VIGIL_BENCH_E2E_COST_PAIRED}`);
  const rig: Rig = { started: [] };
  const started = rig.started;
  const rows: BenchRow[] = [];
  try {
    const { kafka, mosq, prov: p, pub } = await startRig(rig, 'e2e cost paired');
    const fixed = fixedRates();
    const rates = fixed.length > 0 ? fixed : [3000, 6000];
    const filter = `vigil/v1/${p.theatre}/+/+/telemetry`;
    const systems: Array<{ label: string; child: BenchChild }> = [];
    const naive = await BenchChild.start('naive-bridge', join(LIB, 'naive-bridge-child.ts'), [mosq.url, kafka.brokers, filter, NAIVE_TOPIC]);
    started.push(naive);
    systems.push({ label: 'naive bridge', child: naive });
    const stockKafkajs = stockKafkajsDir(process.env.VIGIL_BENCH_NAIVE_STOCK_KAFKAJS);
    if (stockKafkajs) {
      const stock = await BenchChild.start('naive-bridge-stock', join(LIB, 'naive-bridge-child.ts'), [mosq.url, kafka.brokers, filter, NAIVE_TOPIC, stockKafkajs]);
      started.push(stock);
      systems.push({ label: 'naive, stock kafkajs', child: stock });
    }
    const gw = await BenchChild.start('gateway', join(LIB, 'gateway-child.ts'), [gatewayConfigFile(p.configFile, 1)]);
    started.push(gw);
    systems.push({ label: 'gateway, 1 lane', child: gw });
    await waitTopics(kafka.brokers, ['telemetry.power']);
    await warmUp(pub, rates, 'paired');
    const ratios: Record<string, number[]> = {};
    for (let rep = 1; rep <= repeats; rep++) {
      for (const rate of rates) {
        phase = `paired cost @ ${rate}/s, ${rep} of ${repeats}`;
        const costs = await costRunMany(pub, systems.map((x) => x.child), rate);
        const gwCost = costs[costs.length - 1] as Cost;
        systems.forEach((x, k) => {
          const c = costs[k] as Cost;
          rows.push(row(x.label, `paired @ ${rate}/s #${rep}`, c.run, costColumns(c)));
          if (x.child !== gw) (ratios[`gateway / ${x.label} @ ${rate}`] ??= []).push(Number((gwCost.cpuUsPerFrame / c.cpuUsPerFrame).toFixed(2)));
        });
      }
    }
    const headline: Record<string, unknown> = { repeats, rates };
    for (const [k, v] of Object.entries(ratios)) {
      const sorted = [...v].sort((a, b) => a - b);
      headline[k] = { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1], all: v };
      process.stdout.write(`${k.padEnd(44)} CPU per frame ratio: median ${String(sorted[Math.floor(sorted.length / 2)])}, range ${String(sorted[0])}–${String(sorted[sorted.length - 1])} over ${v.length} paired runs\n`);
    }
    writeReport('e2e-cost-paired', rows, { headline, settings: { runMs: LAT_MS, warmupMs: WARMUP_MS, processWarmupMs: COST_WARMUP_MS, devices: DEVICES, publisherConnections: CONNECTIONS, cpu: 'user+system from /proc/<pid>/stat of each process over the same window, / frames published after warm-up; all processes take every frame at once' } });
  } finally {
    await stopRig(rig, 'e2e cost paired');
  }
}

(process.env.VIGIL_BENCH_E2E_COST === '1' ? (process.env.VIGIL_BENCH_E2E_COST_PAIRED ? mainCostPaired(Number(process.env.VIGIL_BENCH_E2E_COST_PAIRED)) : mainCost()) : process.env.VIGIL_BENCH_E2E_SECURE === '1' ? mainSecure() : main()).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
