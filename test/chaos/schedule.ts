import { Prng } from '../../src/sim/prng';

/**
 * A chaos schedule is data: a seed draws it, JSON keeps it, and a saved schedule replays
 * exactly the same faults at the same offsets (`npm run chaos -- --schedule file.json`).
 */

/** The faults a schedule draws from; each names the process it hits. */
export const FAULTS = {
  /** SIGKILL the gateway; restart it on the same data dir after `downMs`. */
  'gateway-kill': { target: 'gateway', weight: 3 },
  /** SIGTERM the gateway (graceful stop); restart it after `downMs`. */
  'gateway-term': { target: 'gateway', weight: 2 },
  /** SIGTERM the gateway and start it again at once (an upgrade). */
  'gateway-restart': { target: 'gateway', weight: 1 },
  /** Stop the gateway for longer than the broker's queue for it lasts (max_queued_messages overflows). */
  'gateway-away': { target: 'gateway', weight: 1 },
  /** Stop Kafka (a refusal: connections fail); start it again on the same data after `downMs`. */
  'kafka-stop': { target: 'kafka', weight: 2 },
  /** SIGSTOP Kafka (a hang: connections stay open, nothing answers); SIGCONT after `downMs`. */
  'kafka-hang': { target: 'kafka', weight: 2 },
  /** Stop Mosquitto gracefully (it saves its persistent sessions) and start it again on the same port after `downMs`. */
  'mosquitto-restart': { target: 'mosquitto', weight: 2 },
  /** 3-node cluster only: SIGKILL the leader of a busy partition (a broker crash, a leader change); restart it after `downMs`. */
  'kafka-broker-kill': { target: 'kafka', weight: 3 },
} as const;

/** Faults that need a Kafka cluster (`kafkaNodes: 3`); on a cluster, kafka-stop and kafka-hang hit that leader's node only. */
export const CLUSTER_FAULTS: readonly FaultKind[] = ['kafka-broker-kill'];

export type FaultKind = keyof typeof FAULTS;
export type FaultTarget = (typeof FAULTS)[FaultKind]['target'];

export interface ChaosStep {
  /** When to apply the fault, ms after the load started. */
  readonly atMs: number;
  readonly fault: FaultKind;
  /** How long the process stays down (or hung) before it is restored. */
  readonly downMs: number;
}

export interface ChaosSchedule {
  readonly version: 1;
  /** The seed that drew it (informational for a hand-written schedule). */
  readonly seed: number;
  /** How long the devices publish, ms (extended until the last fault is restored). */
  readonly loadMs: number;
  readonly devices: number;
  /** Frames per second each device publishes. */
  readonly framesPerSecond: number;
  /** `gateway.spoolBudgetBytes` of the run: small ones bring the spool near full during Kafka outages. */
  readonly spoolBudgetBytes: number;
  /** Mosquitto's `max_queued_messages` for the gateway's offline session. */
  readonly maxQueuedMessages: number;
  /** 1: a single Kafka (stop and hang take all of Kafka away); 3: a KRaft cluster, RF 3, min ISR 2 (faults hit one broker). Default 1. */
  readonly kafkaNodes?: 1 | 3;
  readonly steps: readonly ChaosStep[];
}

/** What `generateSchedule` may vary. */
export interface ScheduleOptions {
  readonly loadMs?: number;
  readonly devices?: number;
  readonly framesPerSecond?: number;
  readonly minFaults?: number;
  readonly maxFaults?: number;
  readonly maxQueuedMessages?: number;
  /** Fault kinds to draw from (default: all that the Kafka mode allows). */
  readonly faults?: readonly FaultKind[];
  /** Run against a 3-node Kafka cluster. Default false. */
  readonly cluster?: boolean;
}

const MIB = 1024 * 1024;

/**
 * Draws a schedule from `seed`: 5-8 faults (by default) at random offsets during the load, on
 * any process, overlapping across processes (a gateway killed during a Kafka outage is the
 * combination that matters) but never twice at once on one process.
 */
export function generateSchedule(seed: number, o: ScheduleOptions = {}): ChaosSchedule {
  const rng = new Prng(seed);
  const loadMs = o.loadMs ?? 60_000;
  const devices = o.devices ?? 6;
  const framesPerSecond = o.framesPerSecond ?? 50;
  const maxQueuedMessages = o.maxQueuedMessages ?? 5000;
  const kinds = (o.faults ?? (Object.keys(FAULTS) as FaultKind[])).filter((k) => o.cluster === true || !CLUSTER_FAULTS.includes(k));
  if (kinds.length === 0) throw new Error(`no fault kind left to draw from (${(o.faults ?? []).join(', ')} need a cluster: --cluster)`);
  const count = rng.int(o.minFaults ?? 5, o.maxFaults ?? 8);
  // Half the runs get a spool that the longest Kafka outage with a gateway backlog brings
  // near full (about 450 bytes a frame at the default load: 4-6 MiB hold 30-45 s of it).
  const spoolBudgetBytes = rng.chance(0.5) ? 256 * MIB : 4 * MIB + rng.int(0, 4) * (MIB / 2);
  // Long enough that the broker's queue for the gateway overflows at the offered rate.
  const awayMs = Math.ceil(((maxQueuedMessages / (devices * framesPerSecond)) * 1.5 + 2) * 1000);
  const busyUntil: Record<FaultTarget, number> = { gateway: 0, kafka: 0, mosquitto: 0 };
  const slot = (loadMs - 10_000) / count;
  const steps: ChaosStep[] = [];
  for (let i = 0; i < count; i++) {
    const fault = rng.weighted(kinds, kinds.map((k) => FAULTS[k].weight));
    const downMs = downTime(fault, rng, awayMs);
    const target = FAULTS[fault].target;
    const atMs = Math.max(Math.round(5000 + slot * i + rng.range(0, slot)), busyUntil[target] + 1000);
    busyUntil[target] = atMs + downMs;
    steps.push({ atMs, fault, downMs });
  }
  steps.sort((a, b) => a.atMs - b.atMs);
  return { version: 1, seed, loadMs, devices, framesPerSecond, spoolBudgetBytes, maxQueuedMessages, ...(o.cluster === true ? { kafkaNodes: 3 as const } : {}), steps };
}

function downTime(fault: FaultKind, rng: Prng, awayMs: number): number {
  switch (fault) {
    case 'gateway-kill':
    case 'gateway-term':
      return rng.int(1, 5) * 1000;
    case 'gateway-restart':
      return 0;
    case 'gateway-away':
      return awayMs;
    case 'kafka-stop':
      return rng.int(3, 12) * 1000;
    case 'kafka-hang':
      return rng.int(3, 10) * 1000;
    case 'kafka-broker-kill':
      return rng.int(2, 10) * 1000;
    case 'mosquitto-restart':
      return rng.int(0, 3) * 1000;
  }
}

/** Checks a schedule read from JSON; names what is wrong. */
export function parseSchedule(raw: unknown, source: string): ChaosSchedule {
  const bad = (what: string): Error => new Error(`${source}: not a chaos schedule: ${what}`);
  if (typeof raw !== 'object' || raw === null) throw bad('not an object');
  const s = raw as Record<string, unknown>;
  if (s.version !== 1) throw bad('version must be 1');
  for (const k of ['seed', 'loadMs', 'devices', 'framesPerSecond', 'spoolBudgetBytes', 'maxQueuedMessages'] as const) {
    if (typeof s[k] !== 'number' || !Number.isInteger(s[k]) || (s[k] as number) < 0) throw bad(`${k} must be a non-negative integer`);
  }
  if (s.kafkaNodes !== undefined && s.kafkaNodes !== 1 && s.kafkaNodes !== 3) throw bad('kafkaNodes must be 1 or 3');
  if (!Array.isArray(s.steps)) throw bad('steps must be an array');
  s.steps.forEach((st: unknown, i) => {
    const step = st as Record<string, unknown>;
    if (typeof step !== 'object' || step === null) throw bad(`steps[${i}] is not an object`);
    if (typeof step.fault !== 'string' || !Object.prototype.hasOwnProperty.call(FAULTS, step.fault)) throw bad(`steps[${i}].fault must be one of ${Object.keys(FAULTS).join(', ')}`);
    for (const k of ['atMs', 'downMs'] as const) if (typeof step[k] !== 'number' || (step[k] as number) < 0) throw bad(`steps[${i}].${k} must be a non-negative number`);
    if (CLUSTER_FAULTS.includes(step.fault as FaultKind) && s.kafkaNodes !== 3) throw bad(`steps[${i}].fault ${String(step.fault)} needs kafkaNodes: 3`);
  });
  return raw as ChaosSchedule;
}
