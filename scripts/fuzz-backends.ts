/**
 * `npm run fuzz:backends -- [--inputs N] [--seed S]`: runs N corpus inputs (default
 * 1 000 000) through the tweetnacl and sodium backends and reports, per category, how many
 * both accepted, both refused, and how many they disagreed on (must be 0). Prints progress,
 * a table, then the whole report as one JSON line; exits 1 on any disagreement, 2 when
 * sodium-native does not load here (nothing to compare with).
 */
import { getCryptoBackend, isSodiumAvailable } from '../src/crypto';
import { runDifferential, type DifferentialReport } from './fuzz-backends/differential';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    console.error(`--${name} must be a non-negative integer, got ${String(process.argv[i + 1])}`);
    process.exit(2);
  }
  return v;
}

const inputs = option('inputs', 1_000_000);
const seed = option('seed', 20261128);
if (!isSodiumAvailable()) {
  console.error('sodium-native does not load in this installation: there is no second backend to compare with');
  process.exit(2);
}

const line = (r: DifferentialReport): string => `${r.inputs} inputs, ${r.disagreements} disagreements, ${r.seconds.toFixed(1)} s`;
console.log(`fuzz:backends tweetnacl vs sodium, ${inputs} inputs, seed ${seed}`);
const report = runDifferential({
  inputs,
  seed,
  backends: [getCryptoBackend('tweetnacl'), getCryptoBackend('sodium')],
  progressEvery: 100_000,
  onProgress: (r) => console.log(`  ${line(r)}`),
});
console.log(`${'category'.padEnd(26)}${'inputs'.padStart(10)}${'accepted'.padStart(10)}${'rejected'.padStart(10)}${'disagree'.padStart(10)}`);
for (const [name, c] of Object.entries(report.categories).sort(([x], [y]) => x.localeCompare(y))) {
  console.log(`${name.padEnd(26)}${String(c.inputs).padStart(10)}${String(c.accepted).padStart(10)}${String(c.rejected).padStart(10)}${String(c.disagreements).padStart(10)}`);
}
console.log(`total: ${line(report)}`);
console.log(JSON.stringify(report));
process.exit(report.disagreements === 0 ? 0 : 1);
