/**
 * audit: proof of delivery (docs/architecture.md §4). Compares what devices were told is durable (an
 * acked log: `vigil simulate --acked-log`, `DeviceClient` `onDurable`) with the sealed
 * telemetry records on the bus, per device: acknowledged, stored, lost, out of order,
 * duplicated. `vigil audit` and the chaos harness (test/chaos) are built on it.
 */
export { AckedLog, parseAckedLine, type AckedFrame } from './acked-log';
export { DeliveryAudit, type AuditReport, type AuditTotals, type DeliveryCounts, type DeviceAudit, type LostRange, type OutOfOrderRecord } from './delivery-audit';
export { readTelemetry, telemetryTopics, type ReadTelemetryOptions, type TelemetryVisitor } from './telemetry-reader';
export { runAudit, type RunAuditOptions } from './audit';
export { formatAuditTable, auditReportJson } from './audit-table';
export { SeqList, sortedUnique } from './seq-list';
