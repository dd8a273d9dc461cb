import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { KafkaBus, type BusConsumer, type BusMessage, type KafkaBusOptions } from '../../src/bus';
import { makeLabel, RecordCodec, type DerivedRecord, type Reading, type StreamDataKey } from '../../src';
import { waitForTopics } from '../harness/wait-for-topics';

const ROOT = join(__dirname, '..', '..');

/** Spawns the `vigil` CLI from source as a separate process (so SIGKILL hits a real process). */
export function spawnVigil(args: readonly string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'vigil-dev.ts'), ...args], {
    cwd: ROOT,
    // A variable given as undefined is left out (not passed as the string "undefined").
    env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output };
}

export function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Keeps reading a derived topic from the beginning; `latest()` is the last value per key. */
export class DerivedCollector {
  private readonly bus: KafkaBus;
  private consumer: BusConsumer | undefined;
  readonly messages: BusMessage[] = [];
  private readonly codec = new RecordCodec();

  /** `options`: more bus options (an analyst's TLS and SASL credentials) and the consumer group (its ACLs may allow only some). */
  constructor(
    brokers: string,
    private readonly topic: string,
    private readonly key: StreamDataKey,
    private readonly options: { bus?: Partial<KafkaBusOptions>; groupId?: string } = {},
  ) {
    this.bus = new KafkaBus({ ...options.bus, brokers: brokers.split(','), clientId: `collector-${randomUUID().slice(0, 8)}` });
  }

  async start(): Promise<void> {
    // The worker under test makes the derived topic when its pipeline starts, later than
    // any fixed pause on a loaded machine ("does not host this topic-partition").
    await waitForTopics(this.bus, [this.topic]);
    this.consumer = this.bus.consumer({ groupId: this.options.groupId ?? `collector-${randomUUID()}`, fromBeginning: true, maxWaitMs: 200 });
    await this.consumer.subscribe([this.topic]);
    await this.consumer.run({ eachBatch: (b) => void this.messages.push(...b.messages) });
  }

  /** Final (highest-revision, last-written) value per derived key. */
  latest(): Map<string, DerivedRecord> {
    const out = new Map<string, DerivedRecord>();
    for (const m of this.messages) {
      if (m.headers['vigil-key-id']?.toString() !== this.key.keyId || !m.value) continue;
      out.set(m.key?.toString() ?? '', this.codec.open(m.value, this.key) as DerivedRecord);
    }
    return out;
  }

  /** Resolves when no new message arrived for `quietMs` and at least `min` keys are known. */
  async settle(min: number, quietMs: number, timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    let last = -1;
    let since = Date.now();
    for (;;) {
      if (this.messages.length !== last) {
        last = this.messages.length;
        since = Date.now();
      } else if (Date.now() - since >= quietMs && this.latest().size >= min) {
        return;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`derived stream ${this.topic} did not settle: ${this.latest().size} keys, ${this.messages.length} messages`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await this.consumer?.close();
    await this.bus.close();
  }
}

/** Event time of second 0 of `produceVitals`. */
export const VITALS_T0 = Date.UTC(2026, 10, 28, 10, 0, 0);
export const VITALS_SOLDIERS = ['sol-a', 'sol-b', 'sol-c'];

export interface ProduceVitalsOptions {
  /** Devices (default VITALS_SOLDIERS). */
  readonly soldiers?: readonly string[];
  /** Partitions when the topic is created (default 3). */
  readonly partitions?: number;
  /** Added to every sequence number (e.g. late readings sent after the rest: new frames). */
  readonly seqOffset?: number;
}

/**
 * Vitals readings of three soldiers, one per second of event time in [fromS, toS) after
 * `VITALS_T0`, sealed under `key` as a gateway would, to `topic` (made with 3 partitions).
 */
export async function produceVitals(brokers: string, topic: string, key: StreamDataKey, fromS: number, toS: number, options: ProduceVitalsOptions = {}): Promise<void> {
  const soldiers = options.soldiers ?? VITALS_SOLDIERS;
  const seqOffset = options.seqOffset ?? 0;
  const bus = new KafkaBus({ brokers: brokers.split(','), clientId: `input-${randomUUID().slice(0, 8)}`, logLevel: 'nothing' });
  const codec = new RecordCodec();
  try {
    await bus.admin().ensureTopics([{ topic, partitions: options.partitions ?? 3 }]);
    const producer = bus.producer();
    for (let s = fromS; s < toS; s += 60) {
      const msgs = [];
      for (let i = s; i < Math.min(s + 60, toS); i++) {
        for (const [j, id] of soldiers.entries()) {
          const reading: Reading = { kind: 'vitals', offsetMs: 0, heartRateBpm: 70 + ((i * (j + 3)) % 41), spo2Pct: 90 + ((i + j) % 10), skinTempC: 33, posture: 'standing' };
          const at = VITALS_T0 + i * 1000;
          const sealed = codec.seal({ type: 'telemetry', deviceId: id, seq: BigInt(seqOffset + i + 1), eventTimeMs: at, ingestTimeMs: at, gatewayId: 'gw-test', kind: 'vitals', label: makeLabel('RESTRICTED', ['GBR']), readings: [reading] }, key);
          msgs.push({ key: id, value: Buffer.from(sealed.value), headers: { 'vigil-key-id': sealed.keyId } });
        }
      }
      await producer.send(topic, msgs);
    }
    await producer.close();
  } finally {
    await bus.close();
  }
}
