import type { BusMessage } from '../bus';
import { classificationRank, RECORD_KEY_ID_HEADER, type ClassificationLabel, type DerivedRecord, type DerivedValue, type RecordCodec, type VigilRecord } from '../codec';
import type { SpoolEntry } from '../edge/spool';
import { isVigilError } from '../errors';
import type { RelayWithheldReason } from '../instrument';
import { withinCeiling } from '../runtime';
import type { RelayStreamPolicy } from './policy';
import type { RelayStreamKeys } from './relay-keys';
import { WindowSampler } from './window-sampler';

/** Kafka header of every relayed record: its identity at the destination, `<record key>#<revision>` (derived) or `<device>#<seq>` (telemetry). */
export const RELAY_ID_HEADER = 'vigil-relay-id';

const NONE: readonly string[] = Object.freeze([]);

/**
 * Whether a record labelled `label` may go to a destination whose ceiling is `ceiling`,
 * decided by the pipelines' own rule (`withinCeiling`); when not, which half of it failed:
 * a higher classification (`above-ceiling`), or a releasability that does not include every
 * nation or community of the destination (`not-releasable`).
 *
 * @example
 * const ceiling = parseLabelText('SECRET//REL TO FRA, GBR');
 * labelVerdict(makeLabel('SECRET', ['FRA', 'GBR', 'USA']), ceiling); // 'release'
 * labelVerdict(makeLabel('SECRET', ['GBR']), ceiling);               // 'not-releasable'
 * labelVerdict(makeLabel('TOP_SECRET', ['FRA', 'GBR']), ceiling);    // 'above-ceiling'
 */
export function labelVerdict(label: ClassificationLabel, ceiling: ClassificationLabel): 'release' | 'above-ceiling' | 'not-releasable' {
  if (withinCeiling(label, ceiling)) return 'release';
  return classificationRank(label.level) > classificationRank(ceiling.level) ? 'above-ceiling' : 'not-releasable';
}

/** What the relay does with one source message. */
export type ReleaseOutcome =
  | { readonly verdict: 'release'; readonly entry: SpoolEntry; readonly alert: boolean; /** Names of the derived values dropped (redaction), for the audit trail. */ readonly redacted: readonly string[] }
  | { readonly verdict: 'withheld'; readonly reason: RelayWithheldReason; readonly detail: string }
  | { readonly verdict: 'sampled' };

/** The identity of a record at the destination: what makes delivery idempotent. */
export function relayIdOf(record: VigilRecord): string {
  return record.type === 'derived' ? `${derivedKey(record)}#${record.revision}` : `${record.deviceId}#${record.seq}`;
}

function derivedKey(r: DerivedRecord): string {
  return `${r.key}|${r.windowStartMs}|${r.windowEndMs}`;
}

/**
 * Decides and prepares the release of one stream's records: open with the theatre ring,
 * check the label against the destination ceiling, down-sample, redact, seal under the relay
 * key. Never throws on input: anything that cannot be opened or judged is withheld as
 * `unreadable` (a record whose label cannot be parsed is never released).
 */
export class StreamReleaser {
  private readonly sampler: WindowSampler | undefined;
  private readonly redact: ReadonlySet<string>;

  constructor(
    readonly stream: RelayStreamPolicy,
    private readonly keys: RelayStreamKeys,
    private readonly ceiling: ClassificationLabel,
    private readonly codec: RecordCodec,
    private readonly now: () => number = Date.now,
    /** `deflate`: seal released records as version 2 (compressed before sealing, docs/wire-format.md §7). */
    private readonly recordCompression: 'none' | 'deflate' = 'none',
  ) {
    const every = stream.sample?.windowEverySeconds;
    this.sampler = every === undefined ? undefined : new WindowSampler(every * 1000);
    this.redact = new Set(stream.redact);
  }

  release(m: BusMessage): ReleaseOutcome {
    return this.releaseValue(m.value, m.headers[RECORD_KEY_ID_HEADER]?.toString('utf8'));
  }

  /** `release` of a message given by its value and its key id header, all the decision reads of it. */
  releaseValue(value: Buffer | null, keyId: string | undefined): ReleaseOutcome {
    if (value === null) return withheld('unreadable', 'a tombstone');
    if (keyId === undefined) return withheld('unreadable', `no ${RECORD_KEY_ID_HEADER} header`);
    if (!this.keys.source.has(keyId)) return withheld('unreadable', `sealed under key ${keyId}, not in the theatre ring`);
    let record: VigilRecord;
    let plaintext: Uint8Array | undefined;
    try {
      ({ record, plaintext } = this.codec.openWithPlaintext(value, this.keys.source.get(keyId)));
    } catch (err) {
      return withheld('unreadable', isVigilError(err) ? err.code : 'VIGIL_E_INTERNAL');
    }
    if (record.type !== (this.stream.source.startsWith('derived.') ? 'derived' : 'telemetry')) return withheld('unreadable', `a ${record.type} record in ${this.stream.source}`);
    const verdict = labelVerdict(record.label, this.ceiling);
    if (verdict !== 'release') return withheld(verdict, `${record.label.level} [${record.label.releasability.join(' ')}]`);
    const alert = record.type === 'derived' && record.values[this.stream.alertField] === true;
    let redacted: readonly string[] = NONE;
    if (record.type === 'derived') {
      if (!alert && this.stream.sample?.alertsOnly === true) return { verdict: 'sampled' };
      if (!alert && this.sampler !== undefined && !this.sampler.admit(record.key, record.windowStartMs)) return { verdict: 'sampled' };
      if (this.redact.size > 0) {
        const values: Record<string, DerivedValue> = {};
        const dropped: string[] = [];
        for (const [k, v] of Object.entries(record.values)) {
          if (this.redact.has(k)) dropped.push(k);
          else values[k] = v;
        }
        if (dropped.length > 0) {
          record = { ...record, values };
          redacted = dropped;
          plaintext = undefined;
        }
      }
    }
    let sealed;
    try {
      // Unchanged records are re-sealed as they were opened: no encoding again (the plaintext is
      // the codec's buffer, still holding this record: nothing else used the codec since).
      const options = { compress: this.recordCompression === 'deflate' };
      sealed = plaintext === undefined ? this.codec.seal(record, this.keys.relay, options) : this.codec.sealPlaintext(plaintext, this.keys.relay, options);
    } catch (err) {
      return withheld('unreadable', isVigilError(err) ? err.code : 'VIGIL_E_INTERNAL');
    }
    const key = record.type === 'derived' ? derivedKey(record) : record.deviceId;
    const entry: SpoolEntry = {
      deviceId: `${this.stream.destination}/${record.type === 'derived' ? record.key : record.deviceId}`,
      priority: alert ? 'flash' : this.stream.priority,
      topic: this.stream.destination,
      key: Buffer.from(key, 'utf8'),
      value: Buffer.from(sealed.value.buffer, sealed.value.byteOffset, sealed.value.byteLength),
      // The relay id is the Kafka key and the revision (`relayIdOf`), built from the key once.
      headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId, [RELAY_ID_HEADER]: record.type === 'derived' ? `${key}#${record.revision}` : `${key}#${record.seq}` },
      enqueuedAt: this.now(),
    };
    return { verdict: 'release', entry, alert, redacted };
  }
}

function withheld(reason: RelayWithheldReason, detail: string): ReleaseOutcome {
  return { verdict: 'withheld', reason, detail };
}
