import type { Bus } from '../bus';
import type { StreamKeyring } from '../crypto';
import { VigilError } from '../errors';
import type { AckedLog } from './acked-log';
import { DeliveryAudit, type AuditReport } from './delivery-audit';
import { readTelemetry } from './telemetry-reader';

const PREFIX_PATTERN = /^[A-Za-z0-9._-]{0,100}$/;

/** Options of `runAudit`. */
export interface RunAuditOptions {
  readonly bus: Bus;
  /** Telemetry stream keys (several during a key rotation); records under other keys are counted unreadable. */
  readonly keyring: StreamKeyring;
  /** What devices were told is durable. */
  readonly acked: AckedLog;
  /** `kafka.topicPrefix` of the deployment. Default ''. */
  readonly topicPrefix?: string;
  /** See `ReadTelemetryOptions.stallTimeoutMs`. */
  readonly stallTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/**
 * An operator's proof of delivery (docs/architecture.md §4): reads every telemetry topic up to its
 * current end and reports, per device, frames acknowledged, stored, lost (acknowledged, not
 * stored), out of order and duplicated. `vigil audit` and the chaos harness both use it.
 *
 * @example
 * const report = await runAudit({ bus, keyring: new StreamKeyring([telemetryKey]), acked });
 * if (!report.ok) process.exitCode = 1;
 *
 * @throws VigilError `VIGIL_E_AUDIT_OPTIONS`, `VIGIL_E_AUDIT_INCOMPLETE`, bus errors
 */
export async function runAudit(o: RunAuditOptions): Promise<AuditReport> {
  if (o.keyring === undefined || o.keyring.ids().length === 0) {
    throw new VigilError('VIGIL_E_AUDIT_OPTIONS', 'audit option keyring: holds no keys; give the telemetry stream key file(s)', { details: { option: 'keyring' } });
  }
  const prefix = o.topicPrefix ?? '';
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new VigilError('VIGIL_E_AUDIT_OPTIONS', `audit option topicPrefix: expected up to 100 characters of [A-Za-z0-9._-], got ${JSON.stringify(prefix)}`, { details: { option: 'topicPrefix' } });
  }
  const audit = new DeliveryAudit();
  const snapshot = await readTelemetry(
    { bus: o.bus, keyring: o.keyring, topicPrefix: prefix, ...(o.stallTimeoutMs !== undefined ? { stallTimeoutMs: o.stallTimeoutMs } : {}), ...(o.log !== undefined ? { log: o.log } : {}) },
    {
      record: (m, r) => audit.record(m.topic, m.partition, m.offset, r.deviceId, r.seq),
      unreadable: (_m, code) => audit.unreadableRecord(code),
      tombstone: () => audit.tombstone(),
    },
  );
  return audit.report(o.acked, snapshot.map((p) => ({ topic: p.topic, partition: p.partition, end: p.end })));
}
