import { existsSync } from 'node:fs';
import { REFERENCE_ZONES } from '../../pipelines';
import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { KafkaBus, type Bus } from '../bus';
import type { VigilConfig } from '../config';
import { readStreamKeyRing, type StreamDataKey } from '../crypto';
import { errorLogFields, VigilError } from '../errors';
import { createMetrics, registerTapMetrics, type VigilMetrics } from '../metrics';
import { startHttpServer, TapEndpoint, type VigilHttpServer } from '../serve';
import { TapCatalog } from '../tap';
import type { PipelineCatalogue } from './worker-runner';
import { watchKeyRing } from './key-ring-watch';
import { componentLog, kafkaLogSink, processLogger } from './log';
import { kafkaSecurity, loadServerTls } from './tls-files';

export interface RunningConsole {
  /** Streams offered, as topics (with kafka.topicPrefix): `/tap/<stream>` and the map's `stream=`. */
  readonly streams: readonly string[];
  readonly bus: Bus;
  readonly metrics: VigilMetrics;
  readonly http: VigilHttpServer;
  readonly tap: TapEndpoint;
  /** The console's own lines (`component: "console"`, `console`); docs/operations.md, "Log fields". */
  readonly log: Logger;
  /** Reads the stream key rings again now (SIGHUP); they are also re-read within a second of changing. */
  reloadKeys(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartConsoleOptions {
  readonly baseDir?: string;
  readonly bus?: Bus;
  readonly logStream?: NodeJS.WritableStream;
}

/**
 * `vigil console`: the analysts' service on its own, against Kafka. It serves the live map
 * (`/map`), the WebSocket tap (`/tap/<stream>`, a tap token proving the stream's key: no key
 * is ever served) and `/metrics`, `/healthz`, `/readyz`, over HTTPS when `http.tls` is set,
 * on loopback unless `http.host` says otherwise. It holds the keys of the streams it offers
 * (`console.keyDir/<stream>.key.json`) and opens each stream only with its own.
 */
export async function startConsole(cfg: VigilConfig, catalogue: PipelineCatalogue, options: StartConsoleOptions = {}): Promise<RunningConsole> {
  const base = options.baseDir ?? process.cwd();
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  // Every line carries console (the Kafka client id) and its component (docs/operations.md, "Log fields").
  const root = processLogger({ console: cfg.kafka.clientId }, cfg.log.level, options.logStream);
  const log = componentLog(root, 'console');
  const keyDir = path(cfg.console.keyDir);
  const keyFile = (stream: string): string => join(keyDir, `${stream}.key.json`);
  // Named streams must all have keys; by default, the derived stream of every pipeline whose key is there.
  const names = cfg.console.streams.length > 0 ? [...cfg.console.streams] : [...catalogue.keys()].map((n) => `derived.${n}`).filter((s) => existsSync(keyFile(s)));
  if (names.length === 0) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', `config key "console.keyDir": ${keyDir} holds no derived.<pipeline>.key.json; put the keys of the streams to offer there, or name them in console.streams`, { details: { key: 'console.keyDir', path: keyDir } });
  }
  const keys: Record<string, StreamDataKey[]> = {};
  // A ring (vigil keys rotate) offers every key: records sealed before a rotation stay readable, tokens of any key are accepted.
  for (const n of names) keys[cfg.kafka.topicPrefix + n] = [...(await readStreamKeyRing(keyFile(n))).all];
  const streams = Object.keys(keys);
  const tls = cfg.http.tls === undefined ? undefined : loadServerTls(cfg.http.tls, path);
  const bus = options.bus ?? new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, path), clientId: cfg.kafka.clientId, logLevel: 'error', log: kafkaLogSink(root) });
  const ownBus = options.bus === undefined;
  const catalog = new TapCatalog({ bus, streams: keys });
  // Rotated rings apply without a restart (within a second, or reloadKeys on SIGHUP).
  const watches = await Promise.all(
    names.map(async (n) => watchKeyRing(keyFile(n), await readStreamKeyRing(keyFile(n)), (ring) => catalog.setKeys(cfg.kafka.topicPrefix + n, ring.all), componentLog(root, 'keys'))),
  );
  const tap = new TapEndpoint({ catalog });
  const metrics = createMetrics({ labels: { console: cfg.kafka.clientId } });
  registerTapMetrics(metrics, () => tap.stats());
  // Which offered streams exist yet: said once at start (a stream appears when its pipeline first runs).
  const present: string[] = [];
  try {
    for (const s of streams) if (await catalog.exists(s)) present.push(s);
  } catch (err) {
    componentLog(root, 'kafka').warn(errorLogFields(err), 'cannot reach kafka yet; the console serves meanwhile and taps fail until it can');
  }
  const missing = streams.filter((s) => !present.includes(s));
  if (missing.length > 0) componentLog(root, 'tap').warn({ streams: missing }, 'offered streams without a topic yet (their pipelines have not run): taps of them are refused with 404 until they exist');
  // The map draws the zones the geofence pipeline judges positions against (the same reference data).
  const map = { zones: REFERENCE_ZONES, ...(cfg.console.tiles === undefined ? {} : { tiles: cfg.console.tiles }) };
  const http = await startHttpServer({ host: cfg.http.host, port: cfg.http.port, metrics, readiness: () => ({ kafka: bus.isConnected() }), tap, map, ...(tls === undefined ? {} : { tls }) });
  let stopping: Promise<void> | undefined;
  return {
    streams,
    bus,
    metrics,
    http,
    tap,
    log,
    reloadKeys: async () => {
      for (const w of watches) await w.reload();
    },
    stop: () =>
      (stopping ??= (async () => {
        for (const w of watches) w.stop();
        await http.close();
        await catalog.close();
        if (ownBus) await bus.close();
      })()),
  };
}
