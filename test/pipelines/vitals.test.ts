import { vitalsPipeline } from '../../pipelines';
import { Frames, runPipeline, simRecords, T0, vitalsReading, type Result } from './harness';

const alerts = (results: readonly Result[], prefix: string): Result[] => results.filter((r) => r.key.startsWith(prefix) && r.values.condition !== undefined);

describe('vitals pipeline', () => {
  it('publishes per-soldier 10 s mean/max heart rate and min SpO2, counting only present measurements', async () => {
    const frames = new Frames();
    // Two soldiers, a frame every 2 s with two readings 1 s apart; some measurements missing.
    const expected = new Map<string, { n: number; hr: number[]; spo2: number[] }>();
    for (let i = 0; i < 15; i++) {
      for (const dev of ['sol-a', 'sol-b']) {
        const t = T0 + i * 2000;
        const hr1 = dev === 'sol-a' ? 70 + i : 90 - i;
        const hr2 = i % 4 === 0 ? null : hr1 + 3;
        // sol-b's SpO2 sensor is off for its whole second window.
        const off = dev === 'sol-b' && t >= T0 + 10_000 && t < T0 + 20_000;
        const s1 = off ? null : 98 - (i % 3);
        const s2 = off ? null : 97 - (i % 5);
        frames.add(dev, t, [vitalsReading({ heartRateBpm: hr1, spo2Pct: s1 }, 0), vitalsReading({ heartRateBpm: hr2, spo2Pct: s2 }, 1000)]);
        for (const [off2, hr, sp] of [[0, hr1, s1], [1000, hr2, s2]] as const) {
          const start = Math.floor((t + off2 - T0) / 10_000) * 10_000 + T0;
          const e = expected.get(`${dev}|${start}`) ?? { n: 0, hr: [], spo2: [] };
          e.n++;
          if (hr !== null) e.hr.push(hr);
          if (sp !== null) e.spo2.push(sp);
          expected.set(`${dev}|${start}`, e);
        }
      }
    }
    // A reading far ahead moves the watermark past every window above.
    frames.add('sol-clock', T0 + 60_000, [vitalsReading({ heartRateBpm: 60 })]);
    // Then a frame from a drained backlog, late but within lateness: the first window is revised.
    frames.add('sol-a', T0 + 3_000, [vitalsReading({ heartRateBpm: 200, spo2Pct: 80 })]);
    const first = expected.get(`sol-a|${T0}`) as { n: number; hr: number[]; spo2: number[] };
    first.n++;
    first.hr.push(200);
    first.spo2.push(80);

    const stats = (await runPipeline(vitalsPipeline(), frames.records)).filter((r) => r.key !== 'sol-clock' && r.values.readings !== undefined);
    expect(stats.map((r) => `${r.key}|${r.windowStartMs}`).sort()).toEqual([...expected.keys()].sort());
    for (const r of stats) {
      const e = expected.get(`${r.key}|${r.windowStartMs}`);
      if (e === undefined) throw new Error(`unexpected window ${r.kafkaKey}`);
      expect(r.windowEndMs - r.windowStartMs).toBe(10_000);
      expect(r.revision).toBe(r.key === 'sol-a' && r.windowStartMs === T0 ? 1 : 0);
      expect(r.values).toMatchObject({ readings: e.n, heartRateSamples: e.hr.length, heartRateMaxBpm: Math.max(...e.hr), spo2Samples: e.spo2.length });
      expect(r.values.heartRateMeanBpm).toBeCloseTo(e.hr.reduce((a, b) => a + b, 0) / e.hr.length, 10);
      expect(r.values.spo2MinPct).toBe(e.spo2.length === 0 ? null : Math.min(...e.spo2));
      expect(r.record.label.level).toBe('SECRET');
      expect(r.record.provenance.every((p) => p.deviceId === r.key)).toBe(true);
    }
    // The window with the SpO2 sensor off says so with null, not a number.
    expect(stats.find((r) => r.key === 'sol-b' && r.windowStartMs === T0 + 10_000)?.values).toMatchObject({ spo2Samples: 0, spo2MinPct: null });
  });

  it('raises a casualty alert only on a sustained breach and clears it only below the hysteresis band', async () => {
    const frames = new Frames();
    const hr: number[] = [];
    for (let i = 0; i < 20; i++) hr.push(100); //                      0–19 s: normal
    for (let i = 0; i < 30; i++) hr.push(i % 2 === 0 ? 152 : 148); // 20–49 s: hovering at the level: never 15 s above
    for (let i = 0; i < 20; i++) hr.push(160); //                      50–69 s: sustained: raised at 65 s
    for (let i = 0; i < 30; i++) hr.push(i % 2 === 0 ? 145 : 135); // 70–99 s: inside the band: stays raised
    for (let i = 0; i < 20; i++) hr.push(120); //                     100–119 s: below clear: cleared at 115 s
    for (let i = 0; i < 20; i++) hr.push(i % 2 === 0 ? 131 : 149); // 120–139 s: inside the band again: stays clear
    hr.forEach((v, i) => frames.add('sol-1', T0 + i * 1000, [vitalsReading({ heartRateBpm: v, spo2Pct: 97 })]));

    const results = alerts(await runPipeline(vitalsPipeline(), frames.records), 'sol-1/');
    expect(results.map((r) => ({ key: r.key, at: r.windowStartMs - T0, end: r.windowEndMs - T0, values: r.values }))).toEqual([
      { key: 'sol-1/heart-rate-high/raised', at: 65_000, end: 65_000, values: { condition: 'heart-rate-high', state: 'raised', alarm: true, heartRateBpm: 160, sinceMs: T0 + 50_000 } },
      { key: 'sol-1/heart-rate-high/cleared', at: 115_000, end: 115_000, values: { condition: 'heart-rate-high', state: 'cleared', alarm: false, heartRateBpm: 120, sinceMs: T0 + 100_000 } },
    ]);
  });

  it("raises heart-rate-high and spo2-low for the simulator's vitals-spike soldier, and nothing for the others", async () => {
    const { fleet, records } = simRecords({ seed: 3, vehicles: 0, soldiers: 4, ugs: 1, uavs: 0 }, 300_000, ['vitals']);
    const spike = fleet.scenarios.vitalsSpike;
    if (spike === undefined) throw new Error('the fleet has no vitals spike');
    const results = (await runPipeline(vitalsPipeline(), records)).filter((r) => r.values.condition !== undefined);
    const victim = results.filter((r) => r.key.startsWith(`${spike.deviceId}/`));
    expect(results.filter((r) => !r.key.startsWith(`${spike.deviceId}/`))).toEqual([]);
    for (const condition of ['heart-rate-high', 'spo2-low']) {
      const raised = victim.filter((r) => r.values.condition === condition && r.values.state === 'raised');
      const cleared = victim.filter((r) => r.values.condition === condition && r.values.state === 'cleared');
      expect(raised).toHaveLength(1);
      expect(cleared).toHaveLength(1);
      // Raised inside the spike, no sooner than 15 s into it; cleared after it ended.
      expect(raised[0]?.windowStartMs).toBeGreaterThanOrEqual(spike.fromMs + 15_000);
      expect(raised[0]?.windowStartMs).toBeLessThan(spike.untilMs);
      expect(cleared[0]?.windowStartMs).toBeGreaterThanOrEqual(spike.untilMs);
    }
  });
});
