import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { KafkaBus } from '../bus';
import { parseLabelText, type ClassificationLabel } from '../codec';
import { loadConfig } from '../config';
import { startCot } from '../cot';
import { readStreamKeyRing, type StreamDataKey } from '../crypto';
import { VigilError } from '../errors';
import { examples } from './output';
import { configRelative, kafkaSecurity, loadTlsFiles } from './tls-files';

/** Streams TAK can use, read when their key is in --key-dir and no --stream is named. */
const DEFAULT_STREAMS = ['telemetry.position', 'derived.unit-picture', 'derived.geofence', 'derived.vitals', 'derived.vehicle-anomaly', 'derived.sensor-health'];

/** `SECRET`, `SECRET//REL TO GBR, USA`: a ceiling as analysts write it (`parseLabelText`), as a usage error when it is not one. */
export function parseMarking(value: string): ClassificationLabel {
  try {
    return parseLabelText(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function seconds(value: string): number {
  if (!/^[0-9]{1,7}$/.test(value) || Number(value) === 0) throw new InvalidArgumentError('must be a whole number of seconds ≥ 1');
  return Number(value);
}

/** `vigil cot`: positions and alerts of the streams you hold keys for, as Cursor-on-Target to a TAK server or SA multicast. */
export function cotCommand(): Command {
  return new Command('cot')
    .description('send positions, unit pictures and alerts to TAK as Cursor-on-Target (TCP, TLS or UDP multicast), within a classification ceiling')
    .addHelpText(
      'after',
      examples(
        'vigil cot --to tcp://tak.local:8087 --ceiling "SECRET//REL TO GBR" --key-dir keys',
        'vigil cot --to tls://tak.local:8089 --ca tak-ca.pem --cert me.pem --tls-key me.key --ceiling RESTRICTED --stream derived.geofence',
        'vigil cot --to udp://239.2.3.1:6969 --ceiling UNCLASSIFIED --stream telemetry.position --key-dir keys',
      ),
    )
    .requiredOption('--to <url>', 'tcp://host:port, tls://host:port (a TAK server) or udp://group:port (SA multicast)')
    .requiredOption('--ceiling <marking>', 'highest label sent, e.g. SECRET or "SECRET//REL TO GBR, USA": a record above it, or not releasable to every nation named, is never sent', parseMarking)
    .option('--stream <name>', 'stream to send (repeat); default: every one of telemetry.position and derived.{unit-picture,geofence,vitals,vehicle-anomaly,sensor-health} whose key is in --key-dir', collect, [])
    .option('--key-dir <dir>', 'folder of the stream keys, <stream>.key.json each', 'keys')
    .option('--ca <file>', 'TLS: CA of the TAK server')
    .option('--cert <file>', 'TLS: client certificate')
    .option('--tls-key <file>', 'TLS: client private key (chmod 600)')
    .option('--stale <seconds>', 'how long a position stays current in TAK', seconds, 300)
    .option('--from-beginning', 'send what the streams hold from their beginning first (bounded by retention)')
    .option('--brokers <list>', 'Kafka brokers host:port, comma-separated (default: kafka.brokers of the configuration)')
    .option('-c, --config <file>', 'YAML or JSON config file for kafka.* (default: $VIGIL_CONFIG)')
    .action(async (o: { to: string; ceiling: ClassificationLabel; stream: string[]; keyDir: string; ca?: string; cert?: string; tlsKey?: string; stale: number; fromBeginning?: boolean; brokers?: string; config?: string }) => {
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const path = configRelative(o.config ?? process.env.VIGIL_CONFIG);
      const keyFile = (s: string): string => join(o.keyDir, `${s}.key.json`);
      const names = o.stream.length > 0 ? o.stream : DEFAULT_STREAMS.filter((s) => existsSync(keyFile(s)));
      if (names.length === 0) throw new VigilError('VIGIL_E_CLI_USAGE', `--key-dir ${o.keyDir} holds none of ${DEFAULT_STREAMS.map((s) => `${s}.key.json`).join(', ')}; put the keys of the streams to send there, or name them with --stream`);
      const streams: Record<string, StreamDataKey[]> = {};
      for (const n of names) streams[cfg.kafka.topicPrefix + n] = [...(await readStreamKeyRing(keyFile(n))).all];
      const tls = o.to.startsWith('tls:') && o.ca !== undefined ? loadTlsFiles('cot', { caFile: o.ca, ...(o.cert === undefined ? {} : { certFile: o.cert }), ...(o.tlsKey === undefined ? {} : { keyFile: o.tlsKey }) }, (p) => p) : undefined;
      const log = pino({ level: cfg.log.level, base: { component: 'cot' } });
      const brokers = o.brokers !== undefined ? o.brokers.split(',').map((b) => b.trim()).filter((b) => b.length > 0) : cfg.kafka.brokers;
      const bus = new KafkaBus({ brokers, ...kafkaSecurity(cfg.kafka, path), clientId: `${cfg.kafka.clientId}-cot`, logLevel: 'nothing' });
      const cot = await startCot({
        bus, streams, ceiling: o.ceiling, staleMs: o.stale * 1000, fromBeginning: o.fromBeginning === true,
        link: { url: o.to, ...(tls === undefined ? {} : { tls }) },
        log: (level, fields, msg) => log[level](fields, msg),
      });
      log.info({ to: o.to, streams: Object.keys(streams), ceiling: o.ceiling }, 'cot started');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await cot.stop();
      log.info({ ...cot.stats() }, 'cot stopped');
      await bus.close();
    });
}
