import { Partitioners, type PartitionMetadata } from 'kafkajs';
import type { KafkaCluster } from '../../scripts/services';
import { KafkaBus, type Bus, type BusMessage, type BusProducer } from '../../src/bus';
import { startGateway, type RunningGateway } from '../../src/cli/gateway-runner';
import type { DeviceKeys } from '../../src/crypto';
import { DeviceClient } from '../../src/device';
import { openTelemetry, provisionGateway, readKafka, until, type GatewayFixture } from '../edge/gateway/gateway-fixture';
import { captureLog } from './log-lines';

/** One kill: which node led which partition, and how long until a write to it landed again. */
export interface KillRound {
  readonly round: number;
  readonly partition: number;
  readonly victim: number;
  /** The node that led the partition once writes resumed. */
  readonly newLeader: number;
  /** SIGKILL of the leader to the first write acknowledged by Kafka (acks=all) that carried a record for that partition. */
  readonly resumeMs: number;
  /** Time the restarted node took to log "Kafka Server started". */
  readonly restartMs: number;
  /** Frames published between the kill and the first write that landed after it. */
  readonly framesMeanwhile: number;
}

/** What a run of kills did to the frames the gateway acknowledged. */
export interface LeaderKillReport {
  readonly rounds: readonly KillRound[];
  readonly devices: number;
  /** Frames published, every one acknowledged by the gateway (the run waits for that). */
  readonly frames: number;
  /** Acknowledged frames not in Kafka. */
  readonly lost: number;
  /** Records in Kafka beyond the first of their frame (at-least-once allows them). */
  readonly duplicates: number;
  /** Devices whose frames, first occurrences taken, are not in publish order. */
  readonly outOfOrderDevices: readonly string[];
  /** Frames the gateway made durable in its spool instead of Kafka meanwhile. */
  readonly spooledFrames: number;
}

export interface LeaderKillOptions {
  /** A running cluster (`startKafkaCluster`); every node is running and in sync again when this returns. */
  readonly cluster: KafkaCluster;
  readonly mqttUrl: string;
  readonly rounds: number;
  /** Devices publishing, one reading a frame. Default 6. */
  readonly devices?: number;
  /** Frames a second over all devices. Default 300. */
  readonly rate?: number;
  /** How long the killed node stays down after writes resumed. Default 3,000 ms. */
  readonly downMs?: number;
  readonly log?: (line: string) => void;
}

const TOPIC = 'telemetry.metric';
const PARTITIONS = 3;

/** Notes when Kafka acknowledged a write for which keys, and wakes whoever waits for one. */
class WriteLog {
  private waiters: Array<{ after: number; keys: ReadonlySet<string>; resolve: (at: number) => void }> = [];

  wrap(bus: Bus): Bus {
    return {
      producer: (options) => {
        const p = bus.producer(options);
        const wrapped: BusProducer = {
          send: async (topic, messages) => {
            await p.send(topic, messages);
            if (topic === TOPIC) this.landed(messages.map((m) => (typeof m.key === 'string' ? m.key : Buffer.from(m.key ?? []).toString())));
          },
          flush: () => p.flush(),
          close: () => p.close(),
        };
        return wrapped;
      },
      consumer: (options) => bus.consumer(options),
      admin: () => bus.admin(),
      isConnected: () => bus.isConnected(),
      onConnectionChange: (l) => bus.onConnectionChange(l),
      close: () => bus.close(),
    };
  }

  /** Resolves with the time of the first write after `after` that carried one of `keys`. */
  firstAfter(after: number, keys: ReadonlySet<string>): Promise<number> {
    return new Promise((resolve) => this.waiters.push({ after, keys, resolve }));
  }

  private landed(keys: readonly string[]): void {
    const at = Date.now();
    this.waiters = this.waiters.filter((w) => {
      if (at <= w.after || !keys.some((k) => w.keys.has(k))) return true;
      w.resolve(at);
      return false;
    });
  }
}

/** The partition kafkajs's default (Java-compatible murmur2) partitioner puts `key` in. */
function partitionOf(key: string): number {
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, i) => ({ partitionId: i, leader: 0 }) as PartitionMetadata);
  return Partitioners.DefaultPartitioner()({ topic: TOPIC, partitionMetadata, message: { key, value: null } });
}

async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A real gateway (Kafka RF 3, min ISR 2, acks=all) under QoS1 load from a few devices while
 * the leader of the busiest telemetry partition is SIGKILLed, `rounds` times, each time
 * restarted once writes resumed. Then every acknowledged frame is looked for in Kafka.
 * Everything it starts (gateway, devices, bus, folders) is stopped before it returns or throws.
 */
export async function runLeaderKill(o: LeaderKillOptions): Promise<LeaderKillReport> {
  const { cluster } = o;
  const log = o.log ?? (() => undefined);
  const ids = Array.from({ length: o.devices ?? 6 }, (_, i) => `lk-${i}`);
  const rate = o.rate ?? 300;
  const { stream: logTail, lines: logLines } = captureLog();
  const writes = new WriteLog();
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  let fx: GatewayFixture | undefined;
  let gw: RunningGateway | undefined;
  try {
    fx = await provisionGateway({ kafkaBrokers: cluster.brokers, mqttUrl: o.mqttUrl, devices: ids.map((id) => ({ id, rate: { perSecond: 10_000, burst: 100_000 } })) });
    cleanups.push(() => fx?.cleanup());
    const cfg = { ...fx.config, log: { ...fx.config.log, level: 'info' as const }, kafka: { ...fx.config.kafka, partitions: PARTITIONS, replicationFactor: 3 } };
    const kafka = new KafkaBus({ brokers: cfg.kafka.brokers, clientId: `${cfg.kafka.clientId}-${cfg.gateway.id}`, sendTimeoutMs: cfg.kafka.sendTimeoutMs, replicationFactor: 3, logLevel: 'nothing' });
    cleanups.push(() => kafka.close());
    const started = await startGateway(cfg, { bus: writes.wrap(kafka), logStream: logTail });
    gw = started;
    cleanups.push(() => started.stop());
    await until(async () => (await fetch(`${started.http.url}/readyz`)).status === 200, 60_000, 'gateway ready');
    await until(async () => (await kafka.admin().describeTopic(TOPIC).catch(() => null)) !== null, 60_000, `${TOPIC} made by the gateway`);
    await cluster.waitInSync([TOPIC], 60_000);
    const fixture = fx;
    const devices = await Promise.all(
      ids.map((id) => DeviceClient.connect({ keys: fixture.devices.get(id) as DeviceKeys, ingestPublicKey: fixture.ingest.box.publicKey, theatre: fixture.theatre, unit: 'u1', mqttUrl: o.mqttUrl, maxReadingsPerFrame: 1, lingerMs: 0 })),
    );
    cleanups.push(() => Promise.all(devices.map((d) => d.close(5000))));

    // A steady schedule: `rate` frames/s over the devices in turn; frame i of a device carries i.
    const sent = ids.map(() => 0);
    let total = 0;
    let publishing = true;
    const publisher = (async (): Promise<void> => {
      const t0 = Date.now();
      while (publishing) {
        const due = Math.floor(((Date.now() - t0) * rate) / 1000);
        for (; total < due; total++) {
          const d = total % ids.length;
          (devices[d] as DeviceClient).send({ kind: 'metric', name: 'test.index', value: sent[d]++, unit: null });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const rounds: KillRound[] = [];
    const admin = kafka.admin();
    cleanups.push(() => admin.close());
    for (let round = 1; round <= o.rounds; round++) {
      const before = total;
      await until(() => total - before >= rate * 2, 60_000, 'two seconds of traffic before the kill');
      const ends = await admin.offsets(TOPIC);
      const busiest = ends.reduce((a, b) => (BigInt(b.end) - BigInt(b.start) > BigInt(a.end) - BigInt(a.start) ? b : a));
      const victim = await cluster.leaderOf(TOPIC, busiest.partition);
      const keys = new Set(ids.filter((id) => partitionOf(id) === busiest.partition));
      const killedAt = Date.now();
      const totalAtKill = total;
      await victim.kill();
      const resumedAt = await bounded(`round ${round}: a write to ${TOPIC}[${busiest.partition}] after node ${victim.id} was killed`, 180_000, writes.firstAfter(killedAt, keys));
      const framesMeanwhile = total - totalAtKill;
      const newLeader = await cluster.leaderOf(TOPIC, busiest.partition);
      await new Promise((r) => setTimeout(r, o.downMs ?? 3000));
      const t = Date.now();
      await victim.start();
      const r: KillRound = { round, partition: busiest.partition, victim: victim.id, newLeader: newLeader.id, resumeMs: resumedAt - killedAt, restartMs: Date.now() - t, framesMeanwhile };
      rounds.push(r);
      log(`round ${round}: killed node ${r.victim} (leader of ${TOPIC}[${r.partition}]); writes resumed after ${r.resumeMs} ms under node ${r.newLeader}; restarted in ${r.restartMs} ms`);
      await cluster.waitInSync([TOPIC], 120_000);
    }

    publishing = false;
    await publisher;
    await Promise.all(devices.map((d) => d.flush()));
    await until(() => started.gateway.stats().acked >= total && started.gateway.stats().mode === 'direct' && started.spool.stats().entries === 0, 180_000, 'every frame acknowledged by the gateway and its spool drained');

    // Read everything up to the end offsets of now: terminates whatever is missing.
    const ends = await admin.offsets(TOPIC);
    const want = new Map(ends.map((e) => [e.partition, BigInt(e.end)]));
    const reached = (msgs: BusMessage[]): boolean => {
      const next = new Map<number, bigint>();
      for (const m of msgs) next.set(m.partition, BigInt(m.offset) + 1n);
      return [...want].every(([p, end]) => end === 0n || (next.get(p) ?? 0n) >= end);
    };
    const msgs = await readKafka(cluster.brokers, [TOPIC], reached, 120_000);
    const recs = openTelemetry(msgs, fixture.streamKey, new Set(ids));
    let lost = 0;
    let duplicates = 0;
    const outOfOrderDevices: string[] = [];
    ids.forEach((id, d) => {
      const values = recs.filter((r) => r.deviceId === id).map((r) => (r.readings[0]?.kind === 'metric' ? r.readings[0].value : -1));
      const firsts = values.filter((v, i) => values.indexOf(v) === i);
      duplicates += values.length - firsts.length;
      lost += (sent[d] as number) - firsts.filter((v) => v >= 0 && v < (sent[d] as number)).length;
      if (firsts.some((v, i) => i > 0 && v < (firsts[i - 1] as number))) outOfOrderDevices.push(id);
    });
    return { rounds, devices: ids.length, frames: total, lost, duplicates, outOfOrderDevices, spooledFrames: started.gateway.stats().spooledFrames };
  } catch (err) {
    const state = gw === undefined ? {} : { gateway: gw.gateway.stats(), spool: gw.spool.stats(), nodes: cluster.nodes.map((n) => `${n.id}:${n.state}`) };
    throw new Error(`${(err as Error).message}\nstate: ${JSON.stringify(state)}\ngateway log (last 40 lines):\n${logLines.slice(-40).join('\n')}`, { cause: err });
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    // A node still down (a failed round) is started again: the caller gets the cluster it gave.
    for (const n of cluster.nodes) if (n.state === 'down') await n.start().catch(() => undefined);
  }
}
