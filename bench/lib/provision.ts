import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { devicePublicKeys, generateDeviceKeys, generateIngestKeys, generateStreamKey, writeKeyFile, type CryptoBackendName, type DeviceKeys, type IngestKeys, type StreamDataKey } from '../../src/crypto';
import { addDevice, emptyRegistry, writeRegistryFile } from '../../src/registry';

/** Keys, registry and one config file for a bench gateway + worker, in a temp dir (adapted from test/edge/gateway/gateway-fixture.ts). */
export interface BenchProvision {
  readonly dir: string;
  readonly theatre: string;
  readonly unit: string;
  readonly configFile: string;
  readonly ingest: IngestKeys;
  readonly streamKey: StreamDataKey;
  readonly derivedKey: StreamDataKey;
  readonly devices: readonly DeviceKeys[];
  topicOf(deviceId: string): string;
  cleanup(): void;
}

export async function provisionBench(opts: { kafkaBrokers: string; mqttUrl: string; devices: number; pipeline: string; backend?: CryptoBackendName; partitions?: number }): Promise<BenchProvision> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const theatre = `b${randomUUID().slice(0, 8)}`;
  const unit = 'u1';
  const ingest = generateIngestKeys('ingest-bench');
  const streamKey = generateStreamKey(`telemetry-${theatre}`);
  const derivedKey = generateStreamKey(`derived-${opts.pipeline}-${theatre}`);
  mkdirSync(join(dir, 'keys'));
  await writeKeyFile(join(dir, 'keys', 'ingest.key.json'), { type: 'ingest', keys: ingest });
  await writeKeyFile(join(dir, 'keys', 'telemetry.key.json'), { type: 'stream', key: streamKey });
  await writeKeyFile(join(dir, 'keys', `derived.${opts.pipeline}.key.json`), { type: 'stream', key: derivedKey });
  const devices: DeviceKeys[] = [];
  let doc = emptyRegistry();
  for (let i = 0; i < opts.devices; i++) {
    const keys = generateDeviceKeys(`bench-${String(i).padStart(4, '0')}`, 1);
    devices.push(keys);
    // A bench device sends far more than a real one: lift the rate limit out of the way.
    doc = addDevice(doc, devicePublicKeys(keys), { theatre, unit, kinds: ['power'], rate: { perSecond: 100_000, burst: 1_000_000 } });
  }
  writeRegistryFile(join(dir, 'registry.yaml'), doc);
  const gwId = `gw-${theatre}`;
  const configFile = join(dir, 'vigil.yaml');
  writeFileSync(
    configFile,
    stringify({
      log: { level: 'warn' },
      mqtt: { url: opts.mqttUrl, clientId: gwId },
      kafka: { brokers: opts.kafkaBrokers.split(','), clientId: `bench-${theatre}`, partitions: opts.partitions ?? 3 },
      crypto: { backend: opts.backend ?? 'auto' },
      gateway: {
        id: gwId, group: `g-${theatre}`, subscription: `vigil/v1/${theatre}/+/+/telemetry`,
        registryFile: join(dir, 'registry.yaml'), ingestKeyFile: join(dir, 'keys', 'ingest.key.json'), streamKeyFile: join(dir, 'keys', 'telemetry.key.json'),
        dataDir: join(dir, 'data'),
        ...(process.env.VIGIL_BENCH_RECEIVE_MAXIMUM === undefined ? {} : { receiveMaximum: Number(process.env.VIGIL_BENCH_RECEIVE_MAXIMUM) }),
      },
      worker: { pipelines: [opts.pipeline], telemetryKeyFile: join(dir, 'keys', 'telemetry.key.json'), keyDir: join(dir, 'keys'), checkpointIntervalMs: 5000, stateDir: join(dir, 'state') },
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  return {
    dir, theatre, unit, configFile, ingest, streamKey, derivedKey, devices,
    topicOf: (deviceId) => `vigil/v1/${theatre}/${unit}/${deviceId}/telemetry`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
