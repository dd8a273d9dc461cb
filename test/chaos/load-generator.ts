/**
 * The chaos load: a separate process (so faults in the harness process never pause it) that
 * runs several devices publishing QoS 1 frames at a steady rate and appends every frame a
 * device learns is durable (`onDurable`) to the acked log. SIGTERM stops it: no new readings,
 * pending frames get up to `closeTimeoutMs` to be acknowledged, the log is closed, and a
 * last JSON line gives the totals. Progress: a JSON line every second on stdout.
 *
 * Run: node --import tsx test/chaos/load-generator.ts <spec.json>
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { readDeviceKeyFile } from '../../src/crypto';
import { DeviceClient } from '../../src/device';

export interface LoadSpec {
  readonly mqttUrl: string;
  readonly ingestPublicKey: string;
  readonly theatre: string;
  readonly unit: string;
  readonly deviceKeyFiles: readonly string[];
  readonly framesPerSecond: number;
  readonly ackedLog: string;
  readonly closeTimeoutMs: number;
}

async function main(specFile: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as LoadSpec;
  const acked = createWriteStream(spec.ackedLog, { flags: 'a' });
  let ackedFrames = 0;
  const devices = await Promise.all(
    spec.deviceKeyFiles.map(async (file) => {
      const keys = await readDeviceKeyFile(file);
      return DeviceClient.connect({
        keys, ingestPublicKey: spec.ingestPublicKey, theatre: spec.theatre, unit: spec.unit, mqttUrl: spec.mqttUrl,
        maxReadingsPerFrame: 4, lingerMs: 5, maxQueuedFrames: 100_000,
        mqtt: { reconnectPeriod: 250, connectTimeout: 5000 },
        onDurable: (seq, _readings, resent) => {
          ackedFrames++;
          acked.write(`{"deviceId":"${keys.deviceId}","seq":"${seq}"${resent ? ',"resent":true' : ''}}\n`);
        },
      });
    }),
  );
  let tick = 0;
  const every = Math.max(1, Math.round(1000 / spec.framesPerSecond));
  // One reading per device per tick; every fourth tick adds a vitals reading to the same
  // frame, so some frames carry two kinds (two topics, one sequence number).
  const timer = setInterval(() => {
    tick++;
    for (const d of devices) {
      d.send({ kind: 'power', batteryPct: tick % 101, voltageV: 24 });
      if (tick % 4 === 0) d.send({ kind: 'vitals', heartRateBpm: 60 + (tick % 60), spo2Pct: 97, skinTempC: 33, posture: 'standing' });
    }
  }, every);
  const stats = (): Record<string, number> => {
    const s = devices.map((d) => d.stats());
    const sum = (k: 'framesSealed' | 'framesAcked' | 'framesDropped' | 'framesQueued' | 'framesInflight' | 'receipts' | 'receiptsInvalid'): number => s.reduce((n, x) => n + x[k], 0);
    return {
      sealed: sum('framesSealed'), acked: sum('framesAcked'), ackedLogged: ackedFrames, dropped: sum('framesDropped'), queued: sum('framesQueued'), inflight: sum('framesInflight'),
      receipts: sum('receipts'), receiptsInvalid: sum('receiptsInvalid'), connected: s.filter((x) => x.connected).length,
    };
  };
  const progress = setInterval(() => process.stdout.write(JSON.stringify({ progress: stats() }) + '\n'), 1000);
  process.stdout.write(JSON.stringify({ started: devices.length }) + '\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  clearInterval(timer);
  await Promise.all(devices.map((d) => d.close(spec.closeTimeoutMs).catch(() => undefined)));
  clearInterval(progress);
  await new Promise<void>((r) => acked.end(() => r()));
  process.stdout.write(JSON.stringify({ done: stats() }) + '\n');
}

main(process.argv[2] as string).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
