import type { AuditReport } from './delivery-audit';

const COLUMNS = ['device', 'acknowledged', 'stored', 'lost', 'out of order', 'duplicates'] as const;

/**
 * The audit as a plain-text table: one line per device, a totals line, then what explains a
 * failure (lost ranges, out-of-order records) and what could not be read.
 */
export function formatAuditTable(report: AuditReport): string {
  const rows: string[][] = report.devices.map((d) => [d.deviceId, String(d.acknowledged), String(d.stored), String(d.lost), String(d.outOfOrder), String(d.duplicates)]);
  const t = report.totals;
  const total = [`total (${t.devices} device${t.devices === 1 ? '' : 's'})`, String(t.acknowledged), String(t.stored), String(t.lost), String(t.outOfOrder), String(t.duplicates)];
  const width = COLUMNS.map((c, i) => Math.max(c.length, total[i]?.length ?? 0, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join('  ').trimEnd();
  const out = [line(COLUMNS), ...rows.map(line), line(width.map((w) => '-'.repeat(w))), line(total)];
  for (const d of report.devices) {
    if (d.lost > 0) {
      const ranges = d.lostRanges.map((r) => (r.count === 1 ? `${r.first}` : `${r.first}..${r.last} (${r.count})`)).join(', ');
      out.push(`lost ${d.deviceId}: ${d.lost} frame${d.lost === 1 ? '' : 's'} in ${d.lostRangeCount} range${d.lostRangeCount === 1 ? '' : 's'}: ${ranges}${d.lostRangeCount > d.lostRanges.length ? ', …' : ''}`);
    }
    if (d.outOfOrder > 0) {
      const recs = d.outOfOrderRecords.map((r) => `${r.seq} after ${r.after} at ${r.topic}[${r.partition}]@${r.offset}${r.sent === 'resent' || r.sent === 'unacknowledged' ? ` (${r.sent})` : ''}`).join(', ');
      const excused = [
        d.outOfOrderResent > 0 ? `${d.outOfOrderResent} of them resent by the device` : '',
        d.outOfOrderUnacknowledged > 0 ? `${d.outOfOrderUnacknowledged} never acknowledged` : '',
      ].filter((x) => x.length > 0);
      out.push(`out of order ${d.deviceId}: ${d.outOfOrder}${excused.length > 0 ? ` (${excused.join(', ')})` : ''}: ${recs}${d.outOfOrder > d.outOfOrderRecords.length ? ', …' : ''}`);
    }
  }
  if (t.unreadable > 0) {
    const codes = Object.entries(t.unreadableByCode).map(([c, n]) => `${c} ${n}`).join(', ');
    out.push(`unreadable records: ${t.unreadable} (${codes}); frames in them count as not stored`);
  }
  const late = [
    t.outOfOrderResent > 0 ? `${t.outOfOrderResent} resent frames arrived late: expected after a loss on the way` : '',
    t.outOfOrderUnacknowledged > 0 ? `${t.outOfOrderUnacknowledged} frames never acknowledged arrived late: not judged, their devices may have resent them` : '',
  ].filter((x) => x.length > 0);
  out.push(
    `${t.records} record${t.records === 1 ? '' : 's'} read; ${report.ok ? 'OK: every acknowledged frame is stored, in order per device' : `FAILED: ${t.lost} lost, ${t.outOfOrder - t.outOfOrderResent - t.outOfOrderUnacknowledged} out of order`}${late.length > 0 ? ` (${late.join('; ')})` : ''}`,
  );
  return out.join('\n') + '\n';
}

/** The report as JSON-ready data: sequence numbers as decimal strings. */
export function auditReportJson(report: AuditReport): unknown {
  return JSON.parse(JSON.stringify(report, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown;
}
