import type { Bus, BusProducer } from '../bus';
import { formatLabel } from '../codec';
import { resolveCryptoBackend, type CryptoBackend, type CryptoBackendOption, type Signer, type SigningKey } from '../crypto';
import { VigilError } from '../errors';
import { RELAY_WITHHELD_REASONS, type RelayAuditStats, type RelayWithheldReason } from '../instrument';
import { encodeSignedSummary, parseSignedSummary, relayPolicyDigest, summaryDigest, type RelayAuditStreamCounts, type RelayAuditSummary } from './audit-summary';
import { readPartitionTails } from './destination-tail';
import type { RelayPolicy } from './policy';
import type { ReleaseOutcome } from './release';

/** The theatre topic of a relay's signed release summaries: `<topicPrefix>vigil.audit.relay.<policy name>`. */
export function relayAuditTopic(policy: RelayPolicy, topicPrefix = ''): string {
  return `${topicPrefix}vigil.audit.relay.${policy.name}`;
}

/** What the relay tells its audit trail of each decision (`Relay`'s `audit` option). */
export interface RelayAuditSink {
  /** One source record of stream `source` decided. */
  decided(source: string, outcome: ReleaseOutcome): void;
  /** The queue shed a released record bound for `destination`. */
  shed(destination: string, priority: 'flash' | 'immediate' | 'routine'): void;
  /** The destination acknowledged `count` records of `destination`. */
  delivered(destination: string, count: number): void;
}

/** Options of `ReleaseAudit`. Defaults beside each. */
export interface ReleaseAuditOptions {
  readonly policy: RelayPolicy;
  /** The relay's own Ed25519 key (`vigil keys gen signing`). */
  readonly signingKey: SigningKey;
  /** The theatre's bus: the audit topic is local to the theatre. */
  readonly bus: Bus;
  /** Full name of the audit topic (`<kafka.topicPrefix>vigil.audit.relay.<name>`). */
  readonly topic: string;
  /** Consumer group prefix for reading the topic's last summary back. Default `vigil.relay.<name>.audit`. */
  readonly groupPrefix?: string;
  /** Length of a period, ms. Default 60,000. */
  readonly intervalMs?: number;
  /** Clock, ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  readonly backend?: CryptoBackend | CryptoBackendOption;
  /** Each summary written, or a failure to write one (it is retried next period, then at stop). */
  readonly onEvent?: (e: ReleaseAuditEvent) => void;
}

export interface ReleaseAuditEvent {
  readonly event: 'summary' | 'summary-failed';
  readonly seq: number;
  readonly message?: string;
}

interface Tally {
  released: number;
  delivered: number;
  sampled: number;
  withheld: Record<RelayWithheldReason, number>;
  redactedFields: Map<string, number>;
  shed: { flash: number; immediate: number; routine: number };
}

const tally = (): Tally => ({
  released: 0,
  delivered: 0,
  sampled: 0,
  withheld: Object.fromEntries(RELAY_WITHHELD_REASONS.map((r) => [r, 0])) as Record<RelayWithheldReason, number>,
  redactedFields: new Map(),
  shed: { flash: 0, immediate: 0, routine: 0 },
});

/**
 * The relay's audit trail: counts every release decision per stream and, every period and at
 * a clean stop, writes a summary of the period signed with the relay's Ed25519 key to the
 * theatre's audit topic, chained to the previous one by its digest (docs/federation.md).
 *
 * A summary once built is never changed: one that could not be written is written again, as
 * it was, before the next one (after reading the topic back: it may have landed), so the
 * chain has neither gaps nor forks.
 */
export class ReleaseAudit implements RelayAuditSink {
  private readonly signer: Signer;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly policyDigest: string;
  private readonly bySource = new Map<string, Tally>();
  private readonly sourceOf = new Map<string, string>();
  private producer: BusProducer | undefined;
  private seq = 0;
  private prevDigest: string | null = null;
  private periodStartMs = 0;
  private afterUncleanStop = false;
  /** A summary built but not known to be in the topic. */
  private pending: { summary: RelayAuditSummary; value: Buffer; uncertain: boolean } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly counts = { written: 0, failed: 0, lastWrittenAtMs: 0 };

  constructor(private readonly o: ReleaseAuditOptions) {
    this.now = o.now ?? Date.now;
    this.intervalMs = o.intervalMs ?? 60_000;
    if (!Number.isSafeInteger(this.intervalMs) || this.intervalMs < 1) throw new VigilError('VIGIL_E_RELAY_OPTIONS', `relay option auditIntervalMs must be an integer ≥ 1, got ${String(o.intervalMs)}`, { details: { option: 'auditIntervalMs' } });
    this.signer = resolveCryptoBackend(o.backend).createSigner(o.signingKey.sign.seed);
    this.policyDigest = relayPolicyDigest(o.policy);
    for (const s of o.policy.streams) {
      this.bySource.set(s.source, tally());
      this.sourceOf.set(s.destination, s.source);
    }
  }

  /** The public half of the signing key: verifiers need it (`vigil relay verify-audit --public-key`). */
  get publicKey(): Uint8Array {
    return this.signer.publicKey;
  }

  decided(source: string, outcome: ReleaseOutcome): void {
    const t = this.bySource.get(source);
    if (t === undefined) return;
    if (outcome.verdict === 'release') {
      t.released++;
      for (const name of outcome.redacted) t.redactedFields.set(name, (t.redactedFields.get(name) ?? 0) + 1);
    } else if (outcome.verdict === 'withheld') t.withheld[outcome.reason]++;
    else t.sampled++;
  }

  shed(destination: string, priority: 'flash' | 'immediate' | 'routine'): void {
    const source = this.sourceOf.get(destination);
    if (source !== undefined) (this.bySource.get(source) as Tally).shed[priority]++;
  }

  delivered(destination: string, count: number): void {
    const source = this.sourceOf.get(destination);
    if (source !== undefined) (this.bySource.get(source) as Tally).delivered += count;
  }

  /**
   * Makes sure the audit topic exists (one partition, kept for ever) and continues the chain
   * from its last summary; then writes a summary every period.
   *
   * @throws VigilError `VIGIL_E_BUS_*` when the theatre cannot be reached or refuses
   */
  async start(): Promise<void> {
    const admin = this.o.bus.admin();
    try {
      await admin.ensureTopics([{ topic: this.o.topic, partitions: 1, retentionMs: -1 }]);
    } finally {
      await admin.close().catch(() => undefined);
    }
    const last = await this.lastInTopic();
    if (last !== undefined) {
      this.seq = last.seq;
      this.prevDigest = summaryDigest(last);
      this.afterUncleanStop = last.reason !== 'shutdown';
    }
    this.producer = this.o.bus.producer();
    this.periodStartMs = this.now();
    this.timer = setInterval(() => void this.tick('periodic'), this.intervalMs);
    this.timer.unref();
  }

  stats(): RelayAuditStats {
    return { ...this.counts };
  }

  /** The sequence number of the last summary built (0 before the first). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Writes the period's summary now (also what the timer does); resolves once it is in the topic or has failed (then kept for the next attempt). */
  flush(): Promise<void> {
    return this.tick('periodic');
  }

  /** Writes the last summary (`shutdown`) and stops. A failure is reported through `onEvent` and rethrown. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return this.running;
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    if (this.producer === undefined) return;
    try {
      await this.emit('shutdown');
    } finally {
      await this.producer.close().catch(() => undefined);
    }
  }

  /** One write at a time: a timer tick during a slow write waits for it. */
  private tick(reason: 'periodic' | 'shutdown'): Promise<void> {
    this.running = this.running.then(() => this.emit(reason).catch(() => undefined));
    return this.running;
  }

  private async emit(reason: 'periodic' | 'shutdown'): Promise<void> {
    const producer = this.producer;
    if (producer === undefined) return;
    try {
      if (this.pending !== undefined) await this.writePending(producer);
      this.build(reason);
      await this.writePending(producer);
    } catch (err) {
      this.counts.failed++;
      this.o.onEvent?.({ event: 'summary-failed', seq: this.pending?.summary.seq ?? this.seq, message: (err as Error).message });
      throw err;
    }
  }

  /** Closes the period: its counts go into a new signed summary, and counting starts afresh. */
  private build(reason: 'periodic' | 'shutdown'): void {
    const end = Math.max(this.now(), this.periodStartMs);
    const streams: RelayAuditStreamCounts[] = this.o.policy.streams.map((s) => {
      const t = this.bySource.get(s.source) as Tally;
      this.bySource.set(s.source, tally());
      return { source: s.source, destination: s.destination, released: t.released, delivered: t.delivered, withheld: t.withheld, redactedFields: Object.fromEntries([...t.redactedFields].sort(([a], [b]) => (a < b ? -1 : 1))), sampled: t.sampled, shed: t.shed };
    });
    const summary: RelayAuditSummary = {
      format: 'vigil-relay-audit',
      version: 1,
      relay: this.o.policy.name,
      signer: this.o.signingKey.keyId,
      destination: this.o.policy.destination.name,
      ceiling: formatLabel(this.o.policy.destination.ceiling),
      policyDigest: this.policyDigest,
      seq: this.seq + 1,
      prevDigest: this.prevDigest,
      periodStartMs: this.periodStartMs,
      periodEndMs: end,
      reason,
      afterUncleanStop: this.afterUncleanStop,
      streams,
    };
    this.seq = summary.seq;
    this.prevDigest = summaryDigest(summary);
    this.periodStartMs = end;
    this.afterUncleanStop = false;
    this.pending = { summary, value: encodeSignedSummary(summary, this.signer), uncertain: false };
  }

  /** Writes the pending summary; after a failed write, first reads the topic back: the summary may have landed. */
  private async writePending(producer: BusProducer): Promise<void> {
    const p = this.pending as NonNullable<ReleaseAudit['pending']>;
    if (p.uncertain) {
      const last = await this.lastInTopic();
      if (last !== undefined && last.seq === p.summary.seq && summaryDigest(last) === this.prevDigest) return this.written(p.summary.seq);
    }
    try {
      await producer.send(this.o.topic, [{ key: this.o.policy.name, value: p.value }]);
    } catch (err) {
      p.uncertain = true;
      throw err;
    }
    this.written(p.summary.seq);
  }

  private written(seq: number): void {
    this.pending = undefined;
    this.counts.written++;
    this.counts.lastWrittenAtMs = this.now();
    this.o.onEvent?.({ event: 'summary', seq });
  }

  private async lastInTopic(): Promise<RelayAuditSummary | undefined> {
    const tail = await readPartitionTails({ bus: this.o.bus, topics: [this.o.topic], lookback: 1, groupPrefix: this.o.groupPrefix ?? `vigil.relay.${this.o.policy.name}.audit` });
    const m = tail[tail.length - 1];
    // Not verified here (the key may have been rotated since): the chain is checked by its verifier, who holds the public keys.
    return m === undefined ? undefined : parseSignedSummary(m.value, `${this.o.topic}@${m.partition}:${m.offset}`).summary;
  }
}
