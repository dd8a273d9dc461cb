import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { writeFileAtomically } from '../crypto';
import { VigilError } from '../errors';
import { issueCertificate } from '../pki';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../codec';
import { Adversary, createFleet, FleetDriver, loadProvisionedFleet, provisionFleet, type FleetConfigInput, type FleetStats } from '../sim';
import { printJson, examples } from './output';
import { readCaFiles } from './pki-command';
import { loadTlsFiles, mqttCredentials } from './tls-files';

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 100_000) throw new InvalidArgumentError('an integer in 0..100000');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number');
  return n;
}

function degrees(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('a number of degrees');
  return n;
}

function progressLine(s: FleetStats, readingsPerSecond: number): string {
  return `sim ${(s.elapsedMs / 1000).toFixed(0)}s: ${s.connected}/${s.devices} connected, ${readingsPerSecond.toFixed(0)} readings/s, acked ${s.framesAcked} frames (${s.readingsAcked} readings), queued ${s.framesQueued + s.framesInflight}, awaiting receipt ${s.framesUnconfirmed}, resent ${s.framesResent}, dropped ${s.framesDropped}\n`;
}

/** `vigil sim provision|run`: a simulated fleet for demos, benchmarks and trying Vigil out. */
export function simCommand(): Command {
  const sim = new Command('sim').description('a simulated fleet of vehicles, soldiers, ground sensors and UAVs').addHelpText('after', examples('vigil sim provision --dir fleet', 'vigil sim run --dir fleet --mqtt-url mqtt://127.0.0.1:1883 --duration 60'));
  sim
    .command('provision')
    .description('write the ingest key, device keys (0600), registry.yaml and fleet.json into a directory; reuses what exists')
    .addHelpText('after', examples('vigil sim provision --dir fleet', 'vigil sim provision --dir fleet --vehicles 20 --soldiers 40 --ugs 10 --uavs 2 --seed 7', 'vigil sim provision --dir fleet --pki pki'))
    .requiredOption('--dir <dir>', 'directory to provision')
    .option('--vehicles <n>', 'vehicles (convoys of up to 10)', count, 4)
    .option('--soldiers <n>', 'dismounted soldiers (patrols of up to 8)', count, 8)
    .option('--ugs <n>', 'unattended ground sensors', count, 4)
    .option('--uavs <n>', 'UAVs in orbit', count, 1)
    .option('--seed <n>', 'PRNG seed: the same seed gives the same readings', count, 1)
    .option('--theatre <name>', 'theatre (MQTT topic level)', 'north')
    .option('--unit <name>', 'unit (MQTT topic level)', 'sim-1')
    .option('--lat <deg>', 'latitude of the area of operations', degrees, 51.2)
    .option('--lon <deg>', 'longitude of the area of operations', degrees, 9.5)
    .option('--rate-hz <hz>', 'model steps per device per second', positive, 1)
    .option('--no-scenarios', 'no overheat, vitals spike, geofence entry, silence or GPS dropout')
    .option('--ingest-key-id <id>', 'key id of a newly created ingest key', 'sim-ingest')
    .option('--pki <dir>', "also issue each device a TLS client certificate (CN = its device id) under the CA in <dir> (`vigil pki init`), as <dir>/device/<id>.crt/.key: what `vigil simulate --tls-dir <dir>` connects with")
    .action(
      async (o: {
        dir: string; vehicles: number; soldiers: number; ugs: number; uavs: number; seed: number; theatre: string; unit: string;
        lat: number; lon: number; rateHz: number; scenarios: boolean; ingestKeyId: string; pki?: string;
      }) => {
        const off = { enabled: false };
        const fleet: FleetConfigInput = {
          seed: o.seed, vehicles: o.vehicles, soldiers: o.soldiers, ugs: o.ugs, uavs: o.uavs, theatre: o.theatre, unit: o.unit,
          centre: { lat: o.lat, lon: o.lon }, rateHz: o.rateHz,
          ...(o.scenarios ? {} : { scenarios: { overheat: off, vitalsSpike: off, geofence: off, silence: off, gpsDropout: off } }),
        };
        const p = await provisionFleet({ dir: o.dir, fleet, ingestKeyId: o.ingestKeyId });
        const certificates = o.pki === undefined ? undefined : await issueDeviceCertificates(o.pki, [...p.created, ...p.reused]);
        printJson({
          dir: p.dir, manifest: p.manifestFile, registry: p.registryFile, ingestKeyFile: p.ingestKeyFile, ingestKeyId: p.ingestKeyId,
          ingestPublicKey: p.ingestPublicKey, devices: p.created.length + p.reused.length, created: p.created.length, reused: p.reused.length,
          ...(certificates === undefined ? {} : { certificates }),
        });
      },
    );
  addRunOptions(sim.command('run'));
  return sim;
}

/** A TLS client certificate per device under the CA in `pki` (issued once; existing ones are kept). */
async function issueDeviceCertificates(pki: string, deviceIds: readonly string[]): Promise<{ dir: string; issued: number; reused: number }> {
  const ca = await readCaFiles(pki);
  const dir = join(pki, 'device');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let issued = 0;
  for (const id of deviceIds) {
    if (existsSync(join(dir, `${id}.crt`)) && existsSync(join(dir, `${id}.key`))) continue;
    const c = await issueCertificate(ca, { role: 'device', name: id });
    await writeFileAtomically(join(dir, `${id}.key`), c.keyPem, { mode: 0o600, overwrite: true });
    await writeFileAtomically(join(dir, `${id}.crt`), c.certPem, { mode: 0o644, overwrite: true });
    issued++;
  }
  return { dir, issued, reused: deviceIds.length - issued };
}

interface RunOptions {
  tlsDir?: string;
  mqttUsername?: string;
  mqttPasswordFile?: string;
  dir: string;
  mqttUrl: string;
  rateHz?: number;
  speed: number;
  duration?: number;
  concurrency: number;
  log?: string;
  ackedLog?: string;
  receipts: boolean;
  badClocks: number;
  replaysPerMin: number;
  tamperedPerMin: number;
}

/** How far a bad-clock device is off: beyond the gateway's default ±300 s skew bound. */
const BAD_CLOCK_OFFSET_MS = 15 * 60_000;

/** The options and action of `vigil sim run`, also registered as `vigil simulate`. */
export function addRunOptions(cmd: Command): Command {
  const name = cmd.parent === null ? `vigil ${cmd.name()}` : `vigil ${cmd.parent.name()} ${cmd.name()}`;
  return cmd
    .description('run a provisioned fleet against an MQTT broker; progress on stderr every second, a JSON summary at the end; Ctrl-C stops cleanly')
    .addHelpText('after', examples(
      `${name} --dir fleet --mqtt-url mqtt://127.0.0.1:1883 --duration 60`,
      `${name} --dir fleet --mqtt-url mqtt://broker:1883 --acked-log acked.jsonl --bad-clocks 0 --replays-per-min 0 --tampered-per-min 0`,
      `${name} --dir fleet --mqtt-url mqtts://broker:8883 --tls-dir pki`,
    ))
    .requiredOption('--dir <dir>', 'a directory written by `vigil sim provision`')
    .requiredOption('--mqtt-url <url>', 'MQTT broker, e.g. mqtt://127.0.0.1:1883')
    .option('--rate-hz <hz>', 'model steps per device per second (default: as provisioned)', positive)
    .option('--speed <x>', 'simulated seconds per wall-clock second', positive, 1)
    .option('--duration <s>', 'stop after this many wall-clock seconds (default: until Ctrl-C)', positive)
    .option('--concurrency <n>', 'device connections opened at once', positive, 32)
    .option('--bad-clocks <n>', 'devices whose clock runs 15 min fast (the gateway refuses their frames: VIGIL_E_CLOCK_SKEW)', count, 1)
    .option('--replays-per-min <n>', 'captured frames an attacker on the wire re-publishes per minute (refused as replays)', count, 6)
    .option('--tampered-per-min <n>', 'captured frames re-published with a flipped byte per minute (refused: authentication fails)', count, 6)
    .option('--no-receipts', 'count a frame delivered on the broker\'s PUBACK instead of a gateway\'s durable receipt (a broker with no Vigil gateway behind it)')
    .option('--acked-log <file>', 'write every frame a device knows durable (a gateway\'s durable receipt covered it) as a JSON line {deviceId, seq[, resent]}: what `vigil audit` checks Kafka against')
    .option('--log <file>', 'write every reading sent as a JSON line {deviceId, atMs, reading}: the simulator\'s own record of what it sent')
    .option('--mqtt-username <user>', 'MQTT user every device connects as, for a broker with password authentication (with --mqtt-password-file)')
    .option('--mqtt-password-file <file>', 'file holding that user\'s password on one line (mode 0600)')
    .option('--tls-dir <dir>', 'connect each device over TLS (an mqtts:// URL) with its client certificate <dir>/device/<id>.crt/.key, trusting <dir>/ca.crt (`vigil sim provision --pki <dir>` issues them); no wire adversary then: under the broker\'s ACL a device reads no other frames')
    .action(runSimulation);
}

async function runSimulation(o: RunOptions): Promise<void> {

      const { manifest, keys } = await loadProvisionedFleet(o.dir);
      const fleet = createFleet({ ...manifest.config, ...(o.rateHz !== undefined ? { rateHz: o.rateHz } : {}) }, { startMs: Date.now() });
      if (o.speed > 1) {
        const admittedS = DEFAULT_MAX_CLOCK_SKEW_MS / 1000 / (o.speed - 1);
        if (o.duration === undefined || o.duration > admittedS) {
          process.stderr.write(`sim: at --speed ${o.speed} simulated time runs ahead of the clock; a gateway with the default ±${DEFAULT_MAX_CLOCK_SKEW_MS / 1000} s skew bound refuses frames after ~${Math.floor(admittedS)} s\n`);
        }
      }
      const log = o.log ? createWriteStream(o.log, { flags: 'w' }) : undefined;
      const ackedLog = o.ackedLog ? createWriteStream(o.ackedLog, { flags: 'w' }) : undefined;
      // The last devices get the bad clocks, so the first of each archetype keeps its scenario.
      const badClock = fleet.devices.slice(Math.max(0, fleet.devices.length - o.badClocks)).map((d) => d.deviceId);
      const tlsDir = o.tlsDir;
      if (tlsDir !== undefined && !/^(mqtts|tls|wss):/.test(o.mqttUrl)) throw new VigilError('VIGIL_E_CLI_USAGE', `--tls-dir needs an mqtts:// (or wss://) --mqtt-url, got ${o.mqttUrl}`, { details: { option: 'mqtt-url' } });
      if ((o.mqttUsername === undefined) !== (o.mqttPasswordFile === undefined)) throw new VigilError('VIGIL_E_CLI_USAGE', 'give --mqtt-username and --mqtt-password-file together', { details: { option: o.mqttUsername === undefined ? 'mqtt-username' : 'mqtt-password-file' } });
      const credentials = o.mqttUsername === undefined ? {} : mqttCredentials({ username: o.mqttUsername, passwordFile: o.mqttPasswordFile }, (p) => p);
      const deviceTls = tlsDir === undefined ? undefined : (id: string) => loadTlsFiles('simulate --tls-dir', { caFile: join(tlsDir, 'ca.crt'), certFile: join(tlsDir, 'device', `${id}.crt`), keyFile: join(tlsDir, 'device', `${id}.key`) }, (p) => p);
      // Every certificate is checked before any device connects: a missing one is named now, not after a partial start.
      if (deviceTls !== undefined) for (const d of fleet.devices) deviceTls(d.deviceId);
      const driver = await FleetDriver.connect({
        fleet, keys, ingestPublicKey: manifest.ingestPublicKey, mqttUrl: o.mqttUrl, speed: o.speed, concurrency: Math.round(o.concurrency),
        mqtt: credentials,
        ...(deviceTls === undefined ? {} : { deviceMqtt: (id: string) => {
          const t = deviceTls(id);
          return { ca: t.ca as Buffer, cert: t.cert as Buffer, key: t.key as Buffer };
        } }),
        receipts: o.receipts,
        clockOffsets: new Map(badClock.map((id) => [id, BAD_CLOCK_OFFSET_MS])),
        ...(ackedLog ? { onDurable: (deviceId: string, seq: bigint, _readings: number, resent: boolean) => void ackedLog.write(`{"deviceId":${JSON.stringify(deviceId)},"seq":"${seq}"${resent ? ',"resent":true' : ''}}\n`) } : {}),
        ...(log ? { onReading: (deviceId: string, reading: unknown, atMs: number) => void log.write(JSON.stringify({ deviceId, atMs, reading }) + '\n') } : {}),
      });
      const adversary =
        o.replaysPerMin + o.tamperedPerMin > 0 && tlsDir === undefined
          ? await Adversary.start({ mqttUrl: o.mqttUrl, topicFilter: `vigil/v1/${manifest.config.theatre}/+/+/telemetry`, replaysPerMinute: o.replaysPerMin, tamperedPerMinute: o.tamperedPerMin, ...credentials })
          : undefined;
      let stop: () => void = () => undefined;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const signals = ['SIGINT', 'SIGTERM'] as const;
      for (const s of signals) process.once(s, stop);
      const durationTimer = o.duration !== undefined ? setTimeout(stop, o.duration * 1000) : undefined;
      let last = driver.stats();
      const progress = setInterval(() => {
        const s = driver.stats();
        const dt = (s.elapsedMs - last.elapsedMs) / 1000;
        process.stderr.write(progressLine(s, dt > 0 ? (s.readingsGenerated - last.readingsGenerated) / dt : 0));
        last = s;
      }, 1000);
      driver.start();
      try {
        await stopped;
      } finally {
        clearInterval(progress);
        clearTimeout(durationTimer);
        for (const s of signals) process.off(s, stop);
      }
      const final = await driver.stop();
      await adversary?.stop();
      if (log) await new Promise<void>((r) => log.end(() => r()));
      if (ackedLog) await new Promise<void>((r) => ackedLog.end(() => r()));
      printJson({
        badClockDevices: badClock,
        adversary: adversary?.stats() ?? { captured: 0, replayed: 0, tampered: 0 },
        startMs: fleet.startMs,
        simTimeMs: final.simTimeMs,
        devices: final.devices,
        durationS: final.elapsedMs / 1000,
        simulatedS: (final.simTimeMs - fleet.startMs) / 1000,
        readingsGenerated: final.readingsGenerated,
        readingsPerSecond: final.elapsedMs > 0 ? Math.round((final.readingsGenerated * 1000) / final.elapsedMs) : 0,
        framesSealed: final.framesSealed,
        framesAcked: final.framesAcked,
        readingsAcked: final.readingsAcked,
        bytesAcked: final.bytesAcked,
        framesUnacked: final.framesQueued + final.framesInflight + final.framesUnconfirmed,
        framesResent: final.framesResent,
        framesDropped: final.framesDropped,
        reconnects: final.reconnects,
        errors: final.errors,
      });
    }

