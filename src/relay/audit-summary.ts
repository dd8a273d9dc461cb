import { createHash } from 'node:crypto';
import type { Signer, Verifier } from '../crypto';
import { VigilError } from '../errors';
import { RELAY_WITHHELD_REASONS, type RelayWithheldReason } from '../instrument';
import type { RelayPolicy } from './policy';

/** What a summary says of one relayed stream over its period. */
export interface RelayAuditStreamCounts {
  readonly source: string;
  readonly destination: string;
  /** Records released: passed the ceiling, not sampled out, re-sealed and queued. */
  readonly released: number;
  /** Records the destination acknowledged. */
  readonly delivered: number;
  readonly withheld: Readonly<Record<RelayWithheldReason, number>>;
  /** Derived values dropped by redaction, per value name. */
  readonly redactedFields: Readonly<Record<string, number>>;
  /** Records left out by down-sampling. */
  readonly sampled: number;
  /** Released records the full queue shed before they were delivered, per priority. */
  readonly shed: Readonly<Record<'flash' | 'immediate' | 'routine', number>>;
}

/** One signed release summary (docs/federation.md, audit trail). */
export interface RelayAuditSummary {
  readonly format: 'vigil-relay-audit';
  readonly version: 1;
  /** The policy's name (the relay's name). */
  readonly relay: string;
  /** Key id of the signing key. */
  readonly signer: string;
  readonly destination: string;
  /** The destination ceiling, as label text. */
  readonly ceiling: string;
  /** `relayPolicyDigest` of the policy in force during the whole period. */
  readonly policyDigest: string;
  /** 1, 2, 3 … without gaps over the relay's life. */
  readonly seq: number;
  /** `summaryDigest` of summary `seq − 1`; null for seq 1. */
  readonly prevDigest: string | null;
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  /** `periodic`, or `shutdown` for the last summary of a clean stop. */
  readonly reason: 'periodic' | 'shutdown';
  /**
   * True on the first summary of a run that followed a run which did not end with a
   * `shutdown` summary (a crash): decisions of the crashed run after its last summary are
   * in no summary, and records it had not committed are decided (and counted) again.
   */
  readonly afterUncleanStop: boolean;
  readonly streams: readonly RelayAuditStreamCounts[];
}

/** A summary with its Ed25519 signature, as read from the audit topic. */
export interface SignedRelayAuditSummary {
  readonly summary: RelayAuditSummary;
  readonly signature: Uint8Array;
}

const DOMAIN = 'vigil-relay-audit/1\n';
const SIGNATURE_BYTES = 64;
const MAX_SUMMARY_BYTES = 1024 * 1024;

/**
 * JSON with object keys sorted at every level and no white space: the one byte string of a
 * value that is signed and hashed. Only plain objects, arrays, strings, safe integers,
 * booleans and null occur in a summary.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new VigilError('VIGIL_E_RELAY_OPTIONS', `canonical JSON holds integers only, got ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  throw new VigilError('VIGIL_E_RELAY_OPTIONS', `canonical JSON cannot hold a ${typeof value}`);
}

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;

/**
 * The digest of a validated policy (sha256 of its canonical JSON, defaults included): a
 * summary carries it, so it proves which policy was in force. `vigil relay --check` prints it.
 */
export function relayPolicyDigest(policy: RelayPolicy): string {
  return sha256(canonicalJson(policy));
}

/** The bytes an Ed25519 signature covers: a domain tag, then the canonical JSON. */
function signedBytes(summary: RelayAuditSummary): Uint8Array {
  return Buffer.from(DOMAIN + canonicalJson(summary), 'utf8');
}

/** sha256 of the signed bytes: what the next summary names as `prevDigest`. */
export function summaryDigest(summary: RelayAuditSummary): string {
  return sha256(DOMAIN + canonicalJson(summary));
}

/** The Kafka value of a summary: `{"summary": …, "signature": "<base64>"}` (canonical JSON). */
export function encodeSignedSummary(summary: RelayAuditSummary, signer: Signer): Buffer {
  const signature = signer.sign(signedBytes(summary));
  return Buffer.from(canonicalJson({ summary, signature: Buffer.from(signature).toString('base64') }), 'utf8');
}

function invalid(where: string, what: string): VigilError {
  return new VigilError('VIGIL_E_RELAY_AUDIT_SIGNATURE', `${where}: ${what}`, { details: { where } });
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function countsOf(v: unknown, keys: readonly string[] | null): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (keys !== null && (Object.keys(o).length !== keys.length || !keys.every((k) => isCount(o[k])))) return false;
  return Object.values(o).every(isCount);
}

function checkShape(s: Record<string, unknown>): string | null {
  if (s.format !== 'vigil-relay-audit' || s.version !== 1) return 'not a version 1 relay audit summary';
  for (const k of ['relay', 'signer', 'destination', 'ceiling', 'policyDigest'] as const) if (typeof s[k] !== 'string') return `field "${k}" must be a string`;
  if (!isCount(s.seq) || s.seq < 1) return 'field "seq" must be an integer ≥ 1';
  if (s.prevDigest !== null && typeof s.prevDigest !== 'string') return 'field "prevDigest" must be a digest or null';
  if (!isCount(s.periodStartMs) || !isCount(s.periodEndMs) || s.periodEndMs < s.periodStartMs) return 'fields "periodStartMs" ≤ "periodEndMs" must be times in ms';
  if (s.reason !== 'periodic' && s.reason !== 'shutdown') return 'field "reason" must be periodic or shutdown';
  if (typeof s.afterUncleanStop !== 'boolean') return 'field "afterUncleanStop" must be a boolean';
  if (!Array.isArray(s.streams)) return 'field "streams" must be a list';
  for (const [i, x] of (s.streams as unknown[]).entries()) {
    const t = x as Record<string, unknown>;
    if (typeof x !== 'object' || x === null || typeof t.source !== 'string' || typeof t.destination !== 'string') return `streams[${i}] must name its source and destination`;
    if (![t.released, t.delivered, t.sampled].every(isCount)) return `streams[${i}]: released, delivered and sampled must be counts`;
    if (!countsOf(t.withheld, RELAY_WITHHELD_REASONS) || !countsOf(t.shed, ['flash', 'immediate', 'routine']) || !countsOf(t.redactedFields, null)) return `streams[${i}]: withheld, shed and redactedFields must be counts by name`;
  }
  return null;
}

/**
 * Reads one audit record without checking its signature (the relay continuing its chain).
 *
 * @throws VigilError `VIGIL_E_RELAY_AUDIT_SIGNATURE` when it is not a well-formed signed summary; `where` starts the message
 */
export function parseSignedSummary(value: Uint8Array | null, where: string): SignedRelayAuditSummary {
  if (value === null || value.length > MAX_SUMMARY_BYTES) throw invalid(where, value === null ? 'an empty record (tombstone)' : 'too large to be a summary');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    throw invalid(where, 'not JSON');
  }
  const o = doc as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || typeof o.summary !== 'object' || o.summary === null || typeof o.signature !== 'string') throw invalid(where, 'not {"summary", "signature"}');
  const problem = checkShape(o.summary as Record<string, unknown>);
  if (problem !== null) throw invalid(where, problem);
  const summary = o.summary as RelayAuditSummary;
  const signature = Buffer.from(o.signature, 'base64');
  if (signature.length !== SIGNATURE_BYTES) throw invalid(where, `seq ${summary.seq}: the signature is not ${SIGNATURE_BYTES} bytes of base64`);
  return { summary, signature };
}

/**
 * Reads one audit record and checks its signature: it must verify under one of `verifiers`
 * (the relay's public keys, several across a rotation of its signing key).
 *
 * @throws VigilError `VIGIL_E_RELAY_AUDIT_SIGNATURE` when it is malformed or its signature does
 *   not verify under any of them; `where` starts the message
 */
export function openSignedSummary(value: Uint8Array | null, verifiers: readonly Verifier[], where: string): SignedRelayAuditSummary {
  const signed = parseSignedSummary(value, where);
  const bytes = signedBytes(signed.summary);
  if (!verifiers.some((v) => v.verify(bytes, signed.signature))) {
    throw invalid(where, `seq ${signed.summary.seq}: the Ed25519 signature (key ${signed.summary.signer}) does not verify under the public key${verifiers.length === 1 ? '' : 's'} given: the summary was altered, or signed by another key`);
  }
  return signed;
}

/** Totals over a chain of summaries, per source stream. */
export interface RelayAuditTotals {
  readonly summaries: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  /** Every policy digest in force, with the first and last seq it appeared in. */
  readonly policies: ReadonlyArray<{ readonly digest: string; readonly fromSeq: number; readonly toSeq: number }>;
  /** Runs that followed a crash (summaries with `afterUncleanStop`). */
  readonly uncleanStops: number;
  readonly streams: readonly RelayAuditStreamCounts[];
}

/**
 * Checks that `summaries` (in topic order) form an unbroken chain starting at `firstSeq`:
 * each one's seq is its predecessor's + 1 and its `prevDigest` is its predecessor's
 * digest, so a deleted, replaced or reordered summary is detected. Sums their counts.
 *
 * @throws VigilError `VIGIL_E_RELAY_AUDIT_GAP` naming the seq numbers and where they are
 */
export function verifySummaryChain(summaries: ReadonlyArray<{ readonly summary: RelayAuditSummary; readonly where: string }>, firstSeq = 1): RelayAuditTotals {
  const gap = (message: string, details: Record<string, unknown>): VigilError => new VigilError('VIGIL_E_RELAY_AUDIT_GAP', message, { details });
  const streams = new Map<string, { source: string; destination: string; released: number; delivered: number; sampled: number; withheld: Record<string, number>; redactedFields: Record<string, number>; shed: Record<string, number> }>();
  const policies: Array<{ digest: string; fromSeq: number; toSeq: number }> = [];
  let prev: { summary: RelayAuditSummary; where: string } | undefined;
  let unclean = 0;
  for (const cur of summaries) {
    const s = cur.summary;
    if (prev === undefined) {
      if (s.seq !== firstSeq) throw gap(`${cur.where}: the first summary is seq ${s.seq}, expected ${firstSeq}: ${s.seq > firstSeq ? `summaries ${firstSeq}..${s.seq - 1} are missing (deleted, or removed by retention: verify from seq ${s.seq} with --first-seq ${s.seq})` : 'the chain does not start there'}`, { seq: s.seq, expected: firstSeq });
      if (s.seq === 1 && s.prevDigest !== null) throw gap(`${cur.where}: seq 1 names a predecessor`, { seq: 1 });
    } else {
      if (s.seq !== prev.summary.seq + 1) {
        throw gap(`${cur.where}: seq ${s.seq} follows seq ${prev.summary.seq} (${prev.where}): ${s.seq > prev.summary.seq + 1 ? `summaries ${prev.summary.seq + 1}..${s.seq - 1} are missing` : 'repeated or out of order'}`, { seq: s.seq, previous: prev.summary.seq });
      }
      if (s.prevDigest !== summaryDigest(prev.summary)) throw gap(`${cur.where}: seq ${s.seq} does not name the digest of seq ${prev.summary.seq} (${prev.where}) as its predecessor: the chain was replaced there`, { seq: s.seq, previous: prev.summary.seq });
    }
    if (s.afterUncleanStop) unclean++;
    const last = policies[policies.length - 1];
    if (last?.digest === s.policyDigest) last.toSeq = s.seq;
    else policies.push({ digest: s.policyDigest, fromSeq: s.seq, toSeq: s.seq });
    for (const t of s.streams) {
      const key = `${t.source}\u0000${t.destination}`;
      let acc = streams.get(key);
      if (acc === undefined) streams.set(key, (acc = { source: t.source, destination: t.destination, released: 0, delivered: 0, sampled: 0, withheld: {}, redactedFields: {}, shed: {} }));
      acc.released += t.released;
      acc.delivered += t.delivered;
      acc.sampled += t.sampled;
      for (const [k, n] of Object.entries(t.withheld)) acc.withheld[k] = (acc.withheld[k] ?? 0) + n;
      for (const [k, n] of Object.entries(t.redactedFields)) acc.redactedFields[k] = (acc.redactedFields[k] ?? 0) + n;
      for (const [k, n] of Object.entries(t.shed)) acc.shed[k] = (acc.shed[k] ?? 0) + n;
    }
    prev = cur;
  }
  const first = summaries[0]?.summary;
  const lastOne = prev?.summary;
  return {
    summaries: summaries.length,
    firstSeq: first?.seq ?? 0,
    lastSeq: lastOne?.seq ?? 0,
    periodStartMs: first?.periodStartMs ?? 0,
    periodEndMs: lastOne?.periodEndMs ?? 0,
    policies,
    uncleanStops: unclean,
    streams: [...streams.values()] as unknown as RelayAuditStreamCounts[],
  };
}
