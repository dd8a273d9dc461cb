import { Prng } from '../../src/sim/prng';

/**
 * A worker chaos schedule (issue 11): the same idea as `schedule.ts` for the gateway, aimed at
 * the pipeline workers of one pipeline: a seed draws faults on workers and Kafka while input
 * arrives, JSON keeps the schedule, and a saved one replays the same faults at the same offsets.
 */
export const WORKER_FAULTS = {
  /** SIGKILL one running worker; restart it on its own state folder after `downMs`. */
  'worker-kill': { target: 'worker', weight: 3 },
  /** SIGKILL one running worker and delete its state folder (a lost disk); restart it after `downMs`: restore from the changelog only. */
  'worker-wipe': { target: 'worker', weight: 2 },
  /** SIGTERM one running worker (last checkpoint, leaves the group); restart it after `downMs`. */
  'worker-term': { target: 'worker', weight: 2 },
  /** A new worker joins the group (a rebalance moves partitions to it); it stays. */
  'worker-join': { target: 'worker', weight: 1 },
  /** SIGTERM one running worker for good (its partitions move to the others). Never the last worker. */
  'worker-leave': { target: 'worker', weight: 1 },
  /** Stop Kafka (connections refused); start it again on the same data after `downMs`. */
  'kafka-stop': { target: 'kafka', weight: 1 },
  /** SIGSTOP Kafka (a hang); SIGCONT after `downMs`. */
  'kafka-hang': { target: 'kafka', weight: 1 },
} as const;

export type WorkerFaultKind = keyof typeof WORKER_FAULTS;

export interface WorkerChaosStep {
  /** When to apply the fault, ms after the input started. */
  readonly atMs: number;
  readonly fault: WorkerFaultKind;
  /** How long the worker (or Kafka) stays down; 0 for join and leave. */
  readonly downMs: number;
  /** Which running worker it hits: `pick % running workers` at that moment (workers in start order). */
  readonly pick: number;
}

export interface WorkerChaosSchedule {
  readonly version: 1;
  readonly kind: 'workers';
  readonly seed: number;
  /** Over how long the input arrives, ms (the same input for every seed). */
  readonly loadMs: number;
  /** Workers started before the input (2 or 3). */
  readonly workers: number;
  readonly steps: readonly WorkerChaosStep[];
}

export interface WorkerScheduleOptions {
  readonly loadMs?: number;
  readonly minFaults?: number;
  readonly maxFaults?: number;
  readonly faults?: readonly WorkerFaultKind[];
}

/**
 * Draws a schedule from `seed`: 5-8 faults (by default) during the input. Worker faults may
 * overlap each other (a second worker killed while the first is still down, a join during a
 * restore) and Kafka's (a worker killed while Kafka hangs); Kafka faults never overlap each
 * other. `worker-leave` is drawn only while more than one worker would remain.
 */
export function generateWorkerSchedule(seed: number, o: WorkerScheduleOptions = {}): WorkerChaosSchedule {
  const rng = new Prng(seed);
  const loadMs = o.loadMs ?? 60_000;
  const all = o.faults ?? (Object.keys(WORKER_FAULTS) as WorkerFaultKind[]);
  if (all.length === 0) throw new Error('no worker fault kind to draw from');
  const workers = rng.int(2, 3);
  const count = rng.int(o.minFaults ?? 5, o.maxFaults ?? 8);
  const slot = (loadMs - 8000) / count;
  let members = workers;
  let kafkaBusyUntil = 0;
  const steps: WorkerChaosStep[] = [];
  for (let i = 0; i < count; i++) {
    const kinds = all.filter((k) => k !== 'worker-leave' || members > 1);
    if (kinds.length === 0) throw new Error(`no fault kind left to draw from: ${all.join(', ')} (a leave needs two workers)`);
    const fault = rng.weighted(kinds, kinds.map((k) => WORKER_FAULTS[k].weight));
    const downMs = fault === 'worker-join' || fault === 'worker-leave' ? 0 : fault.startsWith('kafka') ? rng.int(3, 10) * 1000 : rng.int(1, 8) * 1000;
    let atMs = Math.round(4000 + slot * i + rng.range(0, slot));
    if (WORKER_FAULTS[fault].target === 'kafka') {
      atMs = Math.max(atMs, kafkaBusyUntil + 1000);
      kafkaBusyUntil = atMs + downMs;
    }
    if (fault === 'worker-join') members++;
    if (fault === 'worker-leave') members--;
    steps.push({ atMs, fault, downMs, pick: rng.int(0, 999) });
  }
  steps.sort((a, b) => a.atMs - b.atMs);
  return { version: 1, kind: 'workers', seed, loadMs, workers, steps };
}

/** Checks a worker schedule read from JSON; names what is wrong. */
export function parseWorkerSchedule(raw: unknown, source: string): WorkerChaosSchedule {
  const bad = (what: string): Error => new Error(`${source}: not a worker chaos schedule: ${what}`);
  if (typeof raw !== 'object' || raw === null) throw bad('not an object');
  const s = raw as Record<string, unknown>;
  if (s.version !== 1) throw bad('version must be 1');
  if (s.kind !== 'workers') throw bad('kind must be "workers"');
  for (const k of ['seed', 'loadMs', 'workers'] as const) {
    if (typeof s[k] !== 'number' || !Number.isInteger(s[k]) || (s[k] as number) < 0) throw bad(`${k} must be a non-negative integer`);
  }
  if ((s.workers as number) < 1) throw bad('workers must be at least 1');
  if (!Array.isArray(s.steps)) throw bad('steps must be an array');
  s.steps.forEach((st: unknown, i) => {
    if (typeof st !== 'object' || st === null) throw bad(`steps[${i}] is not an object`);
    const step = st as Record<string, unknown>;
    if (typeof step.fault !== 'string' || !Object.prototype.hasOwnProperty.call(WORKER_FAULTS, step.fault)) throw bad(`steps[${i}].fault must be one of ${Object.keys(WORKER_FAULTS).join(', ')}`);
    for (const k of ['atMs', 'downMs', 'pick'] as const) if (typeof step[k] !== 'number' || (step[k] as number) < 0) throw bad(`steps[${i}].${k} must be a non-negative number`);
  });
  return raw as WorkerChaosSchedule;
}
