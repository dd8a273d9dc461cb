import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { KafkaBus, type BusConsumer, type BusMessage } from '../../src/bus';
import { RecordCodec, type DerivedRecord, type StreamDataKey } from '../../src';

const ROOT = join(__dirname, '..', '..');

/** Spawns the `vigil` CLI from source as a separate process (so SIGKILL hits a real process). */
export function spawnVigil(args: readonly string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'vigil-dev.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
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

  constructor(brokers: string, private readonly topic: string, private readonly key: StreamDataKey) {
    this.bus = new KafkaBus({ brokers: brokers.split(','), clientId: `collector-${randomUUID().slice(0, 8)}` });
  }

  async start(): Promise<void> {
    this.consumer = this.bus.consumer({ groupId: `collector-${randomUUID()}`, fromBeginning: true, maxWaitMs: 200 });
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
