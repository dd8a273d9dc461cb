/**
 * `npm run bench [name…]`: runs every `bench/*.bench.ts` scenario (or the named ones), one
 * after another, each in its own Node process so one scenario's heap and JIT state do not
 * colour the next. Each scenario prints its table and writes JSON under bench/results/;
 * at the end bench/RESULTS.md and bench/results/chart.svg are regenerated from the latest
 * JSON of every scenario.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeResultsMd } from './lib/results-md';

const dir = __dirname;
const wanted = process.argv.slice(2);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
// A name that is a scenario's whole name picks that one only (`relay`, not also `relay-compression`); otherwise a prefix.
const picks = (f: string, w: string): boolean => (all.includes(`${w}.bench.ts`) ? f === `${w}.bench.ts` : f.startsWith(w));
const chosen = wanted.length ? all.filter((f) => wanted.some((w) => picks(f, w))) : all;
if (chosen.length === 0) {
  console.error(`no scenario matches ${wanted.join(', ')}; scenarios: ${all.map((f) => f.replace('.bench.ts', '')).join(', ')}`);
  process.exit(2);
}
// The e2e bench runs the gateway as it ships, compiled (dist/, what bin/vigil.js runs): build it first.
if (chosen.includes('e2e.bench.ts')) {
  console.log('building dist/ for the e2e gateway (npm run build)…');
  const b = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', cwd: join(dir, '..') });
  if (b.status !== 0) {
    console.error(`npm run build failed (exit ${b.status ?? b.signal}); the e2e bench needs dist/`);
    process.exit(1);
  }
}
let failed = 0;
for (const f of chosen) {
  console.log(`\n### ${f.replace('.bench.ts', '')}`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(dir, f)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`scenario ${f} failed (exit ${r.status ?? r.signal})`);
  }
}
// A profiling run measures nothing to report: the summary stays that of the last real run.
if (process.env.VIGIL_BENCH_E2E_PROFILE) console.log('\nprofile run: bench/RESULTS.md left as it was');
else console.log(`\nsummary: ${writeResultsMd()} (chart: bench/results/chart.svg)`);
process.exit(failed ? 1 : 0);
