/**
 * relay: federation (`vigil relay`, docs/relay.md). A theatre sends a command centre only what
 * a policy releases: labels checked against the destination's ceiling and releasability with
 * the pipelines' own rule, down-sampled, redacted, re-sealed under a relay key, through a
 * durable queue (the gateway's spool) and a bandwidth budget, without duplicates after a cut.
 */
export { parseLabelText, formatLabel } from '../codec';
export { parseRelayPolicy, relayPolicySchema, RELAY_PRIORITIES, type RelayPolicy, type RelayStreamPolicy, type RelayPriority } from './policy';
export { loadRelayKeys, type RelayStreamKeys } from './relay-keys';
export { labelVerdict, relayIdOf, StreamReleaser, RELAY_ID_HEADER, type ReleaseOutcome } from './release';
export { RELAY_WITHHELD_REASONS, type RelayWithheldReason, type RelayStats, type RelayLinkState } from '../instrument';
export { WindowSampler } from './window-sampler';
export { TokenBucket } from './token-bucket';
export { DeliveredLedger } from './delivered-ledger';
export { readDestinationTail, readPartitionTails, type DestinationTailOptions } from './destination-tail';
export { Relay, type RelayOptions, type RelayEvent } from './relay';
export { ReleaseAudit, relayAuditTopic, type ReleaseAuditOptions, type ReleaseAuditEvent, type RelayAuditSink } from './release-audit';
export {
  canonicalJson,
  relayPolicyDigest,
  summaryDigest,
  encodeSignedSummary,
  parseSignedSummary,
  openSignedSummary,
  verifySummaryChain,
  type RelayAuditSummary,
  type RelayAuditStreamCounts,
  type RelayAuditTotals,
  type SignedRelayAuditSummary,
} from './audit-summary';
export { verifyRelayAudit, type VerifyRelayAuditOptions, type RelayAuditReport } from './audit-verify';
