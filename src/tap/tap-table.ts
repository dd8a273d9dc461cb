import type { DerivedValue, Reading } from '../codec';
import { alertState, emphasise, feedValue, fitColumns, utcClock, visibleValues } from './feed-format';
import type { TapRecord } from './tap-record';

/** Columns of the live table, in order. */
const COLUMNS = ['time', 'key', 'window', 'values', 'rev', 'label'] as const;
type Column = (typeof COLUMNS)[number];
type Row = Record<Column, string> & { alert?: 'raised' | 'cleared' | undefined };

/** Fixed widths; `values` takes what the line width leaves. */
const WIDTH: Readonly<Record<Exclude<Column, 'values'>, number>> = { time: 13, key: 16, window: 8, rev: 3, label: 14 };

/** Options of a `TapTable`. */
export interface TapTableOptions {
  /** Columns a line may use. Default 100. */
  readonly width?: number;
  /** Emphasise alert lines with ANSI colour (a terminal). Default false. */
  readonly color?: boolean;
}

/**
 * Formats tapped records as a compact, aligned live table for a terminal, each line at most
 * `width` columns: one line per derived record, one per reading of a telemetry record (each
 * reading has its own time). Columns: event time as a UTC clock (a line with the date comes
 * first and whenever the date changes), key (device, unit, …; `▲` marks an alert raised,
 * `▽` its end), window (duration of a derived window; the reading kind for telemetry),
 * values (internal merge values hidden), revision marker (`r1`, `r2`… for results revised
 * by late data) and the classification label.
 *
 * @example
 * const table = new TapTable({ color: process.stdout.isTTY });
 * out.write(table.header() + '\n');
 * for (const line of table.lines(record)) out.write(line + '\n');
 */
export class TapTable {
  private readonly width: number;
  private readonly color: boolean;
  private day: string | undefined;

  constructor(options: TapTableOptions = {}) {
    this.width = Math.max(60, options.width ?? 100);
    this.color = options.color === true;
  }

  /** The header line. */
  header(): string {
    return this.line({ time: 'time (UTC)', key: 'key', window: 'win', values: 'values', rev: 'rev', label: 'label' });
  }

  /** The lines of one record (a date line first when its date differs from the previous record's). */
  lines(r: TapRecord): string[] {
    const out: string[] = [];
    for (const row of rowsOf(r)) {
      const day = row.day;
      if (day !== this.day) {
        this.day = day;
        out.push(`── ${day} ──`);
      }
      for (const l of this.rowLines(row)) out.push(emphasise(l, row.alert, this.color));
    }
    return out;
  }

  private valuesWidth(): number {
    return this.width - (WIDTH.time + WIDTH.key + WIDTH.window + WIDTH.rev + WIDTH.label) - (COLUMNS.length - 1);
  }

  private line(row: Row): string {
    const cell = (c: Column): string => {
      const w = c === 'values' ? this.valuesWidth() : WIDTH[c];
      return c === 'label' ? fitColumns(row[c], w) : fitColumns(row[c], w).padEnd(w);
    };
    return COLUMNS.map(cell).join(' ').trimEnd();
  }

  /** A row, its values wrapped onto continuation lines (at most MAX_VALUE_LINES) rather than cut. */
  private rowLines(row: Row): string[] {
    const w = this.valuesWidth();
    const parts = wrap(row.values, w, MAX_VALUE_LINES);
    const blank: Row = { time: '', key: '', window: '', values: '', rev: '', label: '' };
    return parts.map((values, i) => this.line(i === 0 ? { ...row, values } : { ...blank, values }));
  }
}

/** Lines of one row at most: values beyond are cut with an ellipsis. */
const MAX_VALUE_LINES = 3;

/** `text` broken at spaces into lines of at most `width` columns, at most `max` lines (the last cut with an ellipsis). */
function wrap(text: string, width: number, max: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width && lines.length < max - 1) {
    const at = rest.lastIndexOf(' ', width);
    const cut = at > 0 ? at : width;
    lines.push(rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  lines.push(fitColumns(rest, width));
  return lines;
}

function rowsOf(r: TapRecord): Array<Row & { day: string }> {
  const rec = r.record;
  const label = `${rec.label.level}${rec.label.releasability.length > 0 ? ' ' + rec.label.releasability.join(',') : ''}`;
  if (rec.type === 'derived') {
    const span = rec.windowEndMs - rec.windowStartMs;
    const alert = alertState(rec);
    return [{
      day: day(rec.windowStartMs),
      time: utcClock(rec.windowStartMs, true),
      key: `${alert === 'raised' ? '▲ ' : alert === 'cleared' ? '▽ ' : ''}${rec.key}`,
      window: span === 0 ? 'point' : duration(span),
      values: visibleValues(rec.values).map(([k, v]) => `${k}=${feedValue(v)}`).join(' '),
      rev: rec.revision > 0 ? `r${rec.revision}` : '',
      label,
      alert,
    }];
  }
  return rec.readings.map((reading) => ({
    day: day(rec.eventTimeMs + reading.offsetMs),
    time: utcClock(rec.eventTimeMs + reading.offsetMs, true),
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
    parts.push(`${k}=${feedValue(v as DerivedValue)}`);
  }
  return parts.join(' ');
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
