import { Command, InvalidArgumentError } from 'commander';
import { KafkaBus, type Bus } from '../bus';
import { loadConfig } from '../config';
import { readStreamKeyRing, StreamKeyring, type StreamDataKey } from '../crypto';
import type { VigilErrorCode } from '../errors';
import { StreamTap, TapTable, tapRecordJson, tapToken, type StreamTapStats, type TapRecord, type TapUnreadable } from '../tap';
import { out, examples } from './output';
import { configRelative, kafkaSecurity } from './tls-files';

/** Unreadable records reported one by one per error code; past it, only the final count. */
const UNREADABLE_LINES_PER_CODE = 5;

/** Options of `runTap`, the core of `vigil tap` (a `Bus` is given, so tests need no Kafka). */
export interface RunTapOptions {
  readonly bus: Bus;
  readonly stream: string;
  /** The analyst's stream keys (from `--key` files). */
  readonly keys: readonly StreamDataKey[];
  /** JSON lines (`TapRecordJson`) instead of the table. Default false. */
  readonly json?: boolean;
  /** Start at the oldest record the bus keeps. Default: only records produced from now on. */
  readonly fromBeginning?: boolean;
  /** Stop after this many records. Default: until aborted. */
  readonly limit?: number;
  /** Aborting ends the tap cleanly (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Progress and warnings, one line each (stderr in the CLI, so stdout stays data only). */
  readonly log?: (line: string) => void;
  /** Called once the tap is positioned: records produced after this are shown. */
  readonly onReady?: () => void;
}

/**
 * Prints a stream live for an analyst: the table (or JSON lines) goes to `out`, progress and
 * unreadable records to `log`. Resolves with the tap's counters when `limit` records were
 * shown or `signal` aborted; rejects with `VIGIL_E_TAP_NO_KEY` when the stream is sealed under
 * a key the analyst lacks.
 *
 * @example
 * const ac = new AbortController();
 * process.once('SIGINT', () => ac.abort());
 * await runTap({ bus, stream: 'derived.vitals', keys: [vitalsKey], signal: ac.signal });
 */
export async function runTap(o: RunTapOptions): Promise<StreamTapStats> {
  const log = o.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const table = new TapTable({ color: o.json !== true && (out as NodeJS.WriteStream).isTTY === true });
  const shownPerCode = new Map<VigilErrorCode, number>();
  let shown = 0;
  let headerDone = o.json === true;
  // Set once open; the handlers below may in principle run before `open` returns.
  const ref: { tap?: StreamTap } = {};

  const onRecord = (r: TapRecord): void => {
    if (o.limit !== undefined && shown >= o.limit) return;
    shown++;
    if (o.json === true) out.write(JSON.stringify(tapRecordJson(r)) + '\n');
    else {
      if (!headerDone) {
        out.write(table.header() + '\n');
        headerDone = true;
      }
      out.write(table.lines(r).map((l) => l + '\n').join(''));
    }
    // Not awaited: closing waits for the batch that is calling us.
    if (o.limit !== undefined && shown >= o.limit) void ref.tap?.close();
  };
  const onUnreadable = (u: TapUnreadable): void => {
    const n = (shownPerCode.get(u.code) ?? 0) + 1;
    shownPerCode.set(u.code, n);
    if (n <= UNREADABLE_LINES_PER_CODE) {
      log(`tap: skipped ${u.stream}[${u.partition}]@${u.offset}${u.keyId === null ? '' : ` (key ${u.keyId})`}: ${u.code}: ${u.message}`);
      if (n === UNREADABLE_LINES_PER_CODE) log(`tap: further ${u.code} records are counted, not listed`);
    }
  };

  const tap = await StreamTap.open({ bus: o.bus, stream: o.stream, keyring: new StreamKeyring(o.keys), fromBeginning: o.fromBeginning === true, onRecord, onUnreadable });
  ref.tap = tap;
  const stop = (): void => void tap.close();
  o.signal?.addEventListener('abort', stop, { once: true });
  try {
    if (o.signal?.aborted === true || o.limit === 0) stop();
    log(`tap: ${o.stream} from ${o.fromBeginning === true ? 'the beginning' : 'now on'}, keys ${o.keys.map((k) => k.keyId).join(', ')}${o.signal !== undefined ? '; Ctrl-C to stop' : ''}`);
    o.onReady?.();
    await tap.done();
  } finally {
    o.signal?.removeEventListener('abort', stop);
    await tap.close();
    const s = tap.stats();
    const codes = Object.entries(s.unreadableByCode).map(([c, n]) => `${c} ${n}`).join(', ');
    log(`tap: ${s.records} record${s.records === 1 ? '' : 's'}${s.unreadable > 0 ? `, ${s.unreadable} unreadable (${codes})` : ''}`);
  }
  return tap.stats();
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function nonNegativeInt(value: string): number {
  if (!/^[0-9]{1,9}$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

/**
 * `vigil tap <stream> --key <file>…`: an analyst's live view of a stream (derived or raw
 * telemetry), opened with their stream keys; `--token` prints the WebSocket tap token instead.
 */
export function tapCommand(): Command {
  return new Command('tap')
    .description('show a stream live, opened with your stream keys (a stream under a key you lack is refused)')
    .addHelpText('after', examples('vigil tap derived.vitals --key keys/derived.vitals.key.json', 'vigil tap telemetry.position --key keys/telemetry.key.json --from-beginning --limit 100 --json', 'vigil tap derived.vitals --token --key keys/derived.vitals.key.json'))
    .argument('<stream>', 'stream (Kafka topic), e.g. derived.vitals or telemetry.position')
    .requiredOption('-k, --key <file>', 'stream key file; repeat for several keys (rotation)', collect, [])
    .option('--brokers <list>', 'Kafka brokers host:port, comma-separated (default: kafka.brokers of the configuration)')
    .option('-c, --config <file>', 'YAML or JSON config file for kafka.brokers (default: $VIGIL_CONFIG)')
    .option('--json', 'JSON lines, one record each, instead of the table')
    .option('--from-beginning', 'start at the oldest record the bus keeps, not at the newest')
    .option('-n, --limit <n>', 'stop after n records', nonNegativeInt)
    .option('--token', 'print the WebSocket tap token of the stream for each key, then exit')
    .action(async (stream: string, o: { key: string[]; brokers?: string; config?: string; json?: boolean; fromBeginning?: boolean; limit?: number; token?: boolean }) => {
      // Each file may be a ring (vigil keys rotate): every key in it opens what it sealed, the current one first.
      const keys = (await Promise.all(o.key.map((f) => readStreamKeyRing(f)))).flatMap((r) => r.all);
      if (o.token === true) {
        for (const k of keys) out.write(keys.length === 1 ? `${tapToken(k, stream)}\n` : `${k.keyId}\t${tapToken(k, stream)}\n`);
        return;
      }
      // The configuration gives the brokers (unless --brokers) and how to reach them (kafka.ssl, kafka.sasl).
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const brokers = o.brokers !== undefined ? o.brokers.split(',').map((b) => b.trim()).filter((b) => b.length > 0) : cfg.kafka.brokers;
      const bus = new KafkaBus({ brokers, ...kafkaSecurity(cfg.kafka, configRelative(o.config ?? process.env.VIGIL_CONFIG)), clientId: 'vigil-tap', logLevel: 'nothing' });
      const ac = new AbortController();
      const interrupt = (): void => ac.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        await runTap({ bus, stream, keys, json: o.json === true, fromBeginning: o.fromBeginning === true, signal: ac.signal, ...(o.limit !== undefined ? { limit: o.limit } : {}) });
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
        await bus.close();
      }
    });
}
