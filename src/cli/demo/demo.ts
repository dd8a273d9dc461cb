import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createWriteStream } from 'node:fs';
import { KafkaBus, MemoryBus, type Bus } from '../../bus';
import { RecordCodec, type DerivedRecord } from '../../codec';
import { configSchema, type VigilConfig } from '../../config';
import { generateStreamKey, readStreamKeyFile, StreamKeyring, writeKeyFile, type StreamDataKey } from '../../crypto';
import { createMetrics } from '../../metrics';
import { startHttpServer, TapEndpoint, type VigilHttpServer } from '../../serve';
import { alertState, emphasise, feedValue, fitColumns, TapCatalog, tapToken, utcClock, visibleValues } from '../../tap';
import { createFleet, FleetDriver, loadProvisionedFleet, provisionFleet } from '../../sim';
import { startGateway, type RunningGateway } from '../gateway-runner';
import { startWorker, type PipelineCatalogue, type RunningWorker } from '../worker-runner';
import { REFERENCE_ZONES } from '../../../pipelines';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker';

export interface DemoOptions {
  /** Where keys, the registry, spool and logs go (default `.vigil/demo`). */
  readonly dir?: string;
  /** Port of the embedded MQTT broker (default 1883; a free one when that is taken). */
  readonly mqttPort?: number;
  /** HTTP port for /metrics, /healthz, /readyz (default 9464; a free one when taken). */
  readonly httpPort?: number;
  /** Use these real brokers instead of the embedded ones. */
  readonly mqttUrl?: string;
  readonly kafkaBrokers?: readonly string[];
  readonly fleet?: { readonly vehicles?: number; readonly soldiers?: number; readonly ugs?: number; readonly uavs?: number; readonly seed?: number };
  /** Where the live tap and banner go (default stdout). */
  readonly out?: NodeJS.WritableStream;
  /** Print at most this many derived records per second to the terminal (default 8); the rest are counted. */
  readonly tapPerSecond?: number;
}

export interface RunningDemo {
  readonly mqttUrl: string;
  readonly httpUrl: string;
  /** The live map's URL, with its tap tokens in the fragment. */
  readonly mapUrl: string;
  readonly dir: string;
  /** The registry the demo's gateway reads (and reloads within a second of a change): enrol your own devices here. */
  readonly registryFile: string;
  /** Base64 X25519 public half of the demo's ingest key: what devices seal their frames to. */
  readonly ingestPublicKey: string;
  /** Derived records seen by the terminal tap, per stream. */
  readonly derivedSeen: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

/** One terminal line for a derived record: UTC clock times, internal values hidden, alerts marked (▲ raised, ▽ cleared), at most `width` columns. */
export function formatDerived(rec: DerivedRecord, width = 100): string {
  const alert = alertState(rec);
  const values = visibleValues(rec.values)
    .map(([k, v]) => `${k}=${feedValue(v)}`)
    .join(' ');
  const window = rec.windowStartMs === rec.windowEndMs ? utcClock(rec.windowEndMs) : `${utcClock(rec.windowStartMs).slice(0, -1)}–${utcClock(rec.windowEndMs)}`;
  const mark = alert === 'raised' ? '▲' : alert === 'cleared' ? '▽' : ' ';
  return fitColumns(`${mark} ${rec.pipeline.padEnd(15)} ${rec.key.padEnd(20)} ${window.padEnd(18)} ${values}${rec.revision > 0 ? ` (r${rec.revision})` : ''}`, width);
}

/** Alert streams the demo's map link shows, in this order, when their pipelines run. */
const MAP_ALERT_STREAMS = ['geofence', 'vitals', 'sensor-health', 'vehicle-anomaly'];

/**
 * The demo's live map link: positions and every alert stream, each with its tap token, from
 * the beginning of what the bus holds (`from=beginning`, also the page's default), so alerts
 * raised and devices heard before the page was opened are on it.
 */
export function demoMapUrl(httpUrl: string, telemetryKey: StreamDataKey, derivedKeys: ReadonlyMap<string, StreamDataKey>): string {
  const names = MAP_ALERT_STREAMS.filter((n) => derivedKeys.has(n));
  const alerts = names.length === 0 ? '' : `&alerts=${names.map((n) => `derived.${n}`).join(',')}&alertsToken=${names.map((n) => tapToken(derivedKeys.get(n) as StreamDataKey, `derived.${n}`)).join(',')}`;
  return `${httpUrl}/map#stream=telemetry.position&token=${tapToken(telemetryKey, 'telemetry.position')}${alerts}&from=beginning`;
}

/**
 * `vigil demo`: the whole system in one process with no server installed — aedes as the
 * MQTT broker (MQTT 5 and 3.1.1), the in-memory bus, a gateway, every pipeline, a simulated fleet, /metrics,
 * and a live tap of the derived streams in the terminal. With `mqttUrl`/`kafkaBrokers` the
 * same demo runs against real brokers.
 */
export async function runDemo(catalogue: PipelineCatalogue, options: DemoOptions = {}): Promise<RunningDemo> {
  const out = options.out ?? process.stdout;
  const say = (line: string): void => void out.write(line + '\n');
  const dir = resolve(options.dir ?? '.vigil/demo');
  mkdirSync(join(dir, 'keys'), { recursive: true });
  const stops: Array<() => Promise<unknown> | void> = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try {
        await s();
      } catch {
        /* keep stopping the rest */
      }
    }
  };

  try {
    // 1. Provision (idempotent: a second run reuses the keys and registry).
    const f = options.fleet ?? {};
    const fleetConfig = { seed: f.seed ?? 7, vehicles: f.vehicles ?? 6, soldiers: f.soldiers ?? 8, ugs: f.ugs ?? 4, uavs: f.uavs ?? 2, theatre: 'demo', unit: 'task-force-1', rateHz: 1 };
    const provisioned = await provisionFleet({ dir: join(dir, 'fleet'), fleet: createFleet(fleetConfig, { startMs: Date.now() }), ingestKeyId: 'demo-ingest' });
    const telemetryKeyFile = join(dir, 'keys', 'telemetry.key.json');
    if (!existsSync(telemetryKeyFile)) await writeKeyFile(telemetryKeyFile, { type: 'stream', key: generateStreamKey('telemetry-demo') });
    for (const name of catalogue.keys()) {
      const file = join(dir, 'keys', `derived.${name}.key.json`);
      if (!existsSync(file)) await writeKeyFile(file, { type: 'stream', key: generateStreamKey(`derived.${name}-1`) });
    }

    // 2. Brokers: embedded unless real ones are given.
    let broker: EmbeddedBroker | undefined;
    let mqttUrl = options.mqttUrl;
    if (!mqttUrl) {
      broker = await startEmbeddedBroker({ port: options.mqttPort ?? 1883, fallbackToFreePort: true, onNotice: (m) => say(`note: ${m}`) });
      stops.push(() => (broker as EmbeddedBroker).close());
      mqttUrl = broker.url;
    }
    // The gateway speaks 3.1.1 to aedes directly (aedes has no shared subscriptions); devices use MQTT 5, as the integrator guide says.
    const protocol = broker ? 4 : 5;
    const bus: Bus = options.kafkaBrokers ? new KafkaBus({ brokers: options.kafkaBrokers, clientId: 'vigil-demo', sendTimeoutMs: 5000 }) : new MemoryBus();
    stops.push(() => bus.close());

    const cfg: VigilConfig = configSchema.parse({
      log: { level: 'info' },
      mqtt: { url: mqttUrl, clientId: 'vigil-demo' },
      kafka: { brokers: options.kafkaBrokers ? [...options.kafkaBrokers] : ['127.0.0.1:9092'], clientId: 'vigil-demo', partitions: 3 },
      gateway: {
        id: 'demo-gw', group: 'demo', registryFile: provisioned.registryFile, ingestKeyFile: provisioned.ingestKeyFile, streamKeyFile: telemetryKeyFile,
        dataDir: join(dir, 'data'), fsync: 'always',
      },
      worker: { telemetryKeyFile, keyDir: join(dir, 'keys'), checkpointIntervalMs: 5000, stateDir: join(dir, 'state') },
    });
    const logStream = createWriteStream(join(dir, 'demo.log'), { flags: 'a' });
    stops.push(() => new Promise<void>((r) => logStream.end(() => r())));
    const metrics = createMetrics({ labels: { process: 'demo' } });
    stops.push(() => metrics.close());

    // 3. The pipelines, the gateway, one HTTP server for all of it.
    const worker: RunningWorker = await startWorker(cfg, catalogue, { bus, http: false, metrics, logStream });
    stops.push(() => worker.stop());
    const gateway: RunningGateway = await startGateway(cfg, { bus, http: false, metrics, logStream, mqttProtocolVersion: protocol });
    stops.push(() => gateway.stop());
    let http: VigilHttpServer;
    const readiness = (): Record<string, boolean> => ({ ...gateway.readiness(), pipelines: [...worker.workers.values()].every((w) => w.stats().state === 'running') });
    // The WebSocket tap and the live map serve positions and every derived stream, each
    // opened with its own key; a browser gets a token per stream, never a key.
    const telemetryKey = await readStreamKeyFile(telemetryKeyFile);
    const derivedKeys = new Map(await Promise.all([...catalogue.keys()].map(async (n) => [n, await readStreamKeyFile(join(dir, 'keys', `derived.${n}.key.json`))] as const)));
    const streams: Record<string, StreamDataKey[]> = { 'telemetry.position': [telemetryKey] };
    for (const [n, k] of derivedKeys) streams[`derived.${n}`] = [k];
    const tapOf = (): TapEndpoint => new TapEndpoint({ catalog: new TapCatalog({ bus, streams }) });
    try {
      http = await startHttpServer({ host: '127.0.0.1', port: options.httpPort ?? 9464, metrics, readiness, tap: tapOf(), map: { zones: REFERENCE_ZONES } });
    } catch {
      http = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, readiness, tap: tapOf(), map: { zones: REFERENCE_ZONES } });
      say(`note: HTTP port ${options.httpPort ?? 9464} is in use; serving on ${http.port} instead`);
    }
    stops.push(() => http.close());

    // 4. The live tap: every derived stream, opened with the derived keys.
    const keyring = new StreamKeyring([...derivedKeys.values()]);
    const codec = new RecordCodec();
    const seen = new Map<string, number>();
    const perSecond = options.tapPerSecond ?? 8;
    const color = (out as NodeJS.WriteStream).isTTY === true;
    let printed = 0;
    let windowStart = Date.now();
    let suppressed = 0;
    const tap = bus.consumer({ groupId: `demo-tap-${process.pid}-${Date.now()}`, fromBeginning: false });
    await tap.subscribe([...catalogue.keys()].map((n) => `derived.${n}`));
    await tap.run({
      eachBatch: (batch) => {
        for (const m of batch.messages) {
          seen.set(batch.topic, (seen.get(batch.topic) ?? 0) + 1);
          const keyId = m.headers['vigil-key-id']?.toString();
          if (!keyId || !keyring.has(keyId) || !m.value) continue;
          const now = Date.now();
          if (now - windowStart >= 1000) {
            if (suppressed > 0) say(`${' '.repeat(16)} … ${suppressed} more derived records in the last second (see /metrics)`);
            windowStart = now;
            printed = 0;
            suppressed = 0;
          }
          let rec: DerivedRecord;
          try {
            rec = codec.open(m.value, keyring.get(keyId)) as DerivedRecord;
          } catch {
            continue; // a record the demo cannot open is counted, not shown
          }
          // The throttle holds back statistics, never an alert or its clear.
          const alert = alertState(rec);
          if (printed >= perSecond && alert === undefined) {
            suppressed++;
            continue;
          }
          say(emphasise(formatDerived(rec), alert, color));
          printed++;
        }
      },
    });
    stops.push(() => tap.close());

    // 5. The simulated fleet, publishing real sealed frames over MQTT.
    const loaded = await loadProvisionedFleet(join(dir, 'fleet'));
    const driver = await FleetDriver.connect({
      fleet: createFleet(fleetConfig, { startMs: Date.now() }),
      keys: loaded.keys,
      ingestPublicKey: provisioned.ingestPublicKey,
      mqttUrl,
      speed: 1,
    });
    stops.push(() => driver.stop());
    driver.start();

    say('');
    say('Vigil demo running (Ctrl-C stops it):');
    say(`  fleet      ${fleetConfig.vehicles} vehicles, ${fleetConfig.soldiers} soldiers, ${fleetConfig.ugs} ground sensors, ${fleetConfig.uavs} UAVs publishing sealed frames`);
    say(`  mqtt       ${mqttUrl}${broker ? ' (embedded aedes, MQTT 5 and 3.1.1)' : ''}`);
    say(`  bus        ${options.kafkaBrokers ? `Kafka ${options.kafkaBrokers.join(',')}` : 'in-memory'}`);
    say(`  pipelines  ${[...catalogue.keys()].join(', ')}`);
    say(`  metrics    ${http.url}/metrics   health ${http.url}/readyz`);
    const mapUrl = demoMapUrl(http.url, telemetryKey, derivedKeys);
    say(`  live map   ${mapUrl}`);
    say(`  files      ${dir} (keys, registry, spool; logs in demo.log)`);
    say(`  enrol      your own device: add it to ${provisioned.registryFile} (vigil device add -r …), seal to ingest key ${provisioned.ingestPublicKey}`);
    say('  derived records appear below as windows close (the first within about 15 s):');
    say('');
    return {
      mqttUrl,
      httpUrl: http.url,
      mapUrl,
      dir,
      registryFile: provisioned.registryFile,
      ingestPublicKey: provisioned.ingestPublicKey,
      derivedSeen: seen,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
