import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KafkaBus, parseOffset, type BusMessage } from '../../src/bus';
import { labelVerdict, RELAY_ID_HEADER, relayIdOf } from '../../src/relay';
import { Prng } from '../../src/sim';
import { startKafka, type KafkaService } from '../../scripts/services';
import { metricSum, readKafka } from '../edge/gateway/gateway-fixture';
import { LinkEmulator } from '../harness/link-emulator';
import { until } from '../harness/until';
import { policyDoc, relayFixture, sealedMessage, vitalsStreamRecord, writeFixtureKeys } from '../relay/relay-fixture';

/** Seeds of the fault schedules; `VIGIL_TEST_SEED` runs one other. */
const SEED = Number(process.env.VIGIL_TEST_SEED ?? 15);
const KILLS = 5;
const RECORDS = 1500;
/** A slow link, so that a batch (50 records, ~20 KB) is on it for about a second and a kill surely finds one in flight. */
const LINK = { latencyMs: 100, bytesPerSecond: 16_000 };

/** The environment of a spawned CLI without the VIGIL_* variables CI sets for its brokers. */
function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
}

interface RelayChild {
  readonly child: ChildProcess;
  readonly exited: Promise<NodeJS.Signals | number | null>;
  log(): string;
  /** /metrics and /readyz of this run, once it logged "relay started". */
  http(): string | undefined;
}

function spawnRelay(config: string): RelayChild {
  const child = spawn(process.execPath, ['bin/vigil.js', 'relay', '--config', config], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  return {
    child,
    exited,
    log: () => out,
    http: () => {
      const line = out.split('\n').find((l) => l.includes('"relay started"'));
      return line === undefined ? undefined : (JSON.parse(line) as { http: string }).http;
    },
  };
}

/** One run's faults, drawn from the seed: a link cut while it starts (its read-back of the destination fails and is retried), a cut while it sends, then the kill. */
interface RunFaults {
  /** The link is down when the relay starts, for this long (ms). */
  readonly cutAtStartMs: number;
  /** After it relays: a cut this long after, for this long (ms); the kill may land inside it or in the read-back after it. */
  readonly cutMid: { readonly afterMs: number; readonly forMs: number } | null;
  /** The SIGKILL, this long after the relay first sent something (ms). */
  readonly killAfterMs: number;
}

function drawFaults(rng: Prng): RunFaults {
  return {
    cutAtStartMs: rng.chance(0.4) ? Math.round(rng.range(500, 3000)) : 0,
    cutMid: rng.chance(0.6) ? { afterMs: Math.round(rng.range(100, 2500)), forMs: Math.round(rng.range(300, 2500)) } : null,
    killAfterMs: Math.round(rng.range(500, 4000)),
  };
}

// The built CLI (npm run build first) SIGKILLed at seeded random moments while batches are on
// a slow link to a second Kafka, the link cut at seeded moments too (while the relay starts
// and reads the destination back, while it sends, around the kill), and started again on the
// same queue folder each time: the command side must hold every releasable record exactly once.
describe('vigil relay killed with SIGKILL mid-batch, its link cut, and restarted on its queue', () => {
  const theatre = process.env.VIGIL_KAFKA_BROKERS as string;
  let command: KafkaService | undefined;
  let link: LinkEmulator | undefined;
  let current: RelayChild | undefined;
  let dir = '';

  beforeAll(async () => {
    link = await LinkEmulator.start(0, LINK);
    command = await startKafka({ advertisedPort: link.port });
    link.setTarget(command.port);
  }, 180_000);

  afterAll(async () => {
    if (current?.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exited;
    }
    await command?.stop();
    await link?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it(`delivers every releasable record exactly once across ${KILLS} kills and seeded link cuts (seed ${SEED})`, async () => {
    const l = link as LinkEmulator;
    const rng = new Prng(SEED);
    const f = relayFixture();
    dir = await writeFixtureKeys(f);
    const run = randomBytes(4).toString('hex');
    const prefix = `relaykill${run}.`;
    const dest = `cmd${run}.theatre.north.derived.vitals`;
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc({ destination: dest })));
    const config = join(dir, 'vigil.yaml');
    writeFileSync(config, stringify({ log: { level: 'info' }, kafka: { brokers: [theatre], topicPrefix: prefix, partitions: 2 }, relay: { brokers: [(command as KafkaService).brokers], policyFile: 'policy.yaml', dataDir: 'data', batchMaxRecords: 50 }, http: { port: 0 } }));

    const records = Array.from({ length: RECORDS }, (_, i) => vitalsStreamRecord(i, 150));
    const releasable = records.filter((r) => labelVerdict(r.label, f.policy.destination.ceiling) === 'release');
    const bus = new KafkaBus({ brokers: [theatre], clientId: 'relay-kill-test', logLevel: 'nothing' });
    try {
      await bus.admin().ensureTopics([{ topic: `${prefix}derived.vitals`, partitions: 2 }]);
      const p = bus.producer();
      for (let i = 0; i < records.length; i += 100) await p.send(`${prefix}derived.vitals`, records.slice(i, i + 100).map((r) => sealedMessage(f, r)));
    } finally {
      await bus.close();
    }
    const destCount = async (): Promise<number> => {
      const admin = new KafkaBus({ brokers: [(command as KafkaService).brokers], clientId: 'relay-kill-count', logLevel: 'nothing' });
      try {
        const ends = await admin.admin().offsets(dest);
        return ends.reduce((n, x) => n + parseOffset(x.end) - parseOffset(x.start), 0);
      } catch {
        return 0;
      } finally {
        await admin.close();
      }
    };

    const kills: Array<RunFaults & { midSend: boolean; linkUpAtKill: boolean; atCommand: number }> = [];
    const cuts: Array<Promise<void>> = [];
    for (let k = 0; k < KILLS; k++) {
      const faults = drawFaults(rng);
      if (faults.cutAtStartMs > 0) cuts.push(l.blackout(faults.cutAtStartMs));
      current = spawnRelay(config);
      const c = current;
      await until(() => c.http() !== undefined || c.child.exitCode !== null, 60_000, 'relay started').catch((err: Error) => {
        throw new Error(`${err.message}; log:\n${c.log().split('\n').slice(-15).join('\n')}`);
      });
      expect(c.child.exitCode).toBeNull();
      // Once this run has sent something, at a seeded random moment 0.5-4 s later.
      await until(async () => (await metricSum(c.http() as string, /^vigil_relay_records_total/)) > 0 || (await destCount()) >= releasable.length, 60_000, `run ${k + 1} relays`);
      if (faults.cutMid !== null) {
        const { afterMs, forMs } = faults.cutMid;
        cuts.push(new Promise((r) => setTimeout(r, afterMs)).then(() => l.blackout(forMs)));
      }
      await new Promise((r) => setTimeout(r, faults.killAfterMs));
      const before = l.bytes('up');
      await new Promise((r) => setTimeout(r, 200));
      const midSend = l.bytes('up') > before;
      const linkUpAtKill = l.isUp;
      c.child.kill('SIGKILL');
      expect(await c.exited).toBe('SIGKILL');
      kills.push({ ...faults, midSend, linkUpAtKill, atCommand: await destCount() });
      // The next run starts with this one's cuts over (or inside its own start cut).
      await Promise.all(cuts.splice(0));
    }
    current = spawnRelay(config);
    const last = current;
    await until(() => last.http() !== undefined, 60_000, 'relay started after the last kill');
    await until(async () => (await destCount()) >= releasable.length && (await metricSum(last.http() as string, /^vigil_relay_backlog_records/)) === 0, 180_000, 'every releasable record at command').catch(async (err: Error) => {
      throw new Error(`${err.message}: ${await destCount()} of ${releasable.length}; kills ${JSON.stringify(kills)}; log:\n${last.log().split('\n').slice(-15).join('\n')}`);
    });
    process.stderr.write(`relay faults (seed ${SEED}): ${JSON.stringify(kills)}; skipped as already at command after restarts: ${await metricSum(last.http() as string, /^vigil_relay_duplicates_skipped_total/)}\n`);
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);

    // The kills hit the relay while it was sending (bytes moving on the link just before), and before it was done.
    expect(kills.filter((x) => x.midSend && x.atCommand < releasable.length).length).toBeGreaterThanOrEqual(1);
    l.reshape({ latencyMs: 0, bytesPerSecond: 0 });
    // Exactly once: as many records as releasable, each relay id once, each the one expected.
    expect(await destCount()).toBe(releasable.length);
    const got = await readKafka((command as KafkaService).brokers, [dest], (msgs) => msgs.length >= releasable.length, 60_000);
    const idOf = (m: BusMessage): string => m.headers[RELAY_ID_HEADER]?.toString() ?? '';
    expect(got.map(idOf).sort()).toEqual(releasable.map(relayIdOf).sort());
    for (const m of got) expect(relayIdOf(f.codec.open(m.value as Buffer, f.relayKey))).toBe(idOf(m));
  }, 420_000);
});
