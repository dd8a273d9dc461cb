import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** One row of a benchmark table: column name → value. */
export type BenchRow = Readonly<Record<string, string | number>>;

/** What every result file records about the run besides the figures. */
export interface BenchEnvironment {
  readonly node: string;
  readonly platform: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly commit: string;
  readonly at: string;
}

export function benchEnvironment(): BenchEnvironment {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    commit,
    at: new Date().toISOString(),
  };
}

function fmt(v: string | number): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
}

/** Renders rows as an aligned text table (numbers right-aligned). */
export function formatTable(rows: readonly BenchRow[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => (r[c] === undefined ? '' : fmt(r[c] as string | number))));
  const width = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const numeric = cols.map((c) => rows.every((r) => r[c] === undefined || typeof r[c] === 'number'));
  const line = (vals: readonly string[]): string =>
    vals.map((v, i) => (numeric[i] ? v.padStart(width[i] as number) : v.padEnd(width[i] as number))).join('  ');
  return [line(cols), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/**
 * Prints a scenario's table and writes `bench/results/<scenario>-<time>.json` plus
 * `bench/results/<scenario>-latest.json`, with the environment and any extra figures.
 * Returns the JSON path.
 */
export function writeReport(scenario: string, rows: readonly BenchRow[], extra: Readonly<Record<string, unknown>> = {}): string {
  const env = benchEnvironment();
  process.stdout.write(`\n== ${scenario} (node ${env.node}, ${env.cores} cores, ${env.cpu}, commit ${env.commit})\n`);
  process.stdout.write(formatTable(rows) + '\n');
  const dir = join(__dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const body = JSON.stringify({ scenario, environment: env, rows, ...extra }, null, 2) + '\n';
  const file = join(dir, `${scenario}-${env.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, body);
  writeFileSync(join(dir, `${scenario}-latest.json`), body);
  process.stdout.write(`results: ${file}\n`);
  return file;
}

/**
 * Runs `fn` repeatedly for about `ms` milliseconds (after a warm-up) and returns
 * operations per second, where `fn` returns how many operations it did.
 */
export function opsPerSecond(fn: () => number, ms = 1000, warmupMs = 200): number {
  const until = (deadline: number): { ops: number; ns: bigint } => {
    let ops = 0;
    const t0 = process.hrtime.bigint();
    while (Date.now() < deadline) ops += fn();
    return { ops, ns: process.hrtime.bigint() - t0 };
  };
  until(Date.now() + warmupMs);
  const { ops, ns } = until(Date.now() + ms);
  return (ops * 1e9) / Number(ns);
}
