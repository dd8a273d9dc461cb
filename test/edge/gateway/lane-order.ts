import type { BusProducer, OutgoingMessage } from '../../../src/bus';
import { VigilError } from '../../../src/errors';
import type { Admission, Admitted } from '../../../src/edge/admission';
import { Gateway } from '../../../src/edge/gateway';
import { MemorySpool, type SpoolEntry } from '../../../src/edge/spool';
import { MemoryReplayStore } from '../../../src/replay';
import { generateStreamKey } from '../../../src/crypto';
import { Prng } from '../../../src/sim/prng';

/**
 * Issue 16's property: with several Kafka lanes in flight, PUBACKs still follow durability
 * and no frame of a device becomes durable ahead of an earlier one, through any interleaving
 * of send outcomes — succeeded, failed (nothing written), lost answer (written, but the
 * gateway is told it failed) — and the direct → spool → direct switches they cause.
 *
 * A schedule is drawn from a seed: lanes, devices, frames arriving in bursts, and for every
 * request each producer makes, its outcome and how long it takes. "Kafka" is one append-only
 * log; the spool is the real `MemorySpool`; admission is a stand-in that admits everything (the
 * crypto is not what is under test, and it would make 100,000 schedules take hours).
 */
export interface LaneOrderResult {
  readonly seed: number;
  readonly lanes: number;
  readonly frames: number;
  readonly requests: number;
  readonly failed: number;
  readonly lost: number;
  readonly spooled: number;
  /** Violations found; empty when the property holds. */
  readonly violations: readonly string[];
}

type Outcome = 'ok' | 'fail' | 'lost';

/** Yields to the event loop `n` times (setImmediate), so sends and arrivals interleave. */
async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A producer in front of the shared log: one request at a time (as the idempotent Kafka producer), each with a drawn outcome. */
class ScriptedProducer implements BusProducer {
  private chain: Promise<void> = Promise.resolve();
  constructor(
    private readonly write: (r: { deviceId: string; seq: number }) => void,
    private readonly draw: () => { outcome: Outcome; ticks: number },
    private readonly stats: { requests: number; failed: number; lost: number },
  ) {}

  send(_topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    const run = this.chain.then(async () => {
      const { outcome, ticks: t } = this.draw();
      this.stats.requests++;
      await ticks(t);
      if (outcome !== 'fail') for (const m of messages) this.write(JSON.parse(String(m.key)) as { deviceId: string; seq: number });
      if (outcome === 'ok') return;
      this.stats[outcome === 'fail' ? 'failed' : 'lost']++;
      throw new VigilError('VIGIL_E_BUS_UNAVAILABLE', `scripted ${outcome === 'fail' ? 'failure' : 'lost answer'}`);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  flush(): Promise<void> {
    return this.chain;
  }

  close(): Promise<void> {
    return this.chain;
  }
}

/** Runs one seeded schedule and checks the property. */
export async function runLaneOrderSchedule(seed: number): Promise<LaneOrderResult> {
  const rng = new Prng(seed);
  const lanes = rng.int(1, 5);
  const devices = Array.from({ length: rng.int(1, 8) }, (_, i) => `dev-${i}`);
  const frames = rng.int(10, 120);
  // Outage-prone or mostly healthy: both matter.
  const pFail = rng.chance(0.5) ? rng.range(0, 0.4) : rng.range(0, 0.08);
  const pLost = rng.range(0, 0.2);
  let healthy = false;
  const draw = (): { outcome: Outcome; ticks: number } => {
    const t = rng.int(0, 6);
    if (healthy) return { outcome: 'ok', ticks: t };
    const x = rng.next();
    return { outcome: x < pFail ? 'fail' : x < pFail + pLost ? 'lost' : 'ok', ticks: t };
  };
  /** "Kafka": every record written, in write order. */
  const log: Array<{ deviceId: string; seq: number }> = [];
  /** Frames durable somewhere (the log or the spool). */
  const durable = new Set<string>();
  const write = (r: { deviceId: string; seq: number }): void => {
    log.push(r);
    durable.add(`${r.deviceId}#${r.seq}`);
  };
  const stats = { requests: 0, failed: 0, lost: 0 };
  const producers = Array.from({ length: lanes }, () => new ScriptedProducer(write, draw, stats));
  const nextSeq = new Map<string, number>();
  const admission = {
    admit: (payload: Uint8Array): Admitted => {
      const [deviceId, seq] = JSON.parse(Buffer.from(payload).toString()) as [string, number];
      return { ok: true, deviceId, epoch: 1, seq: BigInt(seq), eventTimeMs: 0, priority: 'routine', readings: 1, records: [{ topic: 'telemetry.power', key: JSON.stringify({ deviceId, seq }), keyId: 'k', value: new Uint8Array(8) }] };
    },
    commit: () => true,
  } as unknown as Admission;
  /** The real memory spool, noting what it made durable. */
  class RecordingSpool extends MemorySpool {
    override async append(entries: readonly SpoolEntry[]): Promise<void> {
      await super.append(entries);
      for (const e of entries) {
        const k = JSON.parse(String(e.key)) as { deviceId: string; seq: number };
        durable.add(`${k.deviceId}#${k.seq}`);
      }
    }
  }
  const spool = new RecordingSpool({ budgetBytes: 64 * 1024 * 1024 });
  const gateway = new Gateway({ gatewayId: 'gw-prop', admission, producer: producers, spool, replay: new MemoryReplayStore(), rejectionKey: () => KEY, drain: { retryMinMs: 1, retryMaxMs: 2, pollMs: 1, maxEntries: rng.int(1, 20) } });
  const acked: Array<{ deviceId: string; seq: number }> = [];
  const violations: string[] = [];
  try {
    for (let i = 0; i < frames; ) {
      const burst = rng.int(1, 12);
      for (let j = 0; j < burst && i < frames; j++, i++) {
        const deviceId = devices[rng.int(0, devices.length - 1)] as string;
        const seq = (nextSeq.get(deviceId) ?? 0) + 1;
        nextSeq.set(deviceId, seq);
        const ackedAt = { deviceId, seq };
        gateway.handle(`vigil/v1/t/u/${deviceId}/telemetry`, Buffer.from(JSON.stringify([deviceId, seq])), () => {
          // Acknowledged: it must be durable already — in the log, or in the spool.
          if (!durable.has(`${deviceId}#${seq}`)) violations.push(`${deviceId}#${seq} acknowledged before it was durable`);
          acked.push(ackedAt);
        });
      }
      await ticks(rng.int(0, 8));
    }
    // The outage ends: everything must drain and the gateway write directly again.
    healthy = true;
    await gateway.drained();
    for (let i = 0; i < 20_000 && (gateway.stats().mode !== 'direct' || spool.stats().entries > 0); i++) await new Promise((r) => setTimeout(r, 1));
    if (gateway.stats().mode !== 'direct' || spool.stats().entries > 0) violations.push(`did not drain: mode ${gateway.stats().mode}, ${spool.stats().entries} spool entries`);
  } finally {
    await gateway.close();
  }
  if (acked.length !== frames) violations.push(`${acked.length} of ${frames} frames acknowledged`);
  // Per device, first occurrences in the log are in sequence order, and every frame is there.
  const seen = new Set<string>();
  const last = new Map<string, number>();
  for (const r of log) {
    const id = `${r.deviceId}#${r.seq}`;
    if (seen.has(id)) continue; // a duplicate (a lost answer resent): allowed
    seen.add(id);
    const prev = last.get(r.deviceId) ?? 0;
    if (r.seq !== prev + 1) violations.push(`${r.deviceId}: #${r.seq} durable after #${prev}`);
    last.set(r.deviceId, r.seq);
  }
  for (const [d, n] of nextSeq) if ((last.get(d) ?? 0) !== n) violations.push(`${d}: ${last.get(d) ?? 0} of ${n} frames in Kafka`);
  return { seed, lanes, frames, requests: stats.requests, failed: stats.failed, lost: stats.lost, spooled: gateway.stats().spooledFrames, violations: violations.slice(0, 10) };
}

const KEY = generateStreamKey('telemetry-prop');
