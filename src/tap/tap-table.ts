import type { DerivedValue, Reading } from '../codec';
import type { TapRecord } from './tap-record';

/** Columns of the live table, in order. */
const COLUMNS = ['time', 'key', 'window', 'values', 'rev', 'label'] as const;
type Column = (typeof COLUMNS)[number];
type Row = Record<Column, string>;

/** Starting widths: a live table cannot measure rows it has not seen, so columns start wide enough for the usual and grow. */
const START_WIDTH: Readonly<Record<Column, number>> = { time: 23, key: 12, window: 10, values: 40, rev: 3, label: 0 };
const MAX_VALUES_WIDTH = 96;

/**
 * Formats tapped records as a compact, aligned live table for a terminal: one line per
 * derived record, one line per reading of a telemetry record (each reading has its own
 * time). Columns: event time (UTC), key (device, unit, …), window (duration of a derived
 * window; the reading kind for telemetry), values, revision marker (`r1`, `r2`… for results
 * revised by late data) and the classification label.
 *
 * @example
 * const table = new TapTable();
 * out.write(table.header() + '\n');
 * for (const line of table.lines(record)) out.write(line + '\n');
 */
export class TapTable {
  private readonly width: Record<Column, number> = { ...START_WIDTH };

  /** The header line. */
  header(): string {
    return this.line({ time: 'time (UTC)', key: 'key', window: 'window', values: 'values', rev: 'rev', label: 'label' });
  }

  /** The lines of one record. */
  lines(r: TapRecord): string[] {
    return rowsOf(r).map((row) => this.line(row));
  }

  private line(row: Row): string {
    const cells = COLUMNS.map((c, i) => {
      const text = row[c];
      if (i === COLUMNS.length - 1) return text;
      // Grow a column to fit, within reason: a long values cell is cut rather than pushing the rest off-screen.
      this.width[c] = Math.max(this.width[c], Math.min(text.length, c === 'values' ? MAX_VALUES_WIDTH : 64));
      return fit(text, this.width[c]);
    });
    return cells.join('  ').trimEnd();
  }
}

function rowsOf(r: TapRecord): Row[] {
  const rec = r.record;
  const label = `${rec.label.level}${rec.label.releasability.length > 0 ? ' ' + rec.label.releasability.join(',') : ''}`;
  if (rec.type === 'derived') {
    const span = rec.windowEndMs - rec.windowStartMs;
    return [{
      time: isoTime(rec.windowStartMs),
      key: rec.key,
      window: span === 0 ? 'point' : duration(span),
      values: Object.entries(rec.values).map(([k, v]) => `${k}=${value(v)}`).join(' '),
      rev: rec.revision > 0 ? `r${rec.revision}` : '',
      label,
    }];
  }
  return rec.readings.map((reading) => ({
    time: isoTime(rec.eventTimeMs + reading.offsetMs),
    key: rec.deviceId,
    window: rec.kind,
    values: readingValues(reading),
    rev: '',
    label,
  }));
}

function readingValues(reading: Reading): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(reading)) {
    if (k === 'kind' || k === 'offsetMs' || v === null || v === undefined) continue;
    parts.push(`${k}=${value(v as DerivedValue)}`);
  }
  return parts.join(' ');
}

function value(v: DerivedValue): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
  if (typeof v === 'string') return /[\s=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return String(v);
}

/** `2026-01-01 12:00:03.250`: ISO 8601 in UTC, the T and Z dropped (the header says UTC). */
function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function fit(text: string, width: number): string {
  return text.length > width ? text.slice(0, width - 1) + '…' : text.padEnd(width);
}
