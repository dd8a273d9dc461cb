import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { DerivedRecord } from '../../src/codec';
import { generateStreamKey, writeKeyFile, type StreamDataKey } from '../../src/crypto';
import { DerivedCollector, produceVitals } from '../e2e/e2e-helpers';
import { Child, logged, sleep, StepError } from './processes';
import { deleteTopics } from './run-schedule';
import type { ChaosServices } from './services';
import { WORKER_FAULTS, type WorkerChaosSchedule, type WorkerChaosStep } from './worker-schedule';

/**
 * The input of every worker schedule, the same for each seed so one uninterrupted worker's
 * results are the reference: vitals of 24 soldiers over 12 partitions, 600 s of event time
 * sent in ten 60 s chunks spread over the load, and after the seventh a late chunk (new
 * sequence numbers, event time 100-130 s) that revises windows fired long before.
 */
const PARTITIONS = 12;
const SOLDIERS = Array.from({ length: 24 }, (_, i) => `sol-${String(i).padStart(2, '0')}`);
const CHUNKS: ReadonlyArray<{ fromS: number; toS: number; late?: true; seqOffset: number }> = [
  ...Array.from({ length: 7 }, (_, i) => ({ fromS: i * 60, toS: (i + 1) * 60, seqOffset: 0 })),
  { fromS: 100, toS: 130, late: true as const, seqOffset: 100_000 },
  // Sequence numbers go on above the late frames' (a device's numbers only grow).
  ...Array.from({ length: 3 }, (_, i) => ({ fromS: (i + 7) * 60, toS: (i + 8) * 60, seqOffset: 200_000 })),
];
/** 10 s windows of [0, 600 s) that end before the last reading, per soldier. */
const MIN_KEYS = SOLDIERS.length * 59;
const WORKER_STOP_MS = 60_000;
const SETTLE_MS = 180_000;

/** A derived result as compared: its values and revision. */
export type Results = ReadonlyMap<string, string>;

export interface AppliedWorkerFault {
  readonly fault: WorkerChaosStep['fault'];
  readonly atMs: number;
  readonly restoredAtMs: number;
  /** The worker it hit. */
  readonly worker?: string;
}

export interface WorkerRunResult {
  readonly seed: number;
  readonly schedule: WorkerChaosSchedule;
  /** Every fault applied, the final results identical to the reference, every worker stopped cleanly. */
  readonly ok: boolean;
  readonly error?: string;
  readonly faultsPlanned: number;
  readonly faults: readonly AppliedWorkerFault[];
  /** Derived keys in the run's final results, and how many of them were revised by late data. */
  readonly keys: number;
  readonly revised: number;
  /** Keys whose final value or revision differs from the reference (or is missing or extra). */
  readonly differences: readonly string[];
  /** Partitions the workers restored (every assignment): from their local store plus the changelog tail, or from the changelog alone. */
  readonly restores: { readonly local: number; readonly changelog: number };
  readonly durationMs: number;
  readonly dir: string;
}

export interface WorkerRunOptions {
  readonly services: ChaosServices;
  /** The uninterrupted worker's results (`referenceResults`), computed once per invocation. */
  readonly reference: Results;
  readonly log?: (line: string) => void;
  readonly keep?: boolean;
}

interface Member {
  readonly name: string;
  readonly config: string;
  readonly stateDir: string;
  child: Child | undefined;
  /** Down for a fault, coming back; `gone` after a leave. */
  state: 'running' | 'down' | 'gone';
}

/** The run's keys and the config of one worker of it. */
class WorkerSetup {
  readonly telemetry = generateStreamKey('telemetry-worker-chaos');
  readonly derived: StreamDataKey;
  readonly prefix: string;

  constructor(readonly dir: string, private readonly brokers: string, tag: string) {
    this.prefix = `wchaos-${tag}-${randomUUID().slice(0, 6)}.`;
    this.derived = generateStreamKey(`derived.vitals-${tag}`);
  }

  async keys(): Promise<void> {
    mkdirSync(join(this.dir, 'keys'), { recursive: true });
    await writeKeyFile(join(this.dir, 'telemetry.key.json'), { type: 'stream', key: this.telemetry });
    await writeKeyFile(join(this.dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: this.derived });
  }

  member(name: string): Member {
    const config = join(this.dir, `${name}.yaml`);
    const stateDir = join(this.dir, `state-${name}`);
    writeFileSync(
      config,
      stringify({
        log: { level: 'info' },
        kafka: { brokers: this.brokers.split(','), clientId: `${name}-${this.prefix}`, partitions: PARTITIONS, topicPrefix: this.prefix, sendTimeoutMs: 5000 },
        worker: { pipelines: ['vitals'], telemetryKeyFile: join(this.dir, 'telemetry.key.json'), keyDir: join(this.dir, 'keys'), checkpointIntervalMs: 300, stateDir },
        http: { host: '127.0.0.1', port: 0 },
      }),
    );
    return { name, config, stateDir, child: undefined, state: 'down' };
  }

  start(m: Member): void {
    m.child = Child.tsx(`worker-${m.name}`, 'scripts/vigil-dev.ts', ['worker', '--config', m.config], join(this.dir, `${m.name}.log`), { VIGIL_LOG_LEVEL: 'info' });
    m.state = 'running';
  }

  /** Sends a chunk of the input, again until Kafka takes it (a fault may hold Kafka); duplicates a lost answer causes are the workers' to drop. */
  async send(chunk: (typeof CHUNKS)[number], deadlineMs: number): Promise<void> {
    const options = { soldiers: chunk.late ? SOLDIERS.slice(0, 8) : SOLDIERS, partitions: PARTITIONS, seqOffset: chunk.seqOffset };
    for (;;) {
      try {
        return await produceVitals(this.brokers, `${this.prefix}telemetry.vitals`, this.telemetry, chunk.fromS, chunk.toS, options);
      } catch (err) {
        if (Date.now() > deadlineMs) throw new StepError(`input chunk ${chunk.fromS}-${chunk.toS} s not taken by Kafka in time: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
  }

  /** Reads the derived stream from the beginning until it equals `reference` (or, without one, until it is quiet), bounded. */
  async results(reference: Results | undefined, timeoutMs: number): Promise<Map<string, DerivedRecord>> {
    const out = new DerivedCollector(this.brokers, `${this.prefix}derived.vitals`, this.derived);
    try {
      await out.start();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await out.settle(MIN_KEYS, 4000, Math.max(1, deadline - Date.now())).catch(() => undefined);
        const latest = out.latest();
        if (reference === undefined ? latest.size >= MIN_KEYS : differences(reference, summarise(latest)).length === 0) return latest;
        if (Date.now() > deadline) return latest;
        await sleep(2000);
      }
    } finally {
      await out.close();
    }
  }
}

/** Values and revision per derived key, as compared. */
function summarise(latest: ReadonlyMap<string, DerivedRecord>): Map<string, string> {
  return new Map([...latest].map(([k, r]) => [k, JSON.stringify({ values: r.values, revision: r.revision })]));
}

function differences(reference: Results, got: Results): string[] {
  const out: string[] = [];
  for (const [k, v] of reference) {
    const g = got.get(k);
    if (g === undefined) out.push(`${k}: missing`);
    else if (g !== v) out.push(`${k}: ${g} instead of ${v}`);
  }
  for (const k of got.keys()) if (!reference.has(k)) out.push(`${k}: not in the reference`);
  return out;
}

/** Stops a worker with SIGTERM (bounded) and says whether it exited cleanly. */
async function stopMember(m: Member, signal: NodeJS.Signals): Promise<number | null> {
  const c = m.child;
  m.child = undefined;
  if (c === undefined) return 0;
  await c.kill(signal, WORKER_STOP_MS);
  return c.proc.child.exitCode;
}

/**
 * The reference: one worker, never interrupted, over the same input sent at once. Its
 * results are what every schedule must end with (values and revisions of every key).
 */
export async function referenceResults(services: ChaosServices, log: (line: string) => void = () => undefined): Promise<Results> {
  await services.kafkaUp();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-wchaos-ref-'));
  const setup = new WorkerSetup(dir, services.brokers, 'ref');
  const solo = setup.member('solo');
  try {
    await setup.keys();
    for (const c of CHUNKS) await setup.send(c, Date.now() + 60_000);
    setup.start(solo);
    const latest = await setup.results(undefined, SETTLE_MS);
    if (latest.size < MIN_KEYS) throw new Error(`the reference worker published ${latest.size} of at least ${MIN_KEYS} results; its log:\n${solo.child?.tail() ?? ''}`);
    const code = await stopMember(solo, 'SIGTERM');
    if (code !== 0) throw new Error(`the reference worker exited with ${String(code)}`);
    const revised = [...latest.values()].filter((r) => r.revision > 0).length;
    if (revised === 0) throw new Error('the late chunk revised no window in the reference: the input does not test revisions');
    log(`reference: ${latest.size} results (${revised} revised by late data) from one uninterrupted worker`);
    return summarise(latest);
  } finally {
    if (solo.child !== undefined) await solo.child.destroy();
    await deleteTopics(services.brokers, setup.prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs one worker schedule: starts its workers on the private Kafka of `services`, sends the
 * input in chunks while applying every step at its time (worker faults in one lane whose
 * restores run on their own, so worker outages overlap; Kafka faults in another), then
 * compares the derived stream with the reference. Everything it started is stopped.
 */
export async function runWorkerSchedule(s: WorkerChaosSchedule, o: WorkerRunOptions): Promise<WorkerRunResult> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const services = o.services;
  await services.kafkaUp();
  const dir = mkdtempSync(join(tmpdir(), `vigil-wchaos-${s.seed}-`));
  const setup = new WorkerSetup(dir, services.brokers, String(s.seed));
  const members: Member[] = [];
  const applied: AppliedWorkerFault[] = [];
  const restores: Array<Promise<void>> = [];
  let error: string | undefined;
  let diffs: string[] = [];
  let final = new Map<string, DerivedRecord>();
  let t1 = 0;
  const at = (): number => Date.now() - t1;
  const add = (): Member => {
    const m = setup.member(`w${members.length + 1}`);
    members.push(m);
    setup.start(m);
    return m;
  };
  /** The running worker `pick` names; waits (bounded) while every worker is down for an earlier fault. */
  const running = async (pick: number, fault: string): Promise<Member> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = members.filter((m) => m.state === 'running');
      if (up.length > 0) return up[pick % up.length] as Member;
      if (Date.now() > deadline) throw new StepError(`${fault}: no worker came back within 60 s`);
      await sleep(200);
    }
  };
  const applyWorker = async (step: WorkerChaosStep): Promise<void> => {
    const appliedAt = at();
    log(`  +${(appliedAt / 1000).toFixed(1)}s ${step.fault}${step.downMs > 0 ? ` for ${step.downMs / 1000}s` : ''}`);
    if (step.fault === 'worker-join') {
      const m = add();
      applied.push({ fault: step.fault, atMs: appliedAt, restoredAtMs: appliedAt, worker: m.name });
      return;
    }
    const m = await running(step.pick, step.fault);
    const signal = step.fault === 'worker-term' || step.fault === 'worker-leave' ? 'SIGTERM' : 'SIGKILL';
    m.state = step.fault === 'worker-leave' ? 'gone' : 'down';
    const child = m.child;
    const code = await stopMember(m, signal);
    if (signal === 'SIGTERM' && code !== 0) throw new StepError(`${m.name} exited with ${String(code)} on SIGTERM; its log:\n${child?.tail() ?? ''}`);
    if (step.fault === 'worker-wipe') rmSync(m.stateDir, { recursive: true, force: true });
    if (step.fault === 'worker-leave') {
      applied.push({ fault: step.fault, atMs: appliedAt, restoredAtMs: appliedAt, worker: m.name });
      return;
    }
    restores.push(
      (async () => {
        await sleep(Math.max(0, appliedAt + step.downMs - at()));
        setup.start(m);
        applied.push({ fault: step.fault, atMs: appliedAt, restoredAtMs: at(), worker: m.name });
      })(),
    );
  };
  const applyKafka = async (step: WorkerChaosStep): Promise<void> => {
    const appliedAt = at();
    log(`  +${(appliedAt / 1000).toFixed(1)}s ${step.fault} for ${step.downMs / 1000}s`);
    if (step.fault === 'kafka-stop') await services.kafkaStop();
    else services.kafkaHang();
    await sleep(Math.max(0, appliedAt + step.downMs - at()));
    if (step.fault === 'kafka-stop') await services.kafkaStart();
    else services.kafkaResume();
    applied.push({ fault: step.fault, atMs: appliedAt, restoredAtMs: at() });
  };
  const lane = async (steps: readonly WorkerChaosStep[], apply: (s: WorkerChaosStep) => Promise<void>): Promise<void> => {
    for (const step of steps) {
      await sleep(Math.max(0, step.atMs - at()));
      try {
        await apply(step);
      } catch (err) {
        throw new StepError(`applying ${step.fault} (planned at +${step.atMs} ms): ${(err as Error).message}`);
      }
    }
  };
  const inputLane = async (): Promise<void> => {
    const gap = (s.loadMs - 8000) / CHUNKS.length;
    for (const [i, c] of CHUNKS.entries()) {
      await sleep(Math.max(0, i * gap - at()));
      await setup.send(c, Date.now() + 120_000);
    }
    log(`  +${(at() / 1000).toFixed(1)}s input complete (${CHUNKS.length} chunks)`);
  };

  try {
    await setup.keys();
    for (let i = 0; i < s.workers; i++) add();
    t1 = Date.now();
    const outcomes = await Promise.allSettled([
      inputLane(),
      lane(s.steps.filter((x) => WORKER_FAULTS[x.fault].target === 'worker'), applyWorker),
      lane(s.steps.filter((x) => WORKER_FAULTS[x.fault].target === 'kafka'), applyKafka),
    ]);
    await Promise.all(restores);
    const failed = outcomes.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    applied.sort((a, b) => a.atMs - b.atMs);
    const dead = members.filter((m) => m.state === 'running' && m.child?.exited() === true);
    if (dead.length > 0) throw new StepError(`worker ${dead.map((m) => m.name).join(', ')} exited on its own; its log:\n${dead[0]?.child?.tail() ?? ''}`);
    log(`  +${(at() / 1000).toFixed(1)}s faults done; comparing the derived stream with the reference`);
    final = await setup.results(o.reference, SETTLE_MS);
    diffs = differences(o.reference, summarise(final));
    for (const m of members.filter((x) => x.state === 'running')) {
      // A worker restarted moments ago may still be loading; a started one must stop cleanly.
      await m.child?.waitForLine((l) => logged(l, 'worker started'), 90_000, '"worker started"');
      m.state = 'gone';
      const code = await stopMember(m, 'SIGTERM');
      if (code !== 0) throw new StepError(`${m.name} exited with ${String(code)} on the final SIGTERM`);
    }
  } catch (err) {
    error = err instanceof StepError ? err.message : `${(err as Error).message}\n${(err as Error).stack ?? ''}`;
    log(`  FAILED: ${error}`);
  } finally {
    await Promise.allSettled(restores);
    for (const m of members) await m.child?.destroy();
    await services.kafkaUp().catch((e: unknown) => log(`  could not bring Kafka back: ${String(e)}`));
    await deleteTopics(services.brokers, setup.prefix);
  }
  // Partitions restored, per "state restored" line: `fromLocalStore` of them from the local store (plus the changelog tail), the rest from the changelog alone.
  const restoreLines = members.flatMap((m) => readLines(join(dir, `${m.name}.log`))).map((l) => logged(l, 'state restored')).filter((x) => x !== undefined);
  const local = restoreLines.reduce((n, x) => n + Number(x.fromLocalStore ?? 0), 0);
  const restored = restoreLines.reduce((n, x) => n + (Array.isArray(x.partitions) ? x.partitions.length : 0), 0);
  const ok = error === undefined && diffs.length === 0 && applied.length === s.steps.length;
  if (ok && o.keep !== true) rmSync(dir, { recursive: true, force: true });
  return {
    seed: s.seed, schedule: s, ok, ...(error !== undefined ? { error } : {}),
    faultsPlanned: s.steps.length, faults: applied, keys: final.size, revised: [...final.values()].filter((r) => r.revision > 0).length,
    differences: diffs.slice(0, 20),
    restores: { local, changelog: restored - local },
    durationMs: Date.now() - t0, dir,
  };
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** One line per worker schedule: what it did and whether the results matched. */
export function describeWorkerResult(r: WorkerRunResult): string {
  return `seed ${r.seed}: ${r.ok ? 'PASS' : 'FAIL'} — ${r.schedule.workers} workers, faults ${r.faults.length}/${r.faultsPlanned} (${r.faults.map((f) => f.fault + (f.worker ? `@${f.worker}` : '')).join(', ')}); results ${r.keys} (${r.revised} revised), ${r.differences.length === 0 ? 'identical to one uninterrupted worker' : `${r.differences.length}${r.differences.length === 20 ? '+' : ''} differ from it`}; partitions restored ${r.restores.local} from the local store, ${r.restores.changelog} from the changelog; ${(r.durationMs / 1000).toFixed(0)} s${r.error !== undefined ? `; error: ${r.error}` : ''}`;
}
