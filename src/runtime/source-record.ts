import { makeLabel, openRejectionRecord, type ClassificationLabel, type DerivedRecord, type DerivedValue, type TelemetryRecord } from '../codec';
import type { StreamKeyring } from '../crypto';
import { VigilError } from '../errors';
import { UNATTRIBUTED, type DerivedOutput, type RejectedFrameReading, type RepartitionedReading } from './types';

/** A rejection record, shaped like a one-reading telemetry record for the operator chain. */
export interface RejectedSourceRecord {
  readonly type: 'rejected';
  readonly kind: 'rejected';
  readonly deviceId: string;
  readonly seq: bigint;
  readonly eventTimeMs: number;
  readonly gatewayId: string;
  readonly label: ClassificationLabel;
  readonly readings: readonly [RejectedFrameReading];
}

/** A re-keyed first-stage result, shaped like a one-reading record for a second-stage chain. */
export interface RepartitionedSourceRecord {
  readonly type: 'repartitioned';
  readonly kind: 'repartitioned';
  /** The first-stage chain that made it: `<topic>:<partition>`. */
  readonly deviceId: string;
  /** That chain's running number of re-keyed results. */
  readonly seq: bigint;
  readonly eventTimeMs: number;
  readonly gatewayId: string;
  readonly label: ClassificationLabel;
  /** The result (none in a mark). */
  readonly readings: readonly RepartitionedReading[];
  /** A mark: the first-stage chain's watermark after the results it sent before it (see `OriginWatermarks`). */
  readonly mark?: number;
}

/** What a partition's chain takes: an opened telemetry record, a rejection, or a re-keyed result. */
export type SourceRecord = TelemetryRecord | RejectedSourceRecord | RepartitionedSourceRecord;

// Values the runtime adds to a re-keyed result (':' keeps them apart from any value a pipeline names).
const ORIGIN = 'vigil:origin';
const SEQ = 'vigil:seq';
const REKEY = 'vigil:repartitionKey';
const MARK = 'vigil:watermark';

/** The sealed form of a first-stage chain's watermark mark, sent to every partition of the repartition topic. */
export function markRecord(pipeline: string, origin: string, watermark: number, label: ClassificationLabel): DerivedRecord {
  return { type: 'derived', pipeline, windowStartMs: watermark, windowEndMs: watermark, key: origin, values: { [ORIGIN]: origin, [MARK]: watermark }, revision: 0, label, provenance: [] };
}

/** The sealed form of a re-keyed first-stage result: a derived record whose values also say where it came from. */
export function repartitionedRecord(pipeline: string, out: DerivedOutput & { readonly repartitionKey: string }, origin: string, seq: number, label: ClassificationLabel): DerivedRecord {
  return {
    type: 'derived',
    pipeline,
    windowStartMs: out.windowStartMs,
    windowEndMs: out.windowEndMs,
    key: out.key,
    values: { ...out.values, [ORIGIN]: origin, [SEQ]: seq, [REKEY]: out.repartitionKey },
    revision: out.revision ?? 0,
    label,
    provenance: out.provenance ?? [],
  };
}

/** The second-stage input of an opened `vigil.repartition.<pipeline>` record (`VIGIL_E_RECORD_INVALID` when it is not one). */
export function repartitionedSourceRecord(r: DerivedRecord, pipeline: string): RepartitionedSourceRecord {
  const { [ORIGIN]: origin, [SEQ]: seq, [REKEY]: rekey, [MARK]: mark, ...values } = r.values as Record<string, DerivedValue>;
  if (r.pipeline === pipeline && typeof origin === 'string' && typeof mark === 'number') {
    return { type: 'repartitioned', kind: 'repartitioned', deviceId: origin, seq: -1n, eventTimeMs: mark, gatewayId: origin, label: r.label, readings: [], mark };
  }
  if (r.pipeline !== pipeline || typeof origin !== 'string' || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 || typeof rekey !== 'string') {
    throw new VigilError('VIGIL_E_RECORD_INVALID', `not a re-keyed result of pipeline "${pipeline}"`, { details: { field: 'values' } });
  }
  return {
    type: 'repartitioned',
    kind: 'repartitioned',
    deviceId: origin,
    seq: BigInt(seq),
    eventTimeMs: r.windowStartMs,
    gatewayId: origin,
    label: r.label,
    readings: [{ kind: 'repartitioned', offsetMs: 0, repartitionKey: rekey, key: r.key, windowStartMs: r.windowStartMs, windowEndMs: r.windowEndMs, revision: r.revision, values, provenance: r.provenance }],
  };
}

// What travelled in the clear over the radio, and nothing else, is in a rejection record.
const CLEAR = makeLabel('UNCLASSIFIED');

/**
 * Authenticates and decodes a `telemetry.rejected` message (`VIGIL_E_RECORD_AUTH` when its
 * MAC is missing or wrong, `VIGIL_E_RECORD_INVALID` when malformed).
 */
export function rejectedSourceRecord(value: Uint8Array, headers: Readonly<Record<string, Buffer>>, keyring: StreamKeyring): RejectedSourceRecord {
  const r = openRejectionRecord(value, headers, keyring);
  return {
    type: 'rejected',
    kind: 'rejected',
    deviceId: r.header?.deviceId ?? UNATTRIBUTED,
    seq: r.header === null ? 0n : BigInt(r.header.seq),
    eventTimeMs: r.atMs,
    gatewayId: r.gatewayId,
    label: CLEAR,
    readings: [{ kind: 'rejected', offsetMs: 0, reason: r.reason, sha256: r.sha256, bytes: r.bytes, header: r.header }],
  };
}
