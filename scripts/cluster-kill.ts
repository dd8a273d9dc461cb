/**
 * `npm run cluster:kill -- --rounds N [--rate F] [--devices D]`: a 3-node KRaft cluster
 * (RF 3, min ISR 2), a private Mosquitto and a real gateway under QoS1 load; the leader of
 * the busiest telemetry partition is SIGKILLed N times (restarted after each), then every
 * frame the gateway acknowledged is looked for in Kafka. Prints one JSON object: time from
 * kill to the first write that landed on that partition again (p50, max, each), lost
 * frames, duplicates. Everything it starts is stopped on exit, Ctrl-C included.
 */
import { startKafkaCluster, startMosquitto, type KafkaCluster, type MosquittoService } from './services';
import { runLeaderKill } from '../test/harness/leader-kill';

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} wants a whole number ≥ 1, got ${String(process.argv[i + 1])}`);
  return v;
}

/** Nearest-rank percentile of `xs`. */
function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] as number;
}

async function run(): Promise<void> {
  const rounds = flag('rounds', 10);
  const rate = flag('rate', 300);
  const devices = flag('devices', 6);
  const log = (l: string): void => void process.stderr.write(`[cluster:kill] ${l}\n`);
  let cluster: KafkaCluster | undefined;
  let mosquitto: MosquittoService | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([cluster?.stop(), mosquitto?.stop()]);
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    cluster = await startKafkaCluster({ nodes: 3, log });
    mosquitto = await startMosquitto();
    const t0 = Date.now();
    const r = await runLeaderKill({ cluster, mqttUrl: mosquitto.url, rounds, rate, devices, log });
    const resume = r.rounds.map((x) => x.resumeMs);
    const restart = r.rounds.map((x) => x.restartMs);
    console.log(
      JSON.stringify(
        {
          rounds: r.rounds.length,
          devices: r.devices,
          rate,
          frames: r.frames,
          timeToResumeMs: { p50: percentile(resume, 50), max: Math.max(...resume), each: resume },
          restartMs: { p50: percentile(restart, 50), max: Math.max(...restart) },
          lost: r.lost,
          duplicates: r.duplicates,
          outOfOrderDevices: r.outOfOrderDevices,
          spooledFrames: r.spooledFrames,
          seconds: Math.round((Date.now() - t0) / 1000),
        },
        null,
        2,
      ),
    );
  } finally {
    await stop();
  }
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
