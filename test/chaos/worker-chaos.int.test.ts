import { describeWorkerResult, referenceResults, runWorkerSchedule, type Results } from './run-worker-schedule';
import { ChaosServices } from './services';
import { generateWorkerSchedule, WORKER_FAULTS } from './worker-schedule';

// The CI subset of `npm run chaos -- --workers` (issue 11): seeds 1 and 2 together draw every
// worker fault (SIGKILL, SIGTERM, a lost state disk, a join, a leave; Kafka stopped and hung),
// overlapping, during 60 s of input with late data, against a private Kafka (the faults stop
// and hang it). The final derived results — every value and revision — must be those of one
// uninterrupted worker over the same input.
const SEEDS = [1, 2];

describe('worker chaos: seeded fault schedules against real worker processes', () => {
  const services = new ChaosServices((line) => process.stderr.write(`[worker chaos] ${line}\n`));
  let reference: Results;
  afterAll(() => services.down(), 120_000);

  beforeAll(async () => {
    reference = await referenceResults(services, (line) => process.stderr.write(`[worker chaos] ${line}\n`));
  }, 400_000);

  it('the CI seeds draw every kind of worker fault', () => {
    const kinds = new Set(SEEDS.flatMap((s) => generateWorkerSchedule(s).steps.map((x) => x.fault)));
    expect([...kinds].sort()).toEqual(Object.keys(WORKER_FAULTS).sort());
    expect(reference.size).toBeGreaterThan(0);
  });

  it.each(SEEDS)(
    'seed %i: every fault applied, the results identical to one uninterrupted worker',
    async (seed) => {
      const schedule = generateWorkerSchedule(seed);
      const r = await runWorkerSchedule(schedule, { services, reference, log: (line) => process.stderr.write(`[worker chaos ${seed}] ${line}\n`) });
      process.stderr.write(`[worker chaos] ${describeWorkerResult(r)}\n`);
      expect({ seed, error: r.error }).toEqual({ seed, error: undefined });
      expect(r.faults.map((f) => f.fault).sort()).toEqual(schedule.steps.map((s) => s.fault).sort());
      expect({ seed, differences: r.differences }).toEqual({ seed, differences: [] });
      expect(r.keys).toBe(reference.size);
      expect(r.revised).toBeGreaterThan(0);
      expect(r.restores.local + r.restores.changelog).toBeGreaterThan(0);
      expect(r.ok).toBe(true);
    },
    600_000,
  );
});
