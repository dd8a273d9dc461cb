import { sensorHealthPipeline } from '../../pipelines';
import type { RejectionRecord } from '../../src';
import { Frames, powerReading, runPipeline, simRecords, T0 } from './harness';

/** A rejection record as a gateway writes it (a claimed header, or none when it did not decode). */
function rejection(deviceId: string | null, atMs: number, reason: RejectionRecord['reason'], seq = 1): RejectionRecord {
  return {
    reason,
    message: reason,
    header: deviceId === null ? null : { deviceId, epoch: 1, seq: String(seq), eventTimeMs: atMs },
    sha256: atMs.toString(16).padStart(64, '0'),
    bytes: 180,
    gatewayId: 'gw-test',
    atMs,
  };
}

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

  it('raises rejected-frames on the 5th rejection of a device within 60 s, clears it once the count falls to 1, and counts rejections per minute by group', async () => {
    const input: RejectionRecord[] = [
      // uav-9: one forged frame, then four replays of one captured frame within 30 s.
      rejection('uav-9', T0 + 1_000, 'VIGIL_E_FRAME_AUTH', 40),
      ...[10_000, 20_000, 25_000, 31_000].map((t) => rejection('uav-9', T0 + t, 'VIGIL_E_REPLAY', 12)),
      // sol-3: a few scattered ones, never 5 within a minute.
      rejection('sol-3', T0 + 5_000, 'VIGIL_E_CLOCK_SKEW'),
      rejection('sol-3', T0 + 50_000, 'VIGIL_E_DEVICE_REVOKED'),
      rejection(null, T0 + 55_000, 'VIGIL_E_FRAME_MALFORMED'),
      // Later traffic of another device moves this partition's watermark on (1 s bound).
      rejection('sol-3', T0 + 130_000, 'VIGIL_E_RATE_LIMITED'),
    ];
    const results = await runPipeline(sensorHealthPipeline(), input);
    const view = results.map((r) => ({ key: r.key, at: r.windowStartMs - T0, end: r.windowEndMs - T0, values: r.values, level: r.record.label.level }));
    expect(view.filter((r) => r.key.includes('/rejected-frames/'))).toEqual([
      { key: 'uav-9/rejected-frames/raised', at: 31_000, end: 31_000, level: 'UNCLASSIFIED', values: { condition: 'rejected-frames', state: 'raised', alarm: true, count: 5, overS: 60, sinceMs: T0 + 1_000 } },
      // Counts within 60 s fall to 1 when the record at 25 s expires (at 85 s): only 31 s is left.
      { key: 'uav-9/rejected-frames/cleared', at: 85_000, end: 85_000, level: 'UNCLASSIFIED', values: { condition: 'rejected-frames', state: 'cleared', alarm: false, count: 1, overS: 60, sinceMs: T0 + 31_000 } },
    ]);
    expect(view.filter((r) => r.key.endsWith('/rejected-rate'))).toEqual([
      { key: 'sol-3/rejected-rate', at: 0, end: 60_000, level: 'UNCLASSIFIED', values: { rejected: 2, perMinute: 2, replay: 0, forged: 0, identity: 1, other: 1 } },
      { key: 'uav-9/rejected-rate', at: 0, end: 60_000, level: 'UNCLASSIFIED', values: { rejected: 5, perMinute: 5, replay: 4, forged: 1, identity: 0, other: 0 } },
      { key: 'unattributed/rejected-rate', at: 0, end: 60_000, level: 'UNCLASSIFIED', values: { rejected: 1, perMinute: 1, replay: 0, forged: 0, identity: 0, other: 1 } },
    ]);
  });

  it('keeps power and rejections apart: rejections claiming a device neither feed its silence nor its battery', async () => {
    const frames = new Frames();
    for (let t = 0; t <= 300_000; t += 10_000) {
      frames.add('ugs-1', T0 + t, [powerReading(90)]);
      if (t <= 100_000) frames.add('ugs-2', T0 + t, [powerReading(80)]);
    }
    // Someone keeps replaying ugs-2's frames while it is silent: that is not ugs-2 reporting.
    const replays = [120_000, 150_000, 180_000].map((t) => rejection('ugs-2', T0 + t, 'VIGIL_E_REPLAY', 3));
    const records = [...frames.records, ...replays].sort((a, b) => ('atMs' in a ? a.atMs : a.eventTimeMs) - ('atMs' in b ? b.atMs : b.eventTimeMs));
    // Partition 0 of telemetry.power and of telemetry.rejected: two chains, one pipeline.
    const results = await runPipeline(sensorHealthPipeline(), records);
    expect(results.filter((r) => r.key.includes('/silence/')).map((r) => [r.key, r.windowStartMs - T0])).toEqual([['ugs-2/silence/silent', 190_000]]);
    expect(results.filter((r) => r.key.includes('battery'))).toEqual([]);
    expect(results.filter((r) => r.key.includes('rejected-frames'))).toEqual([]);
  });
});
