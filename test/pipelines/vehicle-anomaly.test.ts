import { vehicleAnomalyPipeline } from '../../pipelines';
import { Prng } from '../../src/sim';
import { Frames, runPipeline, simRecords, T0, vehicleReading } from './harness';

/** The documented EWMA baseline, computed here independently: the mean and std before each value. */
function ewmaBefore(values: readonly number[], index: number, alpha: number): { mean: number; std: number } {
  let mean = 0;
  let variance = 0;
  for (let i = 0; i < index; i++) {
    const v = values[i] as number;
    if (i === 0) mean = v;
    else {
      const d = v - mean;
      mean += alpha * d;
      variance = (1 - alpha) * (variance + alpha * d * d);
    }
  }
  return { mean, std: Math.sqrt(variance) };
}

describe('vehicle-anomaly pipeline', () => {
  it('flags an injected temperature spike and rpm dip, with the baseline they broke, and not the noise around them', async () => {
    const prng = new Prng(11);
    const temps: number[] = [];
    const rpms: number[] = [];
    for (let i = 0; i < 200; i++) {
      temps.push(Math.round((90 + prng.normal(0, 0.3)) * 10) / 10);
      rpms.push(Math.round(1800 + prng.normal(0, 40)));
    }
    temps[120] = 112; // a coolant spike
    rpms[150] = 700; //  an rpm dip
    const frames = new Frames();
    for (let i = 0; i < 200; i++) {
      frames.add('veh-7', T0 + i * 1000, [vehicleReading({ engineTempC: temps[i] as number, rpm: rpms[i] as number, fuelPct: 60, speedMps: 12 })]);
      // A second vehicle with the same noise and nothing injected.
      frames.add('veh-8', T0 + i * 1000, [vehicleReading({ engineTempC: 88 + ((i * 7) % 5) / 10, rpm: 1500 + ((i * 13) % 9) * 10 })]);
    }
    const results = await runPipeline(vehicleAnomalyPipeline(), frames.records);
    expect(results.map((r) => r.kafkaKey)).toEqual([`veh-7/engineTempC/spike|${T0 + 120_000}|${T0 + 120_000}`, `veh-7/rpm/dip|${T0 + 150_000}|${T0 + 150_000}`]);
    const t = ewmaBefore(temps, 120, 0.05);
    const r = ewmaBefore(rpms, 150, 0.05);
    expect(results[0]?.values).toEqual({ signal: 'engineTempC', event: 'spike', engineTempC: 112, baselineMeanC: expect.closeTo(t.mean, 9), baselineStdDevC: expect.closeTo(Math.max(t.std, 0.5), 9), zScore: expect.closeTo((112 - t.mean) / Math.max(t.std, 0.5), 6) });
    expect(results[1]?.values).toEqual({ signal: 'rpm', event: 'dip', rpm: 700, baselineMeanRpm: expect.closeTo(r.mean, 6), baselineStdDevRpm: expect.closeTo(Math.max(r.std, 100), 6), zScore: expect.closeTo((700 - r.mean) / Math.max(r.std, 100), 6) });
  });

  it("raises no engine-temperature anomaly on the simulator's warm engines, not even on its gradual overheat ramp", async () => {
    const { fleet, records } = simRecords({ seed: 2, vehicles: 3, soldiers: 0, ugs: 1, uavs: 0 }, 400_000, ['vehicle']);
    const overheat = fleet.scenarios.overheat;
    if (overheat === undefined) throw new Error('the fleet has no overheat');
    const temp = (await runPipeline(vehicleAnomalyPipeline(), records)).filter((r) => r.values.signal === 'engineTempC');
    // The overheat climbs about 1 °C/s: a trend the EWMA baseline follows, not a spike. Sustained
    // over-temperature is a threshold's job; this pipeline reports abrupt departures only.
    expect(overheat.peakAtMs - overheat.fromMs).toBe(60_000);
    expect(temp.filter((r) => r.windowStartMs >= overheat.fromMs)).toEqual([]);
  });

  it("raises overheat on the simulator's gradual overheat once above 110 °C for 10 s, clears it below 100 °C, and on no other vehicle", async () => {
    const { fleet, records } = simRecords({ seed: 2, vehicles: 3, soldiers: 0, ugs: 1, uavs: 0 }, 400_000, ['vehicle']);
    const overheat = fleet.scenarios.overheat;
    if (overheat === undefined) throw new Error('the fleet has no overheat');
    // Reference from the readings themselves: the first reading that ends 10 s spent past the level.
    const temps = records.filter((r) => r.deviceId === overheat.deviceId).map((r) => ({ t: r.eventTimeMs, c: (r.readings[0] as { engineTempC: number }).engineTempC }));
    const firstHeld = (from: number, past: (c: number) => boolean): { t: number; since: number; c: number } => {
      let since: number | null = null;
      for (const x of temps.filter((y) => y.t > from)) {
        if (!past(x.c)) since = null;
        else if (since === null) since = x.t;
        if (since !== null && x.t - since >= 10_000) return { t: x.t, since, c: x.c };
      }
      throw new Error('never held');
    };
    const raised = firstHeld(0, (c) => c > 110);
    const cleared = firstHeld(raised.t, (c) => c < 100);
    const events = (await runPipeline(vehicleAnomalyPipeline(), records)).filter((r) => r.key.includes('/overheat/'));
    expect(events.map((r) => ({ key: r.key, at: r.windowStartMs, values: r.values }))).toEqual([
      { key: `${overheat.deviceId}/overheat/raised`, at: raised.t, values: { condition: 'overheat', state: 'raised', alarm: true, engineTempC: raised.c, sinceMs: raised.since } },
      { key: `${overheat.deviceId}/overheat/cleared`, at: cleared.t, values: { condition: 'overheat', state: 'cleared', alarm: false, engineTempC: cleared.c, sinceMs: cleared.since } },
    ]);
    // Inside the scenario: after the ramp passed the simulator's own threshold, before the engine cooled.
    expect(raised.t).toBeGreaterThan(overheat.fromMs);
    expect(raised.t).toBeLessThan(overheat.untilMs);
  });
});
