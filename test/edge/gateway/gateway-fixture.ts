import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KafkaBus, type BusMessage } from '../../../src/bus';
import { RecordCodec, type TelemetryRecord } from '../../../src/codec';
import { loadConfig, type VigilConfig } from '../../../src/config';
import { devicePublicKeys, generateDeviceKeys, generateIngestKeys, generateStreamKey, writeKeyFile, type DeviceKeys, type IngestKeys, type StreamDataKey } from '../../../src/crypto';
import { addDevice, emptyRegistry, writeRegistryFile, type NewDevice, type RegistryDocument } from '../../../src/registry';
import { until as waitUntil } from '../../harness/until';
import { waitForTopics } from '../../harness/wait-for-topics';

/** A provisioned gateway setup in a temporary folder: keys, registry, config. */
export interface GatewayFixture {
  readonly dir: string;
  readonly theatre: string;
  readonly ingest: IngestKeys;
  readonly streamKey: StreamDataKey;
  readonly devices: Map<string, DeviceKeys>;
  readonly registryFile: string;
  readonly config: VigilConfig;
  doc: RegistryDocument;
  topicOf(deviceId: string, unit?: string): string;
  cleanup(): void;
}

export async function provisionGateway(opts: { kafkaBrokers: string; mqttUrl: string; devices: Array<{ id: string; epoch?: number } & Partial<NewDevice>>; fsync?: 'always' | 'never' }): Promise<GatewayFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-gw-'));
  const theatre = `t${randomUUID().slice(0, 8)}`;
  const ingest = generateIngestKeys('ingest-test');
  const streamKey = generateStreamKey(`telemetry-${theatre}`);
  await writeKeyFile(join(dir, 'ingest.key.json'), { type: 'ingest', keys: ingest });
  await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key: streamKey });
  const devices = new Map<string, DeviceKeys>();
  let doc = emptyRegistry();
  for (const d of opts.devices) {
    const keys = generateDeviceKeys(d.id, d.epoch ?? 1);
    devices.set(d.id, keys);
    const { id: _id, epoch: _epoch, ...fields } = d;
    doc = addDevice(doc, devicePublicKeys(keys), { theatre, unit: 'u1', ...fields });
  }
  const registryFile = join(dir, 'registry.yaml');
  writeRegistryFile(registryFile, doc);
  const gwId = `gw-${theatre}`;
  const configFile = join(dir, 'vigil.yaml');
  writeFileSync(
    configFile,
    stringify({
      log: { level: 'error' },
      mqtt: { url: opts.mqttUrl, clientId: gwId },
      kafka: { brokers: opts.kafkaBrokers.split(','), clientId: gwId, sendTimeoutMs: 3000, partitions: 3 },
      gateway: {
        id: gwId, group: `g-${theatre}`, subscription: `vigil/v1/${theatre}/+/+/telemetry`,
        registryFile: join(dir, 'registry.yaml'), ingestKeyFile: join(dir, 'ingest.key.json'), streamKeyFile: join(dir, 'telemetry.key.json'),
        dataDir: join(dir, 'data'), fsync: opts.fsync ?? 'always',
      },
      http: { host: '127.0.0.1', port: 0 },
    }),
  );
  const config = loadConfig({ file: configFile, env: {} });
  return {
    dir, theatre, ingest, streamKey, devices, registryFile, config, doc,
    topicOf: (deviceId, unit = 'u1') => `vigil/v1/${theatre}/${unit}/${deviceId}/telemetry`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Reads `topics` from the beginning until `done(messages)` says enough, within `timeoutMs`.
 * A consumer that fails (a broker just restarted may refuse group calls for a while on a
 * loaded machine) is replaced by a fresh one reading from the beginning again, until the
 * deadline; the last failure is in the timeout's message.
 */
export async function readKafka(brokers: string, topics: readonly string[], done: (msgs: BusMessage[]) => boolean, timeoutMs = 30_000, describe: (msgs: BusMessage[]) => string = () => ''): Promise<BusMessage[]> {
  const bus = new KafkaBus({ brokers: brokers.split(','), clientId: `reader-${randomUUID().slice(0, 8)}` });
  const deadline = Date.now() + timeoutMs;
  let got: BusMessage[] = [];
  let lastError: Error | undefined;
  try {
    // The gateway reports ready before it has made its topics (it can spool meanwhile), so
    // a reader started right after it waits for them, as an analyst's tap would be retried.
    await waitForTopics(bus, topics, timeoutMs);
    while (Date.now() < deadline) {
      got = [];
      const c = bus.consumer({ groupId: `reader-${randomUUID()}`, fromBeginning: true, maxWaitMs: 200 });
      let settle!: (outcome: 'done' | Error) => void;
      const outcome = new Promise<'done' | Error>((r) => (settle = r));
      const timer = setTimeout(() => settle(new Error('deadline')), Math.max(0, deadline - Date.now()));
      try {
        await c.subscribe(topics);
        await c.run({
          eachBatch: (b) => {
            got.push(...b.messages);
            if (done(got)) settle('done');
          },
          onError: (err) => settle(err),
        });
        const o = await outcome;
        if (o === 'done') return got;
        if (o.message !== 'deadline') lastError = o;
      } catch (err) {
        lastError = err as Error;
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        clearTimeout(timer);
        await c.close().catch(() => undefined);
      }
    }
    throw new Error(`readKafka: only ${got.length} messages after ${timeoutMs} ms ${describe(got)}${lastError === undefined ? '' : `; last consumer failure: ${lastError.message}`}`);
  } finally {
    await bus.close();
  }
}

/** Opens telemetry records and keeps those of `deviceIds`. */
export function openTelemetry(msgs: readonly BusMessage[], key: StreamDataKey, deviceIds: ReadonlySet<string>): TelemetryRecord[] {
  const codec = new RecordCodec();
  const out: TelemetryRecord[] = [];
  for (const m of msgs) {
    if (!deviceIds.has(m.key?.toString() ?? '')) continue;
    if (m.headers['vigil-key-id']?.toString() !== key.keyId) continue;
    out.push(codec.open(m.value as Buffer, key) as TelemetryRecord);
  }
  return out;
}

/** `until` polling every 50 ms (these conditions often fetch over HTTP or Kafka). */
export const until = (cond: () => boolean | Promise<boolean>, ms: number, what = 'condition'): Promise<void> => waitUntil(cond, ms, what, 50);

/** The sum of the samples on the lines of `<url>/metrics` that match `line`; 0 when none does. */
export async function metricSum(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => line.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}
