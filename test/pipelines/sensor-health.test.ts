import { sensorHealthPipeline } from '../../pipelines';
import { Frames, powerReading, runPipeline, simRecords, T0 } from './harness';

describe('sensor-health pipeline', () => {
  it('reports a device silent once the watermark passes its last reading + 90 s, and resumed when it reports again', async () => {
    const frames = new Frames();
    for (let t = 0; t <= 400_000; t += 10_000) {
      frames.add('ugs-1', T0 + t, [powerReading(90)]);
      // ugs-2 is quiet from 110 s to 290 s (last reading at 100 s, back at 300 s).
      if (t <= 100_000 || t >= 300_000) frames.add('ugs-2', T0 + t, [powerReading(80)]);
    }
    const results = await runPipeline(sensorHealthPipeline(), frames.records);
    expect(results.map((r) => ({ key: r.key, at: r.windowStartMs - T0, values: r.values }))).toEqual([
      { key: 'ugs-2/silence/silent', at: 190_000, values: { event: 'silent', silent: true, lastSeenMs: T0 + 100_000, gapS: 90 } },
      { key: 'ugs-2/silence/resumed', at: 300_000, values: { event: 'resumed', silent: false, lastSeenMs: T0 + 100_000, gapS: 200 } },
    ]);
  });

  it('raises battery-low below 20 % and clears it only above 25 %, without flapping in between', async () => {
    const frames = new Frames();
    const battery = [40, 30, 22, 19.5, 20.5, 19.8, 21, 24, 19, 24.9, 26, 24, 21];
    battery.forEach((b, i) => frames.add('sol-7', T0 + i * 30_000, [powerReading(b)]));
    // A reading without a state of charge (voltage only) is neither low nor healthy.
    frames.add('sol-7', T0 + battery.length * 30_000, [{ kind: 'power', offsetMs: 0, batteryPct: null, voltageV: 9.9 }]);
    const results = await runPipeline(sensorHealthPipeline(), frames.records);
    expect(results.map((r) => ({ key: r.key, at: r.windowStartMs - T0, values: r.values }))).toEqual([
      { key: 'sol-7/battery-low/raised', at: 90_000, values: { condition: 'battery-low', state: 'raised', alarm: true, batteryPct: 19.5, sinceMs: T0 + 90_000 } },
      { key: 'sol-7/battery-low/cleared', at: 300_000, values: { condition: 'battery-low', state: 'cleared', alarm: false, batteryPct: 26, sinceMs: T0 + 300_000 } },
    ]);
  });

  it("reports the simulator's silent UGS, and only it", async () => {
    const { fleet, records } = simRecords({ seed: 5, vehicles: 2, soldiers: 4, ugs: 2, uavs: 1 }, 400_000, ['power']);
    const silence = fleet.scenarios.silence;
    if (silence === undefined) throw new Error('the fleet has no silent device');
    const results = await runPipeline(sensorHealthPipeline(), records);
    const lastBefore = Math.max(...records.filter((r) => r.deviceId === silence.deviceId && r.eventTimeMs < silence.fromMs).map((r) => r.eventTimeMs));
    const firstAfter = Math.min(...records.filter((r) => r.deviceId === silence.deviceId && r.eventTimeMs >= silence.untilMs).map((r) => r.eventTimeMs));
    expect(results.map((r) => ({ key: r.key, at: r.windowStartMs, lastSeenMs: r.values.lastSeenMs }))).toEqual([
      { key: `${silence.deviceId}/silence/silent`, at: lastBefore + 90_000, lastSeenMs: lastBefore },
      { key: `${silence.deviceId}/silence/resumed`, at: firstAfter, lastSeenMs: lastBefore },
    ]);
  });
});
