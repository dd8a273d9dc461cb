import { makeLabel, openRejectionRecord, type ClassificationLabel, type TelemetryRecord } from '../codec';
import type { StreamKeyring } from '../crypto';
import { UNATTRIBUTED, type RejectedFrameReading } from './types';

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

/** What a partition's chain takes: an opened telemetry record or a rejection. */
export type SourceRecord = TelemetryRecord | RejectedSourceRecord;

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
