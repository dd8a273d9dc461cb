import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateStreamKey, writeKeyFile, type StreamDataKey } from '../../src/crypto';
import { DerivedCollector, exited, produceVitals, spawnVigil } from './e2e-helpers';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
const PARTITIONS = 12;
const SOLDIERS = Array.from({ length: 24 }, (_, i) => `sol-${String(i).padStart(2, '0')}`);

/** One worker's config: its own client id and state folder, the pipeline's shared group. */
async function workerConfig(dir: string, prefix: string, name: string, telemetryKeyFile: string, derived: StreamDataKey): Promise<string> {
  const keyDir = join(dir, `keys-${prefix}`);
  mkdirSync(keyDir, { recursive: true });
  if (!existsSync(join(keyDir, 'derived.vitals.key.json'))) await writeKeyFile(join(keyDir, 'derived.vitals.key.json'), { type: 'stream', key: derived });
  const file = join(dir, `${prefix}${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      log: { level: 'info' },
      kafka: { brokers: brokers.split(','), clientId: `${name}-${prefix}`, partitions: PARTITIONS, topicPrefix: prefix, sendTimeoutMs: 5000 },
      worker: { pipelines: ['vitals'], telemetryKeyFile, keyDir, checkpointIntervalMs: 300, stateDir: join(dir, `state-${prefix}${name}`) },
      http: { port: 0 },
    }),
  );
  return file;
}

/** The partitions named in a worker's "state restored" log lines. */
function restoredPartitions(output: string): string[] {
  const out: string[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('"state restored"')) continue;
    try {
      out.push(...((JSON.parse(line) as { partitions: string[] }).partitions ?? []));
    } catch {
      // not a JSON log line
    }
  }
  return out;
}

// Issue 11: three workers over a 12-partition topic, one SIGKILLed mid-window, a fourth
// joining later, late data revising fired windows: the final results (values and
// revisions) are those of one uninterrupted worker, and a rebalance restores only what moved.
describe('pipeline workers scaled out over 12 partitions (real Kafka, separate processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-scale-'));
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three workers, one killed and one joining, give the results of one uninterrupted worker', async () => {
    const telemetry = generateStreamKey('telemetry-scale-test');
    const telemetryKeyFile = join(dir, 'telemetry.key.json');
    await writeKeyFile(telemetryKeyFile, { type: 'stream', key: telemetry });
    const run = randomUUID().slice(0, 6);
    const [pa, pb] = [`sa${run}.`, `sb${run}.`];
    const input = { soldiers: SOLDIERS, partitions: PARTITIONS };
    // Late frames: new sequence numbers, event time in windows that fired long before.
    const late = { ...input, soldiers: SOLDIERS.slice(0, 8), seqOffset: 100_000 };
    const derivedA = generateStreamKey('derived.vitals-sa');
    const derivedB = generateStreamKey('derived.vitals-sb');
    const windows = SOLDIERS.length * 29; // the 10 s windows of [0, 300 s) that end before the last reading

    // A: one uninterrupted worker.
    await produceVitals(brokers, `${pa}telemetry.vitals`, telemetry, 0, 150, input);
    await produceVitals(brokers, `${pa}telemetry.vitals`, telemetry, 150, 300, input);
    const outA = new DerivedCollector(brokers, `${pa}derived.vitals`, derivedA);
    cleanups.push(() => outA.close());
    const a = spawnVigil(['worker', '--config', await workerConfig(dir, pa, 'solo', telemetryKeyFile, derivedA)]);
    cleanups.push(() => void (a.child.exitCode === null && a.child.kill('SIGKILL')));
    await outA.start();
    await outA.settle(windows, 3000, 90_000).catch((err: Error) => {
      throw new Error(`${err.message}; worker output:\n${a.output().slice(-3000)}`);
    });
    await produceVitals(brokers, `${pa}telemetry.vitals`, telemetry, 100, 110, late);
    await outA.settle(windows, 3000, 60_000);
    a.child.kill('SIGTERM');
    expect(await exited(a.child)).toBe(0);

    // B: three workers; one is killed while windows are open, a fourth joins later.
    await produceVitals(brokers, `${pb}telemetry.vitals`, telemetry, 0, 150, input);
    const outB = new DerivedCollector(brokers, `${pb}derived.vitals`, derivedB);
    cleanups.push(() => outB.close());
    const spawnB = async (name: string): Promise<ReturnType<typeof spawnVigil>> => {
      const w = spawnVigil(['worker', '--config', await workerConfig(dir, pb, name, telemetryKeyFile, derivedB)]);
      cleanups.push(() => void (w.child.exitCode === null && w.child.kill('SIGKILL')));
      return w;
    };
    const [w1, w2, w3] = [await spawnB('w1'), await spawnB('w2'), await spawnB('w3')];
    await outB.start();
    await outB.settle(SOLDIERS.length * 10, 2000, 90_000);
    w2.child.kill('SIGKILL');
    await exited(w2.child);
    await produceVitals(brokers, `${pb}telemetry.vitals`, telemetry, 150, 300, input);
    const w4 = await spawnB('w4');
    await outB.settle(windows, 4000, 120_000).catch((err: Error) => {
      throw new Error(`${err.message}; worker outputs:\n${[w1, w3, w4].map((w) => w.output().slice(-2000)).join('\n---\n')}`);
    });
    await produceVitals(brokers, `${pb}telemetry.vitals`, telemetry, 100, 110, late);
    await outB.settle(windows, 4000, 60_000);
    for (const w of [w1, w3, w4]) w.child.kill('SIGTERM');
    for (const w of [w1, w3, w4]) expect(await exited(w.child)).toBe(0);

    const finalA = outA.latest();
    const finalB = outB.latest();
    const revised = [...finalA.values()].filter((r) => r.revision > 0);
    expect(revised.length).toBeGreaterThan(0); // the late frames did revise fired windows
    expect([...finalB.keys()].sort()).toEqual([...finalA.keys()].sort());
    for (const [k, ra] of finalA) {
      const rb = finalB.get(k);
      expect({ k, values: rb?.values, revision: rb?.revision }).toEqual({ k, values: ra.values, revision: ra.revision });
    }
    // The joiner restored only partitions that moved to it, never all twelve.
    const joined = new Set(restoredPartitions(w4.output()));
    expect(joined.size).toBeGreaterThan(0);
    expect(joined.size).toBeLessThan(PARTITIONS);
  }, 420_000);
});
