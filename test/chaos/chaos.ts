/**
 * `npm run chaos`: seeded random fault schedules against real processes (see README.md in
 * this folder).
 *
 *   npm run chaos                              # one random seed
 *   npm run chaos -- --seed 42                 # replay seed 42 (a failing run prints its seed)
 *   npm run chaos -- --schedule saved.json     # run a saved schedule
 *   npm run chaos -- --duration 30m            # random seeds for 30 minutes, then a summary
 *   npm run chaos -- --workers --seed 2        # pipeline workers instead of the gateway (issue 11):
 *                                              # worker SIGKILL/SIGTERM/lost disk/join/leave, Kafka stop and hang;
 *                                              # the results must equal one uninterrupted worker's
 *   options: --load 60s (load per schedule), --faults kafka-stop,gateway-kill (kinds to draw),
 *            --cluster (a 3-node Kafka: broker kills and leader changes; Kafka faults hit one broker),
 *            --json (summary as JSON only on stdout), --keep (keep every run's folder)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSchedule, type ScheduleResult } from './run-schedule';
import { FAULTS, generateSchedule, parseSchedule, type ChaosSchedule, type FaultKind } from './schedule';
import { ChaosServices } from './services';
import { describeWorkerResult, referenceResults, runWorkerSchedule, type Results, type WorkerRunResult } from './run-worker-schedule';
import { generateWorkerSchedule, parseWorkerSchedule, WORKER_FAULTS, type WorkerChaosSchedule, type WorkerFaultKind } from './worker-schedule';

interface Args {
  seeds: number[];
  schedule?: string;
  durationMs?: number;
  loadMs?: number;
  faults?: FaultKind[];
  workerFaults?: WorkerFaultKind[];
  workers: boolean;
  json: boolean;
  keep: boolean;
  cluster: boolean;
}

function duration(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v);
  if (!m) throw new Error(`${flag}: expected a duration like 90s, 30m or 2h, got ${JSON.stringify(v)}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { seeds: [], json: false, keep: false, cluster: false, workers: argv.includes('--workers') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--seed') a.seeds.push(...value().split(',').map((s) => {
      if (!/^\d{1,10}$/.test(s)) throw new Error(`--seed: expected a non-negative integer, got ${JSON.stringify(s)}`);
      return Number(s);
    }));
    else if (flag === '--schedule') a.schedule = value();
    else if (flag === '--duration') a.durationMs = duration(value(), flag);
    else if (flag === '--load') a.loadMs = duration(value(), flag);
    else if (flag === '--faults' && a.workers) {
      a.workerFaults = value().split(',').map((f) => {
        if (!Object.prototype.hasOwnProperty.call(WORKER_FAULTS, f)) throw new Error(`--faults: unknown worker fault ${JSON.stringify(f)}; known: ${Object.keys(WORKER_FAULTS).join(', ')}`);
        return f as WorkerFaultKind;
      });
    } else if (flag === '--faults') {
      a.faults = value().split(',').map((f) => {
        if (!Object.prototype.hasOwnProperty.call(FAULTS, f)) throw new Error(`--faults: unknown fault ${JSON.stringify(f)}; known: ${Object.keys(FAULTS).join(', ')}`);
        return f as FaultKind;
      });
    } else if (flag === '--json') a.json = true;
    else if (flag === '--keep') a.keep = true;
    else if (flag === '--cluster') a.cluster = true;
    else if (flag === '--workers') a.workers = true;
    else throw new Error(`unknown option ${flag}; see the header of test/chaos/chaos.ts`);
  }
  return a;
}

/** One line per schedule: what it did and what the audit found. */
export function describeResult(r: ScheduleResult): string {
  const t = r.totals;
  const audit =
    t === undefined
      ? 'no audit'
      : `acked ${t.acknowledged}, stored ${t.stored}, lost ${t.lost}, out of order ${t.outOfOrder - t.outOfOrderResent - t.outOfOrderUnacknowledged} (+${t.outOfOrderResent} resent, +${t.outOfOrderUnacknowledged} never acknowledged, late), duplicates ${t.duplicates}`;
  const extra = [
    r.gatewayShed > 0 ? `gateway shed ${r.gatewayShed}` : '',
    r.spoolPeakBytes > 0 ? `spool peak ${Math.round((100 * r.spoolPeakBytes) / r.schedule.spoolBudgetBytes)}% of ${(r.schedule.spoolBudgetBytes / 1048576).toFixed(2)} MiB` : '',
    r.settled ? '' : `NOT settled (spool entries ${r.spoolEntriesAtAudit ?? '?'})`,
  ].filter((x) => x.length > 0);
  return `seed ${r.seed}: ${r.ok ? 'PASS' : 'FAIL'} — faults ${r.faults.length}/${r.faultsPlanned} (${r.faults.map((f) => f.fault).join(', ')}); ${audit}${extra.length ? '; ' + extra.join('; ') : ''}; ${(r.durationMs / 1000).toFixed(0)} s`;
}

/** The lines that make a failure reproducible: its seed, its schedule, how to replay it. */
export function replayHint(r: ScheduleResult, file: string): string {
  const lost = (r.devices ?? [])
    .filter((d) => d.lost > 0 || d.outOfOrder > 0)
    .map((d) => {
      const ranges = d.lostRanges.map((x) => `${x.first}..${x.last} (${x.count})`).join(', ');
      // Examples of frames sent once first: those are the failures.
      const examples = [...d.outOfOrderRecords].sort((a, b) => Number(b.sent === 'sent-once') - Number(a.sent === 'sent-once'));
      const late = examples.slice(0, 3).map((x) => `${x.seq} after ${x.after} at ${x.topic}[${x.partition}]@${x.offset}${x.sent !== undefined && x.sent !== 'sent-once' ? ` (${x.sent})` : ''}`).join(', ');
      const excused = `${d.outOfOrderResent > 0 ? `, ${d.outOfOrderResent} of them resent` : ''}${d.outOfOrderUnacknowledged > 0 ? `, ${d.outOfOrderUnacknowledged} never acknowledged` : ''}`;
      return `  ${d.deviceId}: lost ${d.lost}${ranges ? ` (${ranges})` : ''}; out of order ${d.outOfOrder}${excused}${late ? ` (${late})` : ''}`;
    });
  return [
    ...(r.error !== undefined ? [`  error: ${r.error}`] : []),
    ...lost,
    `  schedule: ${JSON.stringify(r.schedule)}`,
    `  replay: npm run chaos -- --seed ${r.seed}   (or: npm run chaos -- --schedule ${file})`,
    `  logs: ${r.dir}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const say = (line: string): void => void (args.json ? process.stderr : process.stdout).write(line + '\n');
  const services = new ChaosServices(say);
  const stop = (): void => {
    say('interrupted: stopping the brokers');
    void services.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (args.workers) return workersMain(args, services, say);
  const opts = { ...(args.loadMs !== undefined ? { loadMs: args.loadMs } : {}), ...(args.faults !== undefined ? { faults: args.faults } : {}), cluster: args.cluster };
  const saved = args.schedule !== undefined ? parseSchedule(JSON.parse(readFileSync(args.schedule, 'utf8')), args.schedule) : undefined;
  const deadline = args.durationMs !== undefined ? Date.now() + args.durationMs : undefined;
  let nextSeed = args.seeds.length > 0 ? undefined : (Date.now() % 1_000_000_000);
  const queue: ChaosSchedule[] = saved !== undefined ? [saved] : args.seeds.map((s) => generateSchedule(s, opts));
  const results: ScheduleResult[] = [];
  const t0 = Date.now();
  try {
    for (;;) {
      let s = queue.shift();
      if (s === undefined && nextSeed !== undefined && (results.length === 0 || (deadline !== undefined && Date.now() < deadline))) s = generateSchedule(nextSeed++, opts);
      if (s === undefined) break;
      say(`seed ${s.seed}: ${s.steps.length} faults over ${s.loadMs / 1000} s of load, ${s.devices} devices × ${s.framesPerSecond} frames/s, spool budget ${(s.spoolBudgetBytes / 1048576).toFixed(2)} MiB, broker queue ${s.maxQueuedMessages}, kafka ${s.kafkaNodes === 3 ? '3-node cluster' : 'single node'}`);
      const r = await runSchedule(s, { services, log: say, keep: args.keep });
      results.push(r);
      say(describeResult(r));
      if (!r.ok) {
        const file = join(r.dir, 'schedule.json');
        writeFileSync(file, JSON.stringify(r.schedule, null, 2) + '\n');
        say(replayHint(r, file));
      }
      if (deadline !== undefined) say(`progress: ${results.length} schedules, ${results.filter((x) => !x.ok).length} failed, ${Math.max(0, Math.round((deadline - Date.now()) / 60_000))} min left`);
    }
  } finally {
    await services.down();
  }
  const sum = (f: (r: ScheduleResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const summary = {
    schedules: results.length,
    passed: results.filter((r) => r.ok).length,
    failed: results.filter((r) => !r.ok).map((r) => r.seed),
    faultsApplied: sum((r) => r.faults.length),
    faultsPlanned: sum((r) => r.faultsPlanned),
    acked: sum((r) => r.totals?.acknowledged ?? 0),
    lost: sum((r) => r.totals?.lost ?? 0),
    outOfOrder: sum((r) => (r.totals?.outOfOrder ?? 0) - (r.totals?.outOfOrderResent ?? 0) - (r.totals?.outOfOrderUnacknowledged ?? 0)),
    lateResent: sum((r) => r.totals?.outOfOrderResent ?? 0),
    lateUnacknowledged: sum((r) => r.totals?.outOfOrderUnacknowledged ?? 0),
    duplicates: sum((r) => r.totals?.duplicates ?? 0),
    gatewayShed: sum((r) => r.gatewayShed),
    minutes: Math.round((Date.now() - t0) / 6000) / 10,
    seeds: results.map((r) => r.seed),
  };
  if (args.json) process.stdout.write(JSON.stringify({ summary, results: results.map((r) => ({ ...r, devices: undefined })) }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
  else say(`summary: ${JSON.stringify(summary)}`);
  return summary.failed.length === 0 ? 0 : 1;
}

/** `--workers`: worker schedules against one reference, computed once; the same seeds, duration and summary conventions. */
async function workersMain(args: Args, services: ChaosServices, say: (line: string) => void): Promise<number> {
  const opts = { ...(args.loadMs !== undefined ? { loadMs: args.loadMs } : {}), ...(args.workerFaults !== undefined ? { faults: args.workerFaults } : {}) };
  const saved = args.schedule !== undefined ? parseWorkerSchedule(JSON.parse(readFileSync(args.schedule, 'utf8')), args.schedule) : undefined;
  const deadline = args.durationMs !== undefined ? Date.now() + args.durationMs : undefined;
  let nextSeed = args.seeds.length > 0 ? undefined : Date.now() % 1_000_000_000;
  const queue: WorkerChaosSchedule[] = saved !== undefined ? [saved] : args.seeds.map((s) => generateWorkerSchedule(s, opts));
  const results: WorkerRunResult[] = [];
  const t0 = Date.now();
  let reference: Results;
  try {
    reference = await referenceResults(services, say);
    for (;;) {
      let s = queue.shift();
      if (s === undefined && nextSeed !== undefined && (results.length === 0 || (deadline !== undefined && Date.now() < deadline))) s = generateWorkerSchedule(nextSeed++, opts);
      if (s === undefined) break;
      say(`seed ${s.seed}: ${s.workers} workers, ${s.steps.length} faults over ${s.loadMs / 1000} s of input`);
      const r = await runWorkerSchedule(s, { services, reference, log: say, keep: args.keep });
      results.push(r);
      say(describeWorkerResult(r));
      if (!r.ok) {
        const file = join(r.dir, 'schedule.json');
        writeFileSync(file, JSON.stringify(r.schedule, null, 2) + '\n');
        say([...r.differences.slice(0, 5).map((d) => `  differs: ${d}`), `  schedule: ${JSON.stringify(r.schedule)}`, `  replay: npm run chaos -- --workers --seed ${r.seed}   (or: npm run chaos -- --workers --schedule ${file})`, `  logs: ${r.dir}`].join('\n'));
      }
      if (deadline !== undefined) say(`progress: ${results.length} schedules, ${results.filter((x) => !x.ok).length} failed, ${Math.max(0, Math.round((deadline - Date.now()) / 60_000))} min left`);
    }
  } finally {
    await services.down();
  }
  const summary = {
    schedules: results.length,
    passed: results.filter((r) => r.ok).length,
    failed: results.filter((r) => !r.ok).map((r) => r.seed),
    faultsApplied: results.reduce((n, r) => n + r.faults.length, 0),
    faultsPlanned: results.reduce((n, r) => n + r.faultsPlanned, 0),
    differences: results.reduce((n, r) => n + r.differences.length, 0),
    minutes: Math.round((Date.now() - t0) / 6000) / 10,
    seeds: results.map((r) => r.seed),
  };
  if (args.json) process.stdout.write(JSON.stringify({ summary, results }) + '\n');
  else say(`summary: ${JSON.stringify(summary)}`);
  return summary.failed.length === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
