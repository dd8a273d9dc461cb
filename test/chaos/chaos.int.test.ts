import { describeResult, replayHint } from './chaos';
import { runSchedule, type ScheduleResult } from './run-schedule';
import { generateSchedule } from './schedule';
import { ChaosServices } from './services';

// The CI subset of `npm run chaos`: fixed seeds whose schedules together draw every kind of
// fault (gateway SIGKILL/SIGTERM/restart/away beyond the broker queue, Kafka stop and hang,
// Mosquitto restart; a small spool budget in two of them), each ≥ 60 s of QoS 1 load from 6
// devices with ≥ 5 faults, against a private Mosquitto and Kafka (the faults stop and hang
// them, so not the shared ones of the global setup). Every acknowledged frame must be in
// Kafka, in order per device; duplicates are allowed and reported.
const SEEDS = [1, 3, 6];

describe('chaos: seeded fault schedules against real processes', () => {
  const services = new ChaosServices((line) => process.stderr.write(`[chaos] ${line}\n`));
  afterAll(() => services.down(), 120_000);

  it.each(SEEDS)(
    'seed %i: every fault applied, no acknowledged frame lost or out of order',
    async (seed) => {
      const schedule = generateSchedule(seed);
      expect(schedule.loadMs).toBeGreaterThanOrEqual(60_000);
      expect(schedule.steps.length).toBeGreaterThanOrEqual(5);
      const r: ScheduleResult = await runSchedule(schedule, { services, log: (line) => process.stderr.write(`[chaos ${seed}] ${line}\n`) });
      process.stderr.write(`[chaos] ${describeResult(r)}\n${r.ok ? '' : replayHint(r, '(not saved)') + '\n'}`);
      expect({ seed, error: r.error }).toEqual({ seed, error: undefined });
      expect(r.faults.map((f) => f.fault).sort()).toEqual(schedule.steps.map((s) => s.fault).sort());
      expect(r.totals?.acknowledged).toBeGreaterThan(0);
      // A frame the device had to resend arrives after its later frames (reported as late), and
      // of a frame never acknowledged the acked log cannot tell how often it was sent; any
      // other disorder (an acknowledged frame sent once), and any loss, fails.
      const t = r.totals;
      const sentOnce = (t?.outOfOrder ?? 0) - (t?.outOfOrderResent ?? 0) - (t?.outOfOrderUnacknowledged ?? 0);
      expect({ seed, lost: t?.lost, outOfOrderSentOnce: sentOnce }).toEqual({ seed, lost: 0, outOfOrderSentOnce: 0 });
      expect(r.ok).toBe(true);
    },
    600_000,
  );
});
