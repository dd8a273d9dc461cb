/**
 * The pipeline worker at scale, on real Kafka (issue 11, "Targets"): the `vitals` pipeline
 * next to a minimal pipeline over the same pre-loaded topic, for each fleet size.
 *
 * 1. A private single-node Kafka (scripts/services, free loopback ports). Per size, a
 *    unique topic prefix and `<prefix>telemetry.vitals` with 6 partitions, pre-loaded with
 *    N sealed vitals records of D devices (bench/lib/worker-bench-load.ts: sealed and keyed
 *    by device as gateways do, each device every ~1 s of event time, all devices interleaved
 *    in time order, ±150 ms jitter, 0.1 % of reports 2–5 s late). Both pipelines of a size
 *    read the same topic.
 * 2. For each pipeline, one worker in a CHILD process (bench/lib/worker-bench-child.ts,
 *    bundled with esbuild and run by plain `node` as the compiled `vigil worker` is; under
 *    tsx when profiling: `startPipeline`, a fresh consumer group, the runtime's default
 *    commit interval, 30 s) reads the topic from the beginning to its end:
 *    - `vitals`: pipelines/vitals.ts as deployed (10 s stats per soldier + 3 alert detectors,
 *      6 h allowed lateness);
 *    - `minimal`: one 10 s tumbling per-device count / mean / max of heart rate, same
 *      watermark bound, same 6 h lateness, same ceiling, no combinedLabel / frameRanges
 *      (bench/lib/worker-bench-pipeline.ts), so only the operator work differs.
 *    Measured in the child: records/s and CPU µs/record over the same interval (end of the
 *    first batch → end of the batch that reached the end offsets), GC share, peak RSS
 *    (VmHWM), longest event-loop stall, outputs, checkpoints written / refused and their
 *    sizes (every changelog send is measured, refused ones too). Once caught up the child
 *    calls `checkpoint()` once (timed), so the last records are covered whether the runtime
 *    checkpoints on a timer or only between batches. "records/s with all state committed"
 *    adds that checkpoint's time: a run that catches up before its first 30 s timer leaves
 *    all of its commit work to it, so the plain rate of two pipelines can compare unlike work.
 * 3. Restarts, each timed from spawn until its positions reach the end offsets (node start,
 *    group join + state restore, catch-up), and the state restore alone:
 *    - a clean restart on the same disk: the vitals child is stopped cleanly (`stop()`)
 *      once caught up and its checkpoint settled; a new child on the same stateDir restores
 *      from its local store plus the changelog tail;
 *    - restore after SIGKILL: that child is SIGKILLed once caught up; a new child with an
 *      empty stateDir restores its partitions from the changelog (its group join waits out
 *      the dead member's session).
 *    If no checkpoint ever succeeded a child restores nothing and re-reads from offset 0:
 *    that time is reported instead ("n/a: no checkpoint succeeded").
 * 4. A table per size, vitals and minimal side by side, and `bench/results/worker-<time>.json`
 *    + `worker-latest.json` (bench/RESULTS.md lists the rows).
 *
 * Each worker run is capped (VIGIL_BENCH_WORKER_LIMIT_S): a run that does not reach the end
 * in time reports "did not finish: X of N records in T s"; a child that dies (e.g. out of
 * heap) is reported with its exit and the tail of its stderr, figures from its last
 * progress report. Kafka and every child are stopped on exit, failure and Ctrl-C. The
 * default run takes about 18 minutes on a 2-core machine (two pre-loads of ~1 min, runs
 * capped at 6 min, the restore at 4 min); the quick run below about 40 s.
 *
 * Note: commits are taken on wall-clock time (every checkpointIntervalMs) and write each
 * entry changed since the last one, so a slower run (a busy machine) writes more of them
 * per record: CPU µs/record then depends on the rate. "records/s, first 30 s → last 30 s"
 * shows how the rate changes as state grows.
 *
 * Run: `npm run bench worker`. Env (defaults in brackets):
 *   VIGIL_BENCH_WORKER_RECORDS        readings (= records) per size [2000000]
 *   VIGIL_BENCH_WORKER_DEVICES        fleet sizes, comma-separated [10000,100000]
 *   VIGIL_BENCH_WORKER_PIPELINES      which to run, comma-separated [minimal,vitals]
 *   VIGIL_BENCH_WORKER_LIMIT_S        cap of one worker run, s [360]
 *   VIGIL_BENCH_WORKER_RESTORE_LIMIT_S cap of the restore run, s [240]
 *   VIGIL_BENCH_WORKER_RESTORE        0: skip the restore run [1]
 *   VIGIL_BENCH_WORKER_HEAP_MB        --max-old-space-size of the workers [Node's default]
 *   VIGIL_BENCH_WORKER_NODE_FLAGS     more node/V8 flags for the workers, space-separated
 *   VIGIL_BENCH_WORKER_COMMIT_MS      checkpointIntervalMs of the workers [the runtime's default]
 *   VIGIL_WORKER_HEAP_GROWING_PERCENT worker.heapGrowingPercent: each child applies the config's
 *                                     value as `vigil worker` does [60; 0: V8's own heap sizing]
 *   VIGIL_BENCH_WORKER_VARIANTS       extra vitals runs over the same pre-load, after the others,
 *                                     each under its own pipeline name (own changelog), one line of
 *                                     figures each: `name [--node-flag…] [ENV=value…]; name …`, e.g.
 *                                     "v8 VIGIL_WORKER_HEAP_GROWING_PERCENT=0;default" for an A/B in one run
 *   VIGIL_BENCH_WORKER_PROFILE=<dir>  run the workers under --cpu-prof, profiles in <dir>/<run>/
 *   VIGIL_BENCH_WORKER_HEAPSNAP=<dir> a heap snapshot of each worker once caught up, in <dir>
 *   VIGIL_BENCH_WORKER_TRACE=1        each worker prints its memory every second (anon RSS, V8 heap
 *                                     committed / used, external, array buffers; MB) on its stderr:
 *                                     with VIGIL_BENCH_VERBOSE=1, to see where a peak comes from
 *   VIGIL_BENCH_VERBOSE=1             children's stderr
 * A quick run: VIGIL_BENCH_WORKER_RECORDS=20000 VIGIL_BENCH_WORKER_DEVICES=2000 npm run bench worker
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { startKafka, type KafkaService } from '../scripts/services';
import { KafkaBus } from '../src/bus';
import { generateStreamKey, type StreamDataKey } from '../src/crypto';
import { formatTable, writeReport, type BenchRow } from './lib/report';
import type { WorkerBenchChildConfig, WorkerBenchChildResult } from './lib/worker-bench-child';
import { preloadVitals, type PreloadResult } from './lib/worker-bench-load';
import { MINIMAL_PIPELINE, type WorkerBenchPipeline } from './lib/worker-bench-pipeline';

const env = process.env;
const RECORDS = Number(env.VIGIL_BENCH_WORKER_RECORDS ?? 2_000_000);
const SIZES = (env.VIGIL_BENCH_WORKER_DEVICES ?? '10000,100000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const PIPELINES = (env.VIGIL_BENCH_WORKER_PIPELINES ?? 'minimal,vitals').split(',').map((s) => s.trim()) as WorkerBenchPipeline[];
const LIMIT_MS = Number(env.VIGIL_BENCH_WORKER_LIMIT_S ?? 360) * 1000;
const RESTORE_LIMIT_MS = Number(env.VIGIL_BENCH_WORKER_RESTORE_LIMIT_S ?? 240) * 1000;
const RESTORE = env.VIGIL_BENCH_WORKER_RESTORE !== '0';
/** `stateCacheBytes` of the workers (default: the runtime's, 192 MiB). */
const CACHE_BYTES = env.VIGIL_BENCH_WORKER_CACHE_MB === undefined ? undefined : Math.round(Number(env.VIGIL_BENCH_WORKER_CACHE_MB) * 1024 * 1024);
/** Each worker's local state store lives under here (removed at the end). */
const STATE_ROOT = mkdtempSync(join(tmpdir(), 'vigil-bench-state-'));
const HEAP_MB = env.VIGIL_BENCH_WORKER_HEAP_MB;
/** `checkpointIntervalMs` of the workers (default: the runtime's). */
const COMMIT_MS = env.VIGIL_BENCH_WORKER_COMMIT_MS === undefined ? undefined : Number(env.VIGIL_BENCH_WORKER_COMMIT_MS);
if (COMMIT_MS !== undefined && !(Number.isInteger(COMMIT_MS) && COMMIT_MS >= 0)) throw new Error(`VIGIL_BENCH_WORKER_COMMIT_MS must be an integer ≥ 0, got ${env.VIGIL_BENCH_WORKER_COMMIT_MS}`);
const PROFILE_DIR = env.VIGIL_BENCH_WORKER_PROFILE;
const PARTITIONS = 6;
/** After catching up, the longest a run waits for its final checkpoint(). */
const WAIT_CHECKPOINT_MS = 60_000;
/** Beyond its limit, how long the parent waits for a child's own report before killing it. */
const GRACE_MS = 30_000;
const STARTUP_MS = 120_000;
const CHILD = join(__dirname, 'lib', 'worker-bench-child.ts');
/**
 * The child bundled to plain JavaScript (esbuild, dependencies left to node_modules), run
 * with plain `node` as `vigil worker` runs its compiled code: no TypeScript loader thread in
 * its memory, no compiling at start. Profiled runs use tsx, so profiles name the sources.
 */
const CHILD_BUNDLE = join(__dirname, '..', 'node_modules', '.cache', 'vigil-bench', 'worker-bench-child.cjs');

function bundleChild(): void {
  buildSync({ entryPoints: [CHILD], bundle: true, platform: 'node', target: 'node20', format: 'cjs', packages: 'external', outfile: CHILD_BUNDLE, logLevel: 'warning' });
}
const MB = 1048576;
const TTY = process.stderr.isTTY === true;

for (const p of PIPELINES) if (p !== 'vitals' && p !== 'minimal') throw new Error(`VIGIL_BENCH_WORKER_PIPELINES: unknown pipeline "${p}" (vitals, minimal)`);
if (!Number.isInteger(RECORDS) || RECORDS < 1) throw new Error(`VIGIL_BENCH_WORKER_RECORDS must be a positive integer, got ${env.VIGIL_BENCH_WORKER_RECORDS}`);

/** How a child run ended, from the parent's side. */
interface ChildOutcome {
  readonly pipeline: WorkerBenchPipeline;
  readonly mode: 'run' | 'restore';
  readonly spawnedAt: number;
  /** The child's own report, or its last progress report when it never gave one. */
  readonly result: WorkerBenchChildResult | undefined;
  readonly reported: boolean;
  /** Set when the child exited on its own (crash, OOM) before we killed it. */
  readonly died: { code: number | null; signal: string | null } | undefined;
  readonly stderrTail: string;
  /** Progress samples: [Date.now(), records read], one a second, the final report last. */
  readonly samples: ReadonlyArray<readonly [number, number]>;
}

const children = new Set<ChildProcess>();
let kafka: KafkaService | undefined;

function killChild(c: ChildProcess): void {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  try {
    process.kill(c.pid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}

const exitOf = (c: ChildProcess): Promise<void> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r())));

async function cleanup(): Promise<void> {
  for (const c of children) killChild(c);
  await Promise.all([...children].map(exitOf));
  children.clear();
  await kafka?.stop().catch(() => undefined);
  kafka = undefined;
}

/** Set by SIGINT/SIGTERM: the run is abandoned, nothing more is measured or reported. */
let interrupted: string | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = sig;
    process.stderr.write(`\nworker bench: ${sig}, stopping workers and Kafka; no results written\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

const b64 = (k: StreamDataKey): { keyId: string; key: string } => ({ keyId: k.keyId, key: Buffer.from(k.key).toString('base64') });

/**
 * Runs one worker child to its report (or its limit, or its death) and SIGKILLs it: a
 * vitals child is killed exactly as the restore scenario wants, the others need no clean
 * shutdown (its last checkpoint would only cost time).
 */
async function runChild(cfg: WorkerBenchChildConfig, label: string, end: 'kill' | 'stop' = 'kill', variant: readonly string[] = []): Promise<ChildOutcome> {
  const execArgv = PROFILE_DIR ? ['--import', 'tsx'] : [];
  // A variant's words: node flags, or ENV=value for the child.
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const word of variant) {
    const eq = word.indexOf('=');
    if (word.startsWith('--')) execArgv.push(word);
    else if (eq > 0) childEnv[word.slice(0, eq)] = word.slice(eq + 1);
    else throw new Error(`VIGIL_BENCH_WORKER_VARIANTS: "${word}" is neither a --flag nor ENV=value`);
  }
  if (HEAP_MB) execArgv.push(`--max-old-space-size=${HEAP_MB}`);
  if (env.VIGIL_BENCH_WORKER_NODE_FLAGS) execArgv.push(...env.VIGIL_BENCH_WORKER_NODE_FLAGS.split(/\s+/).filter(Boolean));
  // One folder per run: Node names the files by pid and thread (tsx's loader thread writes one too; the big one is the worker's).
  if (PROFILE_DIR) execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, `${cfg.topicPrefix}${cfg.pipeline}-${cfg.mode}`)}`);
  const spawnedAt = Date.now();
  const child = fork(PROFILE_DIR ? CHILD : CHILD_BUNDLE, [JSON.stringify(cfg)], { execArgv, env: childEnv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-6000);
    if (env.VIGIL_BENCH_VERBOSE) process.stderr.write(`[${label}] ${d.toString()}`);
  });
  let last: WorkerBenchChildResult | undefined;
  let result: WorkerBenchChildResult | undefined;
  const samples: Array<[number, number]> = [];
  let exited: { code: number | null; signal: string | null } | undefined;
  const total = cfg.ends.reduce((a, b) => a + b, 0);
  let ticks = 0;
  const ticker = setInterval(() => {
    const p = last;
    const secs = ((Date.now() - spawnedAt) / 1000).toFixed(0);
    const line = p
      ? `${label}: ${p.records.toLocaleString('en-US')}/${total.toLocaleString('en-US')} records, ${Math.round(p.recordsPerSec).toLocaleString('en-US')}/s, RSS ${(p.rssBytes / MB).toFixed(0)} MB, checkpoints ${p.checkpointEvents.count} ok / ${p.stats?.checkpointFailures ?? 0} failed, ${secs} s`
      : `${label}: starting, ${secs} s`;
    if (TTY) process.stderr.write(`\r${line}`.padEnd(150));
    else if (++ticks % 15 === 0) process.stderr.write(`${line}\n`);
  }, 1000);
  try {
    await new Promise<void>((resolve) => {
      let hard: NodeJS.Timeout | undefined;
      const armHard = (ms: number): void => {
        clearTimeout(hard);
        hard = setTimeout(() => {
          // Its event loop may be stuck in a snapshot: ask once, then give up on it.
          child.send({ type: 'report' }, () => undefined);
          hard = setTimeout(resolve, GRACE_MS);
        }, ms);
      };
      armHard(STARTUP_MS + cfg.limitMs);
      child.on('message', (m: { type: string; result?: WorkerBenchChildResult; partial?: WorkerBenchChildResult }) => {
        if (m.type === 'ready') {
          armHard(cfg.limitMs + (cfg.mode === 'run' ? WAIT_CHECKPOINT_MS : 0) + GRACE_MS);
        } else if (m.type === 'progress') {
          last = m.partial;
          // Until caught up: the wait for the last checkpoint is not reading.
          if (last && last.caughtUpAt === null) samples.push([last.at, last.records]);
        }
        else if (m.type === 'result') {
          result = m.result;
          clearTimeout(hard);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        exited = { code, signal };
        clearTimeout(hard);
        resolve();
      });
    });
  } finally {
    clearInterval(ticker);
    if (TTY) process.stderr.write('\r'.padEnd(151) + '\r');
  }
  // Our own cleanup killed it: that is no finding, and the run is over.
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
  const diedOnItsOwn = exited;
  if (PROFILE_DIR && diedOnItsOwn === undefined) {
    // --cpu-prof writes its profile at exit, which SIGKILL skips: exit at once instead (no
    // stop(), no last checkpoint: to the group it is the same as a crash).
    child.send({ type: 'exit' }, () => undefined);
    await Promise.race([exitOf(child), new Promise((r) => setTimeout(r, 30_000))]);
  }
  if (end === 'stop' && diedOnItsOwn === undefined && child.exitCode === null) {
    // A clean stop: the worker commits, closes its store and leaves the group (bounded).
    child.send({ type: 'stop' }, () => undefined);
    await Promise.race([exitOf(child), new Promise((r) => setTimeout(r, 60_000))]);
  }
  killChild(child);
  await exitOf(child);
  children.delete(child);
  if (result) samples.push([result.caughtUpAt ?? result.at, result.records]);
  return { pipeline: cfg.pipeline, mode: cfg.mode, spawnedAt, result: result ?? last, reported: result !== undefined, died: result === undefined ? diedOnItsOwn : undefined, stderrTail: stderr, samples };
}

// ---- formatting ---------------------------------------------------------------------

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (b: number): string => (b / MB).toFixed(0);
const secs = (ms: number): string => (ms / 1000).toFixed(1);
const kib = (b: number): string => (b >= 1024 * 1024 ? `${(b / MB).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

/**
 * Records/s over the first and the last `spanMs` of reading (from the progress samples):
 * how the rate changes as state grows. Undefined when the run read for less than that.
 */
function edgeRates(o: ChildOutcome, spanMs = 30_000): { first: number; last: number } | undefined {
  const s = o.samples.filter(([, n]) => n > 0).sort((x, y) => x[0] - y[0]);
  const a = s[0];
  const z = s[s.length - 1];
  if (!a || !z || z[0] - a[0] < spanMs) return undefined;
  const b = s.find(([t]) => t >= a[0] + spanMs) as readonly [number, number];
  const y = [...s].reverse().find(([t]) => t <= z[0] - spanMs) as readonly [number, number];
  return { first: ((b[1] - a[1]) * 1000) / (b[0] - a[0]), last: ((z[1] - y[1]) * 1000) / (z[0] - y[0]) };
}

/** Why a run has no complete figures, or '' when it finished. */
function unfinished(o: ChildOutcome): string {
  const r = o.result;
  if (o.died) {
    const oom = /heap out of memory|Reached heap limit|Allocation failed/i.test(o.stderrTail);
    const how = o.died.signal ? `signal ${o.died.signal}` : `exit ${o.died.code}`;
    return `DIED (${oom ? 'out of memory, ' : ''}${how}) after ${r ? `${int(r.records)} of ${int(r.totalRecords)} records` : 'starting'}`;
  }
  if (!r) return 'no report';
  if (!r.finished) return `did not finish: ${int(r.records)} of ${int(r.totalRecords)} records in ${secs(r.at - (r.startedAt || r.loadedAt))} s`;
  return '';
}

function checkpointError(o: ChildOutcome | undefined): string {
  const errs = o?.result?.checkpointSends.errors ?? {};
  const e = Object.entries(errs).sort((a, b) => b[1] - a[1])[0];
  return e ? `${e[1]}× ${e[0]}` : '';
}

interface RestoreFigures {
  readonly text: string;
  /** For the results table. */
  readonly short: string;
  readonly totalMs: number | null;
  /** The state restore alone (the runtime's restore events), ms. */
  readonly stateMs: number | null;
  readonly outcome: ChildOutcome | undefined;
  readonly fromCheckpoint: boolean;
}

function restoreText(run: ChildOutcome | undefined, restore: ChildOutcome | undefined): RestoreFigures {
  const none = (text: string, short = text): RestoreFigures => ({ text, short, totalMs: null, stateMs: null, outcome: restore, fromCheckpoint: false });
  if (!run) return none('');
  if (!RESTORE) return none('not run (VIGIL_BENCH_WORKER_RESTORE=0)', 'not run');
  if (!restore) return none(`not measured: the run did not finish (${unfinished(run)})`, 'not measured: run did not finish');
  const r = restore.result;
  const ok = (run.result?.checkpointEvents.count ?? 0) > 0;
  const bad = unfinished(restore);
  const na = ok ? '' : 'n/a: no checkpoint succeeded; ';
  if (!r || bad) return none(`${na}re-start ${bad || 'failed'}`, `${ok ? '' : 'n/a (no checkpoint); '}${bad || 'failed'}`);
  const total = (r.caughtUpAt as number) - restore.spawnedAt;
  const parts = `node start ${secs(r.loadedAt - restore.spawnedAt)} s + group join/restore ${secs(r.startedAt - r.loadedAt)} s + catch-up ${secs((r.caughtUpAt as number) - r.startedAt)} s; ${int(r.records)} records re-read`;
  if (r.restoredAtStart === 0) {
    return { text: `n/a: no checkpoint succeeded; re-read from offset 0 instead: ${secs(total)} s (${parts})`, short: `n/a (no checkpoint); re-read from 0: ${secs(total)} s`, totalMs: total, stateMs: null, outcome: restore, fromCheckpoint: false };
  }
  // The state restore itself (reading the local store and/or the changelog), apart from the
  // group join, which after a SIGKILL waits out the dead member's session timeout.
  const ev = r.restoreEvents;
  const state = ev.count > 0 ? `; state restore ${ev.seconds.toFixed(2)} s (${ev.partitions} partitions, ${ev.local} from the local store${ev.spilled ? `, ${ev.spilled} spilled to disk` : ''})` : '';
  return { text: `${secs(total)} s spawn → caught up (${r.restoredAtStart} partitions restored; ${parts}${state})`, short: `${secs(total)} s${ev.count > 0 ? ` (state ${ev.seconds.toFixed(2)} s)` : ''}`, totalMs: total, stateMs: ev.count > 0 ? ev.seconds * 1000 : null, outcome: restore, fromCheckpoint: true };
}

interface SizeReport {
  readonly devices: number;
  readonly preload: PreloadResult;
  readonly runs: Partial<Record<WorkerBenchPipeline, ChildOutcome>>;
  readonly restore: RestoreFigures;
  /** Clean restart (after a graceful stop) on the worker's own stateDir (local store + changelog tail). */
  readonly restoreLocal: RestoreFigures;
}

function sideBySide(s: SizeReport): string {
  const v = s.runs.vitals;
  const m = s.runs.minimal;
  const cols: Array<[string, ChildOutcome | undefined]> = [['vitals', v], ['minimal', m]];
  const rows: BenchRow[] = [];
  const add = (metric: string, f: (o: ChildOutcome, r: WorkerBenchChildResult) => string, ratio = ''): void => {
    const row: Record<string, string> = { metric };
    for (const [name, o] of cols) row[name] = o === undefined ? '(not run)' : o.result ? f(o, o.result) : 'no figures';
    row['vitals vs minimal'] = ratio;
    rows.push(row);
  };
  const vr = v?.result;
  const mr = m?.result;
  add('result', (o) => unfinished(o) || 'finished');
  add('records read', (_o, r) => `${int(r.records)} of ${int(r.totalRecords)}`);
  add('records/s', (_o, r) => int(r.recordsPerSec), vr && mr && mr.recordsPerSec > 0 ? `${((100 * vr.recordsPerSec) / mr.recordsPerSec).toFixed(1)}% of minimal` : '');
  add('records/s with all state committed', (_o, r) => (r.recordsPerSecCommitted ? int(r.recordsPerSecCommitted) : '-'), vr?.recordsPerSecCommitted && mr?.recordsPerSecCommitted ? `${((100 * vr.recordsPerSecCommitted) / mr.recordsPerSecCommitted).toFixed(1)}% of minimal` : '');
  add('records/s, first 30 s → last 30 s', (o) => {
    const e = edgeRates(o);
    return e ? `${int(e.first)} → ${int(e.last)}` : '-';
  });
  add('CPU µs/record', (_o, r) => r.cpuUsPerRecord.toFixed(1), vr && mr && mr.cpuUsPerRecord > 0 ? `${(vr.cpuUsPerRecord / mr.cpuUsPerRecord).toFixed(2)}× minimal` : '');
  add('CPU, cores busy', (_o, r) => r.cpuShare.toFixed(2));
  add('GC share', (_o, r) => `${(100 * r.gcShare).toFixed(1)}%`);
  add('peak RSS MB (VmHWM)', (_o, r) => mb(r.peakRssBytes));
  add('peak RSS anon / file MB (1 s samples)', (_o, r) => `${mb(r.peakRssAnonBytes ?? 0)} / ${mb(r.peakRssFileBytes ?? 0)}`);
  add('peak V8 heap committed / external MB (1 s samples)', (_o, r) => `${mb(r.peakHeapTotalBytes ?? 0)} / ${mb(r.peakExternalBytes ?? 0)}`);
  add('heap used at end MB', (_o, r) => `${mb(r.heapUsedBytes)} (limit ${mb(r.heapLimitBytes)})`);
  add('state cache at end MB (estimate) / evictions', (_o, r) => (r.stats ? `${mb(r.stats.stateCacheBytes)} / ${int(r.stats.stateEvictions)}` : '-'));
  add('longest event-loop stall', (_o, r) => `${int(r.maxEventLoopStallMs)} ms`);
  add('outputs', (_o, r) => int(r.stats?.outputs ?? 0));
  add('checkpoints written / failed', (_o, r) => `${r.checkpointEvents.count} / ${r.stats?.checkpointFailures ?? 0}`);
  add('changelog sends ok / refused', (_o, r) => `${r.checkpointSends.ok} / ${r.checkpointSends.failed}`);
  add('largest changelog record tried', (_o, r) => (r.checkpointSends.attempts ? kib(r.checkpointSends.maxRecordBytes) : '-'));
  add('largest changelog record written', (_o, r) => (r.checkpointSends.ok ? kib(r.checkpointSends.maxOkRecordBytes) : 'none'));
  add('largest changelog send tried', (_o, r) => (r.checkpointSends.attempts ? kib(r.checkpointSends.maxCheckpointBytes) : '-'));
  add('longest checkpoint written', (_o, r) => (r.checkpointEvents.count ? `${r.checkpointEvents.maxSeconds.toFixed(2)} s` : '-'));
  add('final checkpoint() once caught up', (_o, r) => {
    const f = r.finalCheckpoint;
    return f ? `${f.ok ? 'ok' : 'FAILED'} in ${secs(f.ms)} s` : '-';
  });
  const notes: string[] = [];
  for (const [name, o] of cols) {
    const e = checkpointError(o);
    if (e) notes.push(`checkpoint refusals, ${name}: ${e}`);
    const k = Object.entries(o?.result?.kafkaLog ?? {})
      .filter(([line]) => !/message larger than the max message size|Response Produce/.test(line))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3);
    if (k.length) notes.push(`kafka client errors, ${name}: ${k.map(([line, n]) => `${n}× ${line}`).join('; ')}`);
    if (o?.died) notes.push(`${name} died; its stderr ends: ${o.stderrTail.trim().split('\n').slice(-3).join(' / ').slice(0, 400)}`);
  }
  notes.push(`restore after SIGKILL, vitals, new worker with an empty stateDir (whole changelog): ${s.restore.text || '(not run)'}`);
  notes.push(`clean restart, vitals, same stateDir (local store + changelog tail): ${s.restoreLocal.text || '(not run)'}`);
  if (s.restore.totalMs !== null && s.restoreLocal.totalMs !== null && s.restore.totalMs > 0) {
    notes.push(`clean same-disk restart / from-changelog restore after SIGKILL: ${((100 * s.restoreLocal.totalMs) / s.restore.totalMs).toFixed(1)}% of the time spawn → caught up`);
  }
  if (s.restore.stateMs !== null && s.restoreLocal.stateMs !== null && s.restore.stateMs > 0) {
    notes.push(`clean same-disk restart / from-changelog restore after SIGKILL, state restore alone: ${((100 * s.restoreLocal.stateMs) / s.restore.stateMs).toFixed(1)}% of the time`);
  }
  return `${formatTable(rows)}\n${notes.join('\n')}`;
}

/** One row per (size, pipeline) for the JSON and RESULTS.md. */
function resultRows(s: SizeReport): BenchRow[] {
  const out: BenchRow[] = [];
  for (const p of ['vitals', 'minimal'] as const) {
    const o = s.runs[p];
    if (!o) continue;
    const r = o.result;
    const m = s.runs.minimal?.result;
    out.push({
      devices: s.devices,
      readings: RECORDS,
      pipeline: p,
      result: unfinished(o) || 'finished',
      'records/s': r ? Math.round(r.recordsPerSec) : 0,
      'records/s first→last 30 s': (() => {
        const e = edgeRates(o);
        return e ? `${int(e.first)} → ${int(e.last)}` : '';
      })(),
      'CPU µs/record': r ? Number(r.cpuUsPerRecord.toFixed(1)) : 0,
      'GC %': r ? Number((100 * r.gcShare).toFixed(1)) : 0,
      'peak RSS MB': r ? Math.round(r.peakRssBytes / MB) : 0,
      'checkpoints ok/failed': r ? `${r.checkpointEvents.count}/${r.stats?.checkpointFailures ?? 0}` : '',
      'max changelog record tried KiB': r ? Math.round(r.checkpointSends.maxRecordBytes / 1024) : 0,
      'max changelog record written KiB': r ? Math.round(r.checkpointSends.maxOkRecordBytes / 1024) : 0,
      outputs: r?.stats?.outputs ?? 0,
      'vs minimal records/s': p === 'vitals' && r && m && m.recordsPerSec > 0 ? `${((100 * r.recordsPerSec) / m.recordsPerSec).toFixed(1)}%` : '',
      restore: p === 'vitals' ? s.restore.short : '',
    });
  }
  return out;
}

// ---- main ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const sizes: SizeReport[] = [];
  try {
    if (!PROFILE_DIR) bundleChild();
    process.stderr.write(`worker: starting Kafka on 127.0.0.1… (${RECORDS.toLocaleString('en-US')} readings × sizes ${SIZES.join(', ')} devices; pipelines ${PIPELINES.join(', ')}; limit ${LIMIT_MS / 1000} s per run)\n`);
    kafka = await startKafka({ log: (l) => process.stderr.write(`${l}\n`) });
    const telemetryKey = generateStreamKey('telemetry.vitals.bench');
    const derivedKey = generateStreamKey('derived.bench');
    const runId = randomBytes(3).toString('hex');
    for (const devices of SIZES) {
      const prefix = `bw${runId}-d${devices}.`;
      const topic = `${prefix}telemetry.vitals`;
      const bus = new KafkaBus({ brokers: [kafka.brokers], clientId: 'bench-worker-admin', logLevel: 'nothing' });
      const admin = bus.admin();
      try {
        await admin.ensureTopics([{ topic, partitions: PARTITIONS }]);
      } finally {
        await admin.close();
        await bus.close();
      }
      process.stderr.write(`worker: pre-loading ${topic} with ${RECORDS.toLocaleString('en-US')} sealed readings of ${devices.toLocaleString('en-US')} devices…\n`);
      const preload = await preloadVitals({
        brokers: kafka.brokers, topic, records: RECORDS, devices, key: telemetryKey,
        onProgress: (n) => {
          if (n % 200_000 < 4000) process.stderr.write(`${TTY ? '\r' : ''}pre-load: ${n.toLocaleString('en-US')} / ${RECORDS.toLocaleString('en-US')}${TTY ? '' : '\n'}`);
        },
      });
      process.stderr.write(`${TTY ? '\r' : ''}pre-load: ${preload.records.toLocaleString('en-US')} records, ${(preload.bytes / MB).toFixed(0)} MB in ${preload.seconds.toFixed(1)} s (${int(preload.records / preload.seconds)}/s); ends ${preload.ends.join(', ')}\n`);
      const runs: Partial<Record<WorkerBenchPipeline, ChildOutcome>> = {};
      let restore: ChildOutcome | undefined;
      let restoreLocal: ChildOutcome | undefined;
      for (const pipeline of PIPELINES) {
        const groupId = `bench-worker-${runId}-d${devices}-${pipeline}`;
        const base = { brokers: kafka.brokers, topicPrefix: prefix, pipeline, groupId, telemetryKey: b64(telemetryKey), derivedKey: b64(derivedKey), ends: preload.ends, waitCheckpointMs: WAIT_CHECKPOINT_MS, stateDir: join(STATE_ROOT, `${prefix}${pipeline}`), ...(CACHE_BYTES === undefined ? {} : { stateCacheBytes: CACHE_BYTES }), ...(COMMIT_MS === undefined ? {} : { checkpointIntervalMs: COMMIT_MS }) };
        // The vitals run ends with a clean stop, so that the next start on its disk is a clean restart.
        const o = await runChild({ ...base, limitMs: LIMIT_MS, mode: 'run' }, `${devices} devices, ${pipeline}`, pipeline === 'vitals' && RESTORE ? 'stop' : 'kill');
        runs[pipeline] = o;
        process.stderr.write(`${devices} devices, ${pipeline}: ${unfinished(o) || 'finished'}${o.result ? `, ${int(o.result.recordsPerSec)} records/s, ${o.result.cpuUsPerRecord.toFixed(1)} µs/record, checkpoints ${o.result.checkpointEvents.count} ok / ${o.result.stats?.checkpointFailures ?? 0} failed` : ''}\n`);
        if (o.died) process.stderr.write(`  its stderr ends:\n${o.stderrTail.split('\n').slice(-12).map((l) => `  | ${l}`).join('\n')}\n`);
        if (pipeline === 'vitals' && RESTORE && o.result?.finished) {
          // A clean restart on the same disk first (local store + changelog tail); this child is then SIGKILLed.
          restoreLocal = await runChild({ ...base, limitMs: RESTORE_LIMIT_MS, mode: 'restore' }, `${devices} devices, vitals clean restart on the same disk`);
          process.stderr.write(`${devices} devices, vitals clean restart on the same disk: ${unfinished(restoreLocal) || 'caught up'}${restoreLocal.result?.caughtUpAt ? ` in ${secs(restoreLocal.result.caughtUpAt - restoreLocal.spawnedAt)} s` : ''}\n`);
          // Then, after that SIGKILL, a new worker with an empty stateDir: everything from the changelog.
          restore = await runChild({ ...base, stateDir: join(STATE_ROOT, `${prefix}vitals-fresh`), limitMs: RESTORE_LIMIT_MS, mode: 'restore' }, `${devices} devices, vitals restore after SIGKILL`);
          if (restore.died) process.stderr.write(`  restore child's stderr ends:\n${restore.stderrTail.split('\n').slice(-12).map((l) => `  | ${l}`).join('\n')}\n`);
        }
      }
      // Variants: vitals again under its own name (changelog, derived topic, group), so it starts empty.
      for (const v of (env.VIGIL_BENCH_WORKER_VARIANTS ?? '').split(';').map((x) => x.trim()).filter(Boolean)) {
        const [name, ...words] = v.split(/\s+/) as [string, ...string[]];
        const o = await runChild(
          {
            brokers: kafka.brokers, topicPrefix: prefix, pipeline: 'vitals', pipelineName: `vitals-${name}`, groupId: `bench-worker-${runId}-d${devices}-variant-${name}`,
            telemetryKey: b64(telemetryKey), derivedKey: b64(derivedKey), ends: preload.ends, waitCheckpointMs: WAIT_CHECKPOINT_MS, stateDir: join(STATE_ROOT, `${prefix}variant-${name}`),
            ...(CACHE_BYTES === undefined ? {} : { stateCacheBytes: CACHE_BYTES }), ...(COMMIT_MS === undefined ? {} : { checkpointIntervalMs: COMMIT_MS }), limitMs: LIMIT_MS, mode: 'run',
          },
          `${devices} devices, vitals variant ${name}`,
          'kill',
          words,
        );
        const r = o.result;
        const figures = r
          ? `, ${int(r.recordsPerSec)} records/s (${int(r.recordsPerSecCommitted ?? 0)} with all state committed), ${r.cpuUsPerRecord.toFixed(1)} CPU µs/record, GC ${(100 * r.gcShare).toFixed(1)}%, ` +
            `peak RSS ${mb(r.peakRssBytes)} MB (anon ${mb(r.peakRssAnonBytes)} / file ${mb(r.peakRssFileBytes)}), peak heap committed ${mb(r.peakHeapTotalBytes ?? 0)} / external ${mb(r.peakExternalBytes ?? 0)} MB, ` +
            `heap used at end ${mb(r.heapUsedBytes)} MB, state cache ${mb(r.stats?.stateCacheBytes ?? 0)} MB / ${int(r.stats?.stateEvictions ?? 0)} evictions, checkpoints ${r.checkpointEvents.count}`
          : '';
        process.stdout.write(`${devices} devices, vitals variant ${name} [${words.join(' ')}]: ${unfinished(o) || 'finished'}${figures}\n`);
      }
      const s: SizeReport = { devices, preload, runs, restore: restoreText(runs.vitals, restore), restoreLocal: restoreText(runs.vitals, restoreLocal) };
      sizes.push(s);
      process.stdout.write(
        `\n== worker: ${devices.toLocaleString('en-US')} devices, ${RECORDS.toLocaleString('en-US')} readings (${preload.eventSeconds} s of event time, ${PARTITIONS} partitions, ${(preload.bytes / MB).toFixed(0)} MB sealed; pre-load ${preload.seconds.toFixed(1)} s)\n`,
      );
      process.stdout.write(sideBySide(s) + '\n');
    }
    const rows = sizes.flatMap(resultRows);
    const summary = sizes.map((s) => {
      const v = s.runs.vitals?.result;
      const m = s.runs.minimal?.result;
      return {
        devices: s.devices,
        readings: RECORDS,
        vitalsRecordsPerSec: v?.recordsPerSec ?? null,
        minimalRecordsPerSec: m?.recordsPerSec ?? null,
        vitalsToMinimal: v && m && m.recordsPerSec > 0 ? Number((v.recordsPerSec / m.recordsPerSec).toFixed(3)) : null,
        vitalsCpuUsPerRecord: v?.cpuUsPerRecord ?? null,
        minimalCpuUsPerRecord: m?.cpuUsPerRecord ?? null,
        vitalsPeakRssBytes: v?.peakRssBytes ?? null,
        vitalsCheckpointsOk: v?.checkpointEvents.count ?? null,
        vitalsCheckpointsFailed: v?.stats?.checkpointFailures ?? null,
        vitalsChangelogSendsRefused: v?.checkpointSends.failed ?? null,
        vitalsMaxCheckpointRecordBytes: v?.checkpointSends.maxRecordBytes ?? null,
        vitalsFinished: s.runs.vitals ? !unfinished(s.runs.vitals) : null,
        restore: s.restore.text,
        restoreMs: s.restore.totalMs,
        restoreFromCheckpoint: s.restore.fromCheckpoint,
        restartSameDisk: s.restoreLocal.text,
        restartSameDiskMs: s.restoreLocal.totalMs,
        restoreStateMs: s.restore.stateMs,
        restartSameDiskStateMs: s.restoreLocal.stateMs,
        restartSameDiskToRestore: s.restore.totalMs && s.restoreLocal.totalMs !== null ? Number((s.restoreLocal.totalMs / s.restore.totalMs).toFixed(3)) : null,
      };
    });
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);
    writeReport('worker', rows, {
      headline: summary,
      runs: sizes.map((s) => ({
        devices: s.devices,
        preload: s.preload,
        runs: Object.fromEntries(Object.entries(s.runs).map(([k, o]) => [k, { ...o, stderrTail: o.died ? o.stderrTail : undefined }])),
        restore: s.restore.outcome ? { ...s.restore.outcome, text: s.restore.text, stderrTail: undefined } : { text: s.restore.text },
      })),
      settings: {
        records: RECORDS, devices: SIZES, pipelines: PIPELINES, partitions: PARTITIONS, limitMs: LIMIT_MS, restoreLimitMs: RESTORE_LIMIT_MS, heapMb: HEAP_MB ?? 'node default',
        loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadavg(),
        checkpointIntervalMs: COMMIT_MS ?? 'runtime default', waitCheckpointMs: WAIT_CHECKPOINT_MS, minimalPipeline: MINIMAL_PIPELINE,
        load: 'one vitals reading per record, sealed with RecordCodec, keyed by device id (murmur2); every device once per event-time second, devices interleaved in time order, ±150 ms jitter, 0.1% of reports 2-5 s late',
        measured: 'in the worker child: records/s and CPU (process.cpuUsage) from the end of the first batch to the end of the batch that reached the end offsets; GC = PerformanceObserver gc durations in that interval; peak RSS = VmHWM; checkpoints = every changelog send through the worker bus (refusals included)',
        note: 'children run with node --import tsx (TypeScript compiled on load; RSS includes the loader); Kafka and the worker share the 2 cores',
      },
      note: 'vitals (pipelines/vitals.ts) vs a minimal 10 s tumbling count/mean/max of heart rate per device, same 6 h lateness, each in its own worker process over the same pre-loaded 6-partition telemetry.vitals; restore = SIGKILL after catching up, new worker in the same group, spawn → caught up.',
    });
    process.stdout.write(`worker bench: ${((Date.now() - started) / 1000).toFixed(0)} s in all; load average at start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other processes on these ${cpus().length} cores colour the figures)\n`);
  } finally {
    process.stderr.write('worker: stopping workers and Kafka…\n');
    await cleanup();
    rmSync(STATE_ROOT, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
