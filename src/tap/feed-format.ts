import type { DerivedRecord, DerivedValue } from '../codec';

/**
 * What the terminal feeds (`vigil tap`'s table, the demo's live lines) share, so a person
 * reads the same thing in both: UTC clock times, no internal values, alerts marked, and
 * lines that fit the terminal.
 */

/** Values a pipeline publishes for merging partial results, not for people (unit-picture's sums of squares). */
const INTERNAL_VALUES = new Set(['m2LatDeg2', 'm2LonDeg2', 'partition']);

/** The values a person should see, in publication order. */
export function visibleValues(values: Readonly<Record<string, DerivedValue>>): Array<[string, DerivedValue]> {
  return Object.entries(values).filter(([k]) => !INTERNAL_VALUES.has(k));
}

/** `raised` for an alert (a condition raised, a zone entered or dwelt in), `cleared` for its end, else undefined. */
export function alertState(rec: DerivedRecord): 'raised' | 'cleared' | undefined {
  const last = rec.key.slice(rec.key.lastIndexOf('/') + 1);
  if (last === 'raised' || last === 'enter' || last === 'dwell' || last === 'alarm') return 'raised';
  if (last === 'cleared' || last === 'exit') return 'cleared';
  return undefined;
}

/** `12:00:03Z`, or with `ms` `12:00:03.250Z`: the UTC clock time. */
export function utcClock(ms: number, withMs = false): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(11, withMs ? 23 : 19)}Z`;
}

/** A value as a person reads it: numbers to 6 significant digits, strings quoted only when they must be. */
export function feedValue(v: DerivedValue): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (typeof v === 'string') return /[\s=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return String(v);
}

/** `text` cut to `width` columns (an ellipsis marks the cut). */
export function fitColumns(text: string, width: number): string {
  return text.length > width ? text.slice(0, Math.max(0, width - 1)) + '…' : text;
}

/** ANSI emphasis of an alert line (bold red raised, green cleared) when the output is a terminal. */
export function emphasise(line: string, state: 'raised' | 'cleared' | undefined, color: boolean): string {
  if (!color || state === undefined) return line;
  return state === 'raised' ? `\u001b[1;31m${line}\u001b[0m` : `\u001b[32m${line}\u001b[0m`;
}
