/**
 * `npm run prop:lanes -- --schedules 100000 [--from 1]`: the gateway's Kafka-lane property
 * (test/edge/gateway/lane-order.ts) over many seeded schedules, with progress; a failing seed
 * is printed with its violations and replays with `--from <seed> --schedules 1`.
 */
import { runLaneOrderSchedule } from '../test/edge/gateway/lane-order';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(process.argv[i + 1])}`);
  return v;
}

async function main(): Promise<number> {
  const schedules = flag('--schedules', 10_000);
  const from = flag('--from', 1);
  const t0 = Date.now();
  const totals = { schedules: 0, failed: 0, frames: 0, requests: 0, failedSends: 0, lostAnswers: 0, spooled: 0, byLanes: [0, 0, 0, 0, 0, 0] };
  for (let seed = from; seed < from + schedules; seed++) {
    const r = await runLaneOrderSchedule(seed);
    totals.schedules++;
    totals.frames += r.frames;
    totals.requests += r.requests;
    totals.failedSends += r.failed;
    totals.lostAnswers += r.lost;
    totals.spooled += r.spooled;
    totals.byLanes[r.lanes] = (totals.byLanes[r.lanes] ?? 0) + 1;
    if (r.violations.length > 0) {
      totals.failed++;
      process.stdout.write(`seed ${seed} (${r.lanes} lanes): ${r.violations.join('; ')}\n`);
    }
    if (totals.schedules % 5000 === 0) process.stderr.write(`${totals.schedules}/${schedules} schedules, ${totals.failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  process.stdout.write(`${JSON.stringify({ ...totals, byLanes: Object.fromEntries(totals.byLanes.map((n, i) => [i, n]).filter(([i]) => Number(i) > 0)), seconds: Math.round((Date.now() - t0) / 1000) })}\n`);
  return totals.failed === 0 ? 0 : 1;
}

main().then((c) => process.exit(c), (err: unknown) => {
  process.stderr.write(`prop:lanes: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
