/**
 * Regenerates `bench/RESULTS.md` and `bench/results/chart.svg` from the latest result of
 * every scenario (`bench/results/<scenario>-latest.json`). `npm run bench` calls it at the
 * end; run it alone with `npx tsx bench/lib/results-md.ts`. The SVG is written by hand
 * (no dependencies): throughput bars and latency percentiles.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchEnvironment, BenchRow } from './report';

interface Result {
  scenario: string;
  environment: BenchEnvironment;
  rows: BenchRow[];
  [extra: string]: unknown;
}
interface Pct {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  n: number;
}
interface LatencyEntry {
  rate: number;
  pass: boolean;
  publishToAdmitted: Pct;
  publishToKafka: Pct;
  windowEndToDerived: Pct;
}

const BENCH_DIR = join(__dirname, '..');
const RESULTS_DIR = join(BENCH_DIR, 'results');
const MB = 1048576;

function loadLatest(): Map<string, Result> {
  const out = new Map<string, Result>();
  if (!existsSync(RESULTS_DIR)) return out;
  for (const f of readdirSync(RESULTS_DIR).filter((x) => x.endsWith('-latest.json')).sort()) {
    try {
      const r = JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as Result;
      out.set(r.scenario, r);
    } catch {
      /* a half-written file: skip it */
    }
  }
  return out;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cell = (v: unknown): string => {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
  return String(v ?? '').replace(/\|/g, '\\|');
};

function mdTable(rows: readonly BenchRow[]): string {
  if (rows.length === 0) return '(no rows)\n';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const numeric = cols.map((c) => rows.every((r) => r[c] === undefined || typeof r[c] === 'number'));
  return [
    `| ${cols.join(' | ')} |`,
    `|${numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`),
  ].join('\n') + '\n';
}

const verdict = (ok: boolean): string => (ok ? 'met' : '**missed**');
const pctStr = (x: number): string => `${(100 * x).toFixed(1)}%`;

// ---- SVG ----------------------------------------------------------------------------

interface Bar {
  label: string;
  value: number;
  color: string;
}

/** A horizontal bar panel at (x, y); returns its SVG and height. */
function barPanel(title: string, bars: readonly Bar[], x: number, y: number, width: number, unit: string, log = false): { svg: string; height: number } {
  const labelW = 250;
  const barH = 16;
  const gap = 6;
  const plotW = width - labelW - 120;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const scale = (v: number): number => (log ? (Math.log10(Math.max(1, v)) / Math.log10(Math.max(10, max))) * plotW : (v / max) * plotW);
  const parts = [`<text x="${x}" y="${y + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`];
  let yy = y + 26;
  for (const b of bars) {
    const w = Math.max(1, scale(b.value));
    parts.push(
      `<text x="${x + labelW - 6}" y="${yy + barH - 4}" font-size="11" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${x + labelW}" y="${yy}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"/>`,
      `<text x="${(x + labelW + w + 4).toFixed(1)}" y="${yy + barH - 4}" font-size="11">${esc(cell(Math.round(b.value)))} ${esc(unit)}</text>`,
    );
    yy += barH + gap;
  }
  if (log) parts.push(`<text x="${x + labelW}" y="${yy + 10}" font-size="10" fill="#666">log scale</text>`);
  return { svg: parts.join('\n'), height: yy - y + (log ? 18 : 6) };
}

function chart(results: Map<string, Result>): string {
  const width = 760;
  const panels: string[] = [];
  let y = 40;
  const adm = results.get('admission');
  if (adm) {
    const bars: Bar[] = adm.rows.map((r) => ({
      label: `${String(r.backend)} ${String(r.readings)}r ${String(r.path).startsWith('raw') ? 'raw' : 'admission'}`,
      value: Number(r['frames/s']),
      color: String(r.path).startsWith('raw') ? '#9aa9bd' : '#2b6cb0',
    }));
    const p = barPanel('Hot path, one core: frames/s (raw crypto+codec vs Admission.admit)', bars, 20, y, width, 'frames/s');
    panels.push(p.svg);
    y += p.height + 18;
  }
  const e2e = results.get('e2e');
  const head = e2e?.headline as Record<string, number> | undefined;
  if (head) {
    const p = barPanel('End to end, sustained frames/s with nothing lost', [
      { label: 'naive bridge (no crypto, no durability)', value: head.naiveSustainedFramesPerSec ?? 0, color: '#9aa9bd' },
      { label: 'Vigil gateway', value: head.gatewaySustainedFramesPerSec ?? 0, color: '#2b6cb0' },
    ], 20, y, width, 'frames/s');
    panels.push(p.svg);
    y += p.height + 18;
  }
  const lat = e2e?.latency as Record<string, LatencyEntry> | undefined;
  if (lat && Object.keys(lat).length > 0) {
    const colors = { p50: '#68d391', p99: '#f6ad55', p999: '#e53e3e' } as const;
    const bars: Bar[] = [];
    for (const [share, l] of Object.entries(lat)) {
      for (const [what, h] of [['publish→Kafka', l.publishToKafka], ['window end→derived', l.windowEndToDerived]] as const) {
        for (const k of ['p50', 'p99', 'p999'] as const) bars.push({ label: `${share} (${l.rate}/s) ${what} ${k === 'p999' ? 'p99.9' : k}`, value: h[k], color: colors[k] });
      }
    }
    const p = barPanel('Latency at 25 / 50 / 90 % of sustained rate (ms)', bars, 20, y, width, 'ms', true);
    panels.push(p.svg);
    y += p.height + 10;
  }
  const env = [...results.values()][0]?.environment;
  const sub = env ? `node ${env.node}, ${env.cores} cores, ${env.cpu}, commit ${env.commit}` : '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="22" font-size="16" font-weight="bold">Vigil benchmarks</text>`,
    `<text x="200" y="22" font-size="11" fill="#555">${esc(sub)}</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}

// ---- Markdown -----------------------------------------------------------------------

function headlines(results: Map<string, Result>): string[] {
  const lines: string[] = ['| figure | value | target | |', '| --- | ---: | ---: | --- |'];
  const adm = results.get('admission');
  const ratios = adm?.ratios as Record<string, number> | undefined;
  for (const [k, v] of Object.entries(ratios ?? {})) {
    const [backend, n] = k.split('/');
    lines.push(`| admission / raw crypto+codec, ${backend}, ${n} reading${n === '1' ? '' : 's'}/frame | ${pctStr(v)} | ≥ 80% | ${verdict(v >= 0.8)} |`);
  }
  const e2e = results.get('e2e');
  const h = e2e?.headline as Record<string, number & Record<string, number>> | undefined;
  if (h) {
    lines.push(`| gateway / naive bridge, sustained frames/s | ${pctStr(h.gatewayToNaive)} (${cell(h.gatewaySustainedFramesPerSec)} / ${cell(h.naiveSustainedFramesPerSec)}) | ≥ 70% | ${verdict(h.gatewayToNaive >= 0.7)} |`);
    const rss = h.gatewayRssDuring90pctRun as unknown as { maxBytes: number; seconds: number };
    lines.push(`| gateway RSS during ${rss.seconds} s at 90% (max) | ${(rss.maxBytes / MB).toFixed(0)} MB | < 300 MB | ${verdict(rss.maxBytes > 0 && rss.maxBytes < 300 * MB)} |`);
    lines.push(`| gateway peak RSS (VmHWM, whole run) | ${(h.gatewayPeakRssBytes / MB).toFixed(0)} MB | | |`);
    lines.push(`| worker peak RSS (VmHWM) | ${(h.workerPeakRssBytes / MB).toFixed(0)} MB | | |`);
    lines.push(`| naive bridge peak RSS (VmHWM) | ${(h.naivePeakRssBytes / MB).toFixed(0)} MB | | |`);
  }
  const sw = results.get('stream-window');
  if (sw) lines.push(`| keyed window (10,000 keys) vs idiomatic RxJS / plain loop | ${Number(sw.ratioAtoB).toFixed(1)}× / ${pctStr(Number(sw.ratioAtoC))} | ≥ 5× / ≥ 40% | ${verdict(Number(sw.ratioAtoB) >= 5 && Number(sw.ratioAtoC) >= 0.4)} |`);
  const det = results.get('detectors');
  for (const r of det?.rows ?? []) lines.push(`| ${cell(r.detector)}, ${cell(r.keys)} keys | ${cell(r['events/s'])} events/s | | |`);
  return lines;
}

function latencyTable(results: Map<string, Result>): string[] {
  const lat = results.get('e2e')?.latency as Record<string, LatencyEntry> | undefined;
  if (!lat) return [];
  const lines = [
    '| load | offered frames/s | publish → admitted p50 / p99 / p99.9 | publish → sealed record in Kafka p50 / p99 / p99.9 | window end → derived p50 / p99 / p99.9 | kept up (pass rule) |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ];
  const f = (h: Pct): string => `${h.p50} / ${h.p99} / ${h.p999} ms`;
  for (const [share, l] of Object.entries(lat)) lines.push(`| ${share} | ${cell(l.rate)} | ${f(l.publishToAdmitted)} | ${f(l.publishToKafka)} | ${f(l.windowEndToDerived)} | ${l.pass ? 'yes' : `no: ${(l as LatencyEntry & { why?: string }).why ?? ''}`} |`);
  return lines;
}

export function writeResultsMd(): string {
  const results = loadLatest();
  writeFileSync(join(RESULTS_DIR, 'chart.svg'), chart(results));
  const env = [...results.values()].map((r) => r.environment).sort((a, b) => b.at.localeCompare(a.at))[0];
  const out: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`bench/lib/results-md.ts\` from the latest result of each scenario (\`bench/results/<scenario>-latest.json\`), at the end of \`npm run bench\`. Do not edit by hand.`,
    '',
  ];
  if (env) {
    out.push(
      `Machine: ${env.cpu}, ${env.cores} cores, ${(env.memoryBytes / 1024 ** 3).toFixed(1)} GiB, ${env.platform}, Node ${env.node}. Commit \`${env.commit}\` (latest run ${env.at}).`,
      'Every process of the end-to-end run (Kafka, Mosquitto, publishers, gateway, worker, consumer) shares these cores.',
      '',
    );
  }
  out.push('![throughput and latency](results/chart.svg)', '', '## Headline', '', ...headlines(results), '');
  const lt = latencyTable(results);
  if (lt.length) {
    out.push(
      '## End-to-end latency',
      '',
      'Each frame is sealed before its run with `eventTimeMs` = its scheduled publish time and published on that schedule (open loop; a late publish keeps the scheduled time, so backpressure counts against latency). *publish → admitted* = the record\'s `ingestTimeMs` (gateway clock at admission) − `eventTimeMs`; *publish → sealed record in Kafka* = the consumer\'s receive time − `eventTimeMs` (includes the consumer\'s fetch); *window end → derived* = receive time of the derived record (revision 0) − `windowEndMs`, which includes the pipeline\'s 200 ms out-of-orderness bound. One host, one clock. HDR histograms, first second of each run excluded.',
      '',
      ...lt,
      '',
    );
  }
  out.push('## Scenarios', '');
  for (const [name, r] of results) {
    out.push(`### ${name}`, '', `Run ${r.environment.at}, commit \`${r.environment.commit}\`.`, '', mdTable(r.rows));
    const note = (r.note ?? (r.settings as Record<string, unknown> | undefined)?.note) as string | undefined;
    if (note) out.push(`Note: ${note}`, '');
  }
  const file = join(BENCH_DIR, 'RESULTS.md');
  writeFileSync(file, out.join('\n'));
  return file;
}

if (require.main === module) process.stdout.write(`wrote ${writeResultsMd()} and ${join(RESULTS_DIR, 'chart.svg')}\n`);
