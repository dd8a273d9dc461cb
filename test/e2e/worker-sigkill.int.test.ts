import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateStreamKey, writeKeyFile, type StreamDataKey } from '../../src/crypto';
import { DerivedCollector, exited, produceVitals, spawnVigil } from './e2e-helpers';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;

async function workerConfig(dir: string, prefix: string, telemetryKeyFile: string, derived: StreamDataKey): Promise<string> {
  const keyDir = join(dir, `keys-${prefix}`);
  mkdirSync(keyDir, { recursive: true });
  await writeKeyFile(join(keyDir, 'derived.vitals.key.json'), { type: 'stream', key: derived });
  const file = join(dir, `${prefix}vigil.yaml`);
  writeFileSync(
    file,
    stringify({
      log: { level: 'info' },
      kafka: { brokers: brokers.split(','), clientId: `w-${prefix}`, partitions: 3, topicPrefix: prefix, sendTimeoutMs: 5000 },
      worker: { pipelines: ['vitals'], telemetryKeyFile, keyDir, checkpointIntervalMs: 300, stateDir: join(dir, `state-${prefix}`) },
      http: { port: 0 },
    }),
  );
  return file;
}

// Issue 6: a worker killed with SIGKILL mid-stream and restarted yields final derived results
// identical to an uninterrupted run over the same input.
describe('pipeline worker killed with SIGKILL and restarted (real Kafka, separate processes)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-kill-'));
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the same final results as an uninterrupted run', async () => {
    const telemetry = generateStreamKey('telemetry-kill-test');
    const telemetryKeyFile = join(dir, 'telemetry.key.json');
    await writeKeyFile(telemetryKeyFile, { type: 'stream', key: telemetry });
    const run = randomUUID().slice(0, 6);
    const [pa, pb] = [`ka${run}.`, `kb${run}.`];
    // The same input for both runs: 10 minutes of event time. B gets the second half only
    // after its first worker was killed, so the kill lands mid-window with state in memory.
    await produceVitals(brokers, `${pa}telemetry.vitals`, telemetry, 0, 600);
    await produceVitals(brokers, `${pb}telemetry.vitals`, telemetry, 0, 305);
    const derivedA = generateStreamKey('derived.vitals-a');
    const derivedB = generateStreamKey('derived.vitals-b');
    const cfgA = await workerConfig(dir, pa, telemetryKeyFile, derivedA);
    const cfgB = await workerConfig(dir, pb, telemetryKeyFile, derivedB);
    const wanted = 3 * 59; // every 10 s window of 3 soldiers but the last, still open

    // A: uninterrupted.
    const outA = new DerivedCollector(brokers, `${pa}derived.vitals`, derivedA);
    const a = spawnVigil(['worker', '--config', cfgA]);
    cleanups.push(() => void (a.child.exitCode === null && a.child.kill('SIGKILL')), () => outA.close());
    await new Promise((r) => setTimeout(r, 3000));
    await outA.start();
    await outA.settle(wanted, 3000, 60_000);
    a.child.kill('SIGTERM');
    expect(await exited(a.child)).toBe(0);

    // B: killed once it has produced part of the results, then restarted.
    const outB = new DerivedCollector(brokers, `${pb}derived.vitals`, derivedB);
    cleanups.push(() => outB.close());
    const b1 = spawnVigil(['worker', '--config', cfgB]);
    cleanups.push(() => void (b1.child.exitCode === null && b1.child.kill('SIGKILL')));
    await new Promise((r) => setTimeout(r, 3000));
    await outB.start();
    await outB.settle(3 * 29, 1500, 60_000); // windows up to 290 s are final; [300, 310) is open
    b1.child.kill('SIGKILL');
    await exited(b1.child);
    const atKill = outB.latest().size;
    await produceVitals(brokers, `${pb}telemetry.vitals`, telemetry, 305, 600);
    const b2 = spawnVigil(['worker', '--config', cfgB]);
    cleanups.push(() => void (b2.child.exitCode === null && b2.child.kill('SIGKILL')));
    await outB.settle(wanted, 3000, 90_000);
    b2.child.kill('SIGTERM');
    expect(await exited(b2.child)).toBe(0);

    const finalA = outA.latest();
    const finalB = outB.latest();
    expect(atKill).toBeLessThan(finalB.size); // the kill really came mid-stream
    expect([...finalB.keys()].sort()).toEqual([...finalA.keys()].sort());
    for (const [k, ra] of finalA) {
      const rb = finalB.get(k);
      expect({ k, values: rb?.values, window: [rb?.windowStartMs, rb?.windowEndMs] }).toEqual({ k, values: ra.values, window: [ra.windowStartMs, ra.windowEndMs] });
    }
  }, 240_000);
});
