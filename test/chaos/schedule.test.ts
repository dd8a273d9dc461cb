import { CLUSTER_FAULTS, FAULTS, generateSchedule, parseSchedule, type ChaosStep } from './schedule';

describe('chaos schedules', () => {
  it('are drawn from a seed: the same seed gives the same schedule, JSON round-trips it', () => {
    const a = generateSchedule(7);
    expect(generateSchedule(7)).toEqual(a);
    expect(generateSchedule(8)).not.toEqual(a);
    expect(parseSchedule(JSON.parse(JSON.stringify(a)), 'x.json')).toEqual(a);
  });

  it('hold 5-8 faults during the load, never two at once on one process', () => {
    for (let seed = 0; seed < 300; seed++) {
      const s = generateSchedule(seed);
      expect(s.steps.length).toBeGreaterThanOrEqual(5);
      expect(s.steps.length).toBeLessThanOrEqual(8);
      const byTarget = new Map<string, ChaosStep[]>();
      for (const st of s.steps) byTarget.set(FAULTS[st.fault].target, [...(byTarget.get(FAULTS[st.fault].target) ?? []), st]);
      for (const steps of byTarget.values()) {
        for (let i = 1; i < steps.length; i++) {
          const prev = steps[i - 1] as ChaosStep;
          expect((steps[i] as ChaosStep).atMs).toBeGreaterThan(prev.atMs + prev.downMs);
        }
      }
      expect(s.steps.every((st) => st.atMs >= 5000)).toBe(true);
    }
  });

  it('draw every kind of fault across seeds, and overlapping faults on different processes', () => {
    const seen = new Set<string>();
    let overlaps = 0;
    for (let seed = 0; seed < 100; seed++) {
      const steps = generateSchedule(seed).steps;
      for (const st of steps) seen.add(st.fault);
      for (const a of steps) for (const b of steps) if (a !== b && FAULTS[a.fault].target !== FAULTS[b.fault].target && b.atMs >= a.atMs && b.atMs < a.atMs + a.downMs) overlaps++;
    }
    expect([...seen].sort()).toEqual(Object.keys(FAULTS).filter((k) => !CLUSTER_FAULTS.includes(k as never)).sort());
    expect(overlaps).toBeGreaterThan(0);
  });

  it('draw broker kills only on a 3-node cluster', () => {
    const kinds = new Set(Array.from({ length: 50 }, (_, seed) => generateSchedule(seed, { cluster: true })).flatMap((s) => s.steps.map((st) => st.fault)));
    expect(kinds.has('kafka-broker-kill')).toBe(true);
    expect(generateSchedule(1, { cluster: true }).kafkaNodes).toBe(3);
    expect(generateSchedule(1).kafkaNodes).toBeUndefined();
    expect(() => generateSchedule(1, { faults: ['kafka-broker-kill'] })).toThrow(/need a cluster/);
    const single = generateSchedule(1);
    expect(() => parseSchedule({ ...single, steps: [{ atMs: 1, fault: 'kafka-broker-kill', downMs: 0 }] }, 'f.json')).toThrow('needs kafkaNodes: 3');
  });

  it('keeps a gateway-away step longer than the broker queue lasts at the offered rate', () => {
    const s = generateSchedule(3, { faults: ['gateway-away'], minFaults: 1, maxFaults: 1 });
    const queueLastsMs = (s.maxQueuedMessages / (s.devices * s.framesPerSecond)) * 1000;
    expect(s.steps[0]?.downMs).toBeGreaterThan(queueLastsMs);
  });

  it('refuses a saved schedule that is not one, naming what is wrong', () => {
    const good = generateSchedule(1);
    expect(() => parseSchedule({ ...good, version: 2 }, 'f.json')).toThrow('f.json: not a chaos schedule: version must be 1');
    expect(() => parseSchedule({ ...good, steps: [{ atMs: 1, fault: 'meteor', downMs: 0 }] }, 'f.json')).toThrow(/steps\[0\]\.fault must be one of gateway-kill/);
    expect(() => parseSchedule({ ...good, loadMs: -1 }, 'f.json')).toThrow('loadMs must be a non-negative integer');
  });
});
