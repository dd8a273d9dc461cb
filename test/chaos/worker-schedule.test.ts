import { generateWorkerSchedule, parseWorkerSchedule, WORKER_FAULTS, type WorkerChaosStep, type WorkerFaultKind } from './worker-schedule';

describe('worker chaos schedules', () => {
  it('are drawn from a seed: the same seed gives the same schedule, JSON round-trips it', () => {
    const a = generateWorkerSchedule(7);
    expect(generateWorkerSchedule(7)).toEqual(a);
    expect(generateWorkerSchedule(8)).not.toEqual(a);
    expect(parseWorkerSchedule(JSON.parse(JSON.stringify(a)), 'x.json')).toEqual(a);
  });

  it('hold 5-8 faults during the input, Kafka faults never overlapping, and never leave the group empty', () => {
    for (let seed = 0; seed < 300; seed++) {
      const s = generateWorkerSchedule(seed);
      expect(s.steps.length).toBeGreaterThanOrEqual(5);
      expect(s.steps.length).toBeLessThanOrEqual(8);
      expect(s.workers).toBeGreaterThanOrEqual(2);
      const kafka = s.steps.filter((x) => WORKER_FAULTS[x.fault].target === 'kafka');
      for (let i = 1; i < kafka.length; i++) expect((kafka[i] as WorkerChaosStep).atMs).toBeGreaterThan((kafka[i - 1] as WorkerChaosStep).atMs + (kafka[i - 1] as WorkerChaosStep).downMs);
      let members = s.workers;
      for (const st of s.steps) {
        members += st.fault === 'worker-join' ? 1 : st.fault === 'worker-leave' ? -1 : 0;
        expect(members).toBeGreaterThanOrEqual(1);
        expect(st.atMs).toBeGreaterThanOrEqual(4000);
        expect(st.atMs).toBeLessThan(s.loadMs + 60_000);
      }
    }
  });

  it('draw every kind of fault across seeds, and the CI seeds 1 and 2 together draw all of them', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 100; seed++) for (const st of generateWorkerSchedule(seed).steps) seen.add(st.fault);
    expect([...seen].sort()).toEqual(Object.keys(WORKER_FAULTS).sort());
    const ci = new Set([1, 2].flatMap((seed) => generateWorkerSchedule(seed).steps.map((st) => st.fault)));
    expect([...ci].sort()).toEqual(Object.keys(WORKER_FAULTS).sort());
  });

  it('draw only the kinds asked for', () => {
    const only: WorkerFaultKind[] = ['worker-kill', 'kafka-hang'];
    for (let seed = 0; seed < 50; seed++) expect(generateWorkerSchedule(seed, { faults: only }).steps.every((st) => only.includes(st.fault))).toBe(true);
    expect(() => generateWorkerSchedule(1, { faults: ['worker-leave'], minFaults: 5, maxFaults: 5 })).toThrow(/a leave needs two workers/);
  });

  it('refuse a malformed saved schedule, naming what is wrong', () => {
    const good = generateWorkerSchedule(3);
    expect(() => parseWorkerSchedule({ ...good, kind: 'gateway' }, 'f.json')).toThrow(/f\.json: .*kind must be "workers"/);
    expect(() => parseWorkerSchedule({ ...good, workers: 0 }, 'f.json')).toThrow(/workers must be at least 1/);
    expect(() => parseWorkerSchedule({ ...good, steps: [{ atMs: 1, fault: 'worker-explode', downMs: 0, pick: 0 }] }, 'f.json')).toThrow(/steps\[0\]\.fault must be one of worker-kill/);
    expect(() => parseWorkerSchedule({ ...good, steps: [{ atMs: -1, fault: 'worker-kill', downMs: 0, pick: 0 }] }, 'f.json')).toThrow(/steps\[0\]\.atMs must be a non-negative number/);
  });
});
