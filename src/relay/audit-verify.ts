import type { Bus } from '../bus';
import { parseOffset } from '../bus';
import type { Verifier } from '../crypto';
import { VigilError } from '../errors';
import { openSignedSummary, verifySummaryChain, type RelayAuditSummary, type RelayAuditTotals } from './audit-summary';
import { readPartitionTails } from './destination-tail';

/** Options of `verifyRelayAudit`. */
export interface VerifyRelayAuditOptions {
  readonly bus: Bus;
  /** The audit topic (`relayAuditTopic`). */
  readonly topic: string;
  /** Verifiers of the relay's public keys (several across a rotation of its signing key). */
  readonly verifiers: readonly Verifier[];
  /** Seq of the oldest summary expected in the topic (after retention removed older ones). Default 1. */
  readonly firstSeq?: number;
  /** Consumer group prefix for the read. */
  readonly groupPrefix: string;
  /** Fails after this long without progress. Default 30,000 ms. */
  readonly stallTimeoutMs?: number;
}

/** What `verifyRelayAudit` found: every summary checked, and their totals. */
export interface RelayAuditReport {
  readonly topic: string;
  readonly summaries: readonly RelayAuditSummary[];
  readonly totals: RelayAuditTotals;
}

/**
 * Reads a relay's audit topic from its oldest record to its current end, checks every
 * summary's Ed25519 signature and the chain (seq without gaps, each naming its
 * predecessor's digest), and sums the counts.
 *
 * @throws VigilError `VIGIL_E_RELAY_AUDIT_SIGNATURE` (a malformed or forged summary),
 *   `VIGIL_E_RELAY_AUDIT_GAP` (a summary missing, repeated or replaced), `VIGIL_E_BUS_*`
 */
export async function verifyRelayAudit(o: VerifyRelayAuditOptions): Promise<RelayAuditReport> {
  const messages = await readPartitionTails({ bus: o.bus, topics: [o.topic], lookback: Infinity, groupPrefix: o.groupPrefix, ...(o.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: o.stallTimeoutMs }) });
  if (messages.length === 0) throw new VigilError('VIGIL_E_RELAY_AUDIT_GAP', `${o.topic} holds no release summary: the relay never wrote one, or every one was deleted`, { details: { topic: o.topic } });
  messages.sort((a, b) => a.partition - b.partition || parseOffset(a.offset) - parseOffset(b.offset));
  const opened = messages.map((m) => {
    const where = `${o.topic} partition ${m.partition} offset ${m.offset}`;
    return { summary: openSignedSummary(m.value, o.verifiers, where).summary, where };
  });
  return { topic: o.topic, summaries: opened.map((s) => s.summary), totals: verifySummaryChain(opened, o.firstSeq ?? 1) };
}
