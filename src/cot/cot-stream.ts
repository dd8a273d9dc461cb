import type { Bus } from '../bus';
import { formatLabel, type ClassificationLabel } from '../codec';
import { StreamKeyring, type StreamDataKey } from '../crypto';
import type { VigilError } from '../errors';
import { withinCeiling } from '../runtime';
import { StreamTap, type TapUnreadable } from '../tap';
import { cotXml, toCotEvents, type CotContext } from './cot-event';
import { CotLink, type CotLinkOptions, type CotLinkStats } from './cot-link';

/** Options of `startCot`, the core of `vigil cot`. */
export interface CotOptions {
  readonly bus: Bus;
  /** The streams to send (topics), each with the keys that open it. */
  readonly streams: Readonly<Record<string, readonly StreamDataKey[]>>;
  readonly link: CotLinkOptions;
  /** The link's classification ceiling: a record above it, or not releasable to every nation it names, is never sent. */
  readonly ceiling: ClassificationLabel;
  /** How long a position stays current in TAK. Default 5 min. */
  readonly staleMs?: number;
  /** How long an alert stays. Default 15 min. */
  readonly alertStaleMs?: number;
  /** Start at the oldest record the bus keeps (a TAK server's history). Default: from now on. */
  readonly fromBeginning?: boolean;
  readonly classOf?: (deviceId: string) => string | undefined;
  readonly log?: (level: 'info' | 'warn', fields: Record<string, unknown>, msg: string) => void;
}

export interface CotStats {
  readonly link: CotLinkStats;
  /** Records read, per stream. */
  readonly records: Readonly<Record<string, number>>;
  /** Events made and handed to the link. */
  readonly events: number;
  /** Records never sent because of the link's ceiling. */
  readonly refusedAboveCeiling: number;
  readonly unreadable: number;
}

export interface RunningCot {
  stats(): CotStats;
  stop(): Promise<void>;
}

/**
 * Reads the given streams with their keys (one `StreamTap` each) and sends what TAK can use
 * as CoT events over one link: positions, unit pictures, alerts and their clears. The
 * link's ceiling is checked per record before any event is made.
 *
 * @example
 * const cot = await startCot({ bus, streams: { 'derived.geofence': [key] }, link: { url: 'tcp://tak:8087' }, ceiling: makeLabel('SECRET', ['GBR']) });
 */
export async function startCot(o: CotOptions): Promise<RunningCot> {
  const log = o.log ?? (() => undefined);
  const link = new CotLink({ ...o.link, onState: (up, reason) => log(up ? 'info' : 'warn', { url: o.link.url, ...(reason === undefined ? {} : { reason }) }, up ? 'CoT link up' : 'CoT link down; holding events (bounded backlog) and reconnecting') });
  const ctx: CotContext = { staleMs: o.staleMs ?? 300_000, alertStaleMs: o.alertStaleMs ?? 900_000, lastFix: new Map(), ...(o.classOf === undefined ? {} : { classOf: o.classOf }) };
  const counters = { events: 0, refusedAboveCeiling: 0, unreadable: 0 };
  const records: Record<string, number> = {};
  const taps: StreamTap[] = [];
  const refusedSaid = new Set<string>();
  try {
    for (const [stream, keys] of Object.entries(o.streams)) {
      records[stream] = 0;
      taps.push(
        await StreamTap.open({
          bus: o.bus, stream, keyring: new StreamKeyring(keys), fromBeginning: o.fromBeginning === true,
          onRecord: (r) => {
            records[stream] = (records[stream] ?? 0) + 1;
            if (!withinCeiling(r.record.label, o.ceiling)) {
              counters.refusedAboveCeiling++;
              const marking = formatLabel(r.record.label);
              if (!refusedSaid.has(marking)) {
                refusedSaid.add(marking);
                log('warn', { stream, label: marking, ceiling: formatLabel(o.ceiling) }, 'records above the CoT link ceiling are not sent (counted; said once per label)');
              }
              return;
            }
            for (const e of toCotEvents(r.record, ctx)) {
              link.send(cotXml(e));
              counters.events++;
            }
          },
          onUnreadable: (u: TapUnreadable) => {
            counters.unreadable++;
            log('warn', { stream, partition: u.partition, offset: u.offset, code: u.code }, 'unreadable record skipped');
          },
          onError: (err: VigilError) => log('warn', { stream, code: err.code, err: err.message }, 'stream tap stopped'),
        }),
      );
    }
  } catch (err) {
    await Promise.all(taps.map((t) => t.close()));
    await link.close(0);
    throw err;
  }
  return {
    stats: () => ({ link: link.stats(), records: { ...records }, ...counters }),
    stop: async () => {
      await Promise.all(taps.map((t) => t.close()));
      await link.close();
    },
  };
}
