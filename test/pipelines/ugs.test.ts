import { parseUgsLayout, REFERENCE_UGS_LAYOUT, REFERENCE_ZONES, ugsPipeline } from '../../pipelines';
import type { Reading, UgsDetectionType } from '../../src';
import { LocalFrame, UGS_LINE_SITES } from '../../src/sim';
import { Frames, runPipeline, simRecords, T0, type Result } from './harness';

const ugsReading = (detection: UgsDetectionType, confidence = 0.9): Reading => ({ kind: 'ugs', offsetMs: 0, detection, confidence, bearingDeg: null });
const SENSORS = ['ugs-001', 'ugs-002', 'ugs-003', 'ugs-004'];
/** ugs-001 and ugs-002 (both in the minefield) in different partitions, ugs-003 with ugs-001. */
const partitionOf = (d: string): number => Math.max(0, SENSORS.indexOf(d)) % 3;

/** Moves every sensor's partition (and so the second stage) far past everything before it, with detections that alert nothing. */
function closeAll(frames: Frames, atMs: number): void {
  for (const s of SENSORS) frames.add(s, atMs, [ugsReading('animal')]);
}

const ofKey = (results: readonly Result[], prefix: string): Result[] => results.filter((r) => r.key.startsWith(prefix));

describe('ugs pipeline', () => {
  it('places the reference sensors where the simulator emplaces them, two of them in the minefield', () => {
    const frame = new LocalFrame({ lat: 51.2, lon: 9.5 });
    SENSORS.forEach((s, i) => {
      const site = frame.toLatLon(UGS_LINE_SITES[i] as { x: number; y: number });
      const ref = REFERENCE_UGS_LAYOUT.sensors.get(s);
      expect(ref?.lat).toBeCloseTo(site.lat, 6);
      expect(ref?.lon).toBeCloseTo(site.lon, 6);
    });
    expect(REFERENCE_UGS_LAYOUT.routes.map((r) => r.sensors)).toEqual([SENSORS]);
    expect(REFERENCE_ZONES.map((z) => z.id)).toContain('ngz-minefield-north');
    expect(() => parseUgsLayout({ sensors: { a: [9, 51] }, routes: [{ id: 'r', sensors: ['a', 'b'] }] })).toThrow(expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS', message: expect.stringContaining('route "r"') }));
  });

  it('counts detections by class per sensor and per zone, across partitions', async () => {
    const frames = new Frames();
    const plan: Array<[string, number, UgsDetectionType]> = [
      ['ugs-001', 1_000, 'person'],
      ['ugs-001', 5_000, 'person'],
      ['ugs-001', 9_000, 'animal'],
      ['ugs-002', 2_000, 'vehicle'],
      ['ugs-002', 30_000, 'unknown'],
      ['ugs-003', 3_000, 'person'],
      ['ugs-001', 61_000, 'vehicle'],
    ];
    for (const [s, t, c] of plan) frames.add(s, T0 + t, [ugsReading(c)]);
    closeAll(frames, T0 + 600_000);
    const results = (await runPipeline(ugsPipeline(), frames.records, { partitions: 3, partitionOf })).filter((r) => r.windowEndMs <= T0 + 120_000);
    const at = (key: string, start: number): Result['values'] | undefined => results.find((r) => r.key === key && r.windowStartMs === T0 + start)?.values;
    expect(at('ugs-001', 0)).toEqual({ sensor: 'ugs-001', zone: 'ngz-minefield-north', detections: 3, person: 2, vehicle: 0, animal: 1, unknown: 0 });
    expect(at('ugs-002', 0)).toMatchObject({ zone: 'ngz-minefield-north', detections: 2, vehicle: 1, unknown: 1 });
    expect(at('ugs-003', 0)).toMatchObject({ zone: null, detections: 1, person: 1 });
    // The zone holds ugs-001 (partition 0) and ugs-002 (partition 1): one record, both counted.
    expect(at('zone:ngz-minefield-north', 0)).toEqual({ zone: 'ngz-minefield-north', zoneName: 'Minefield north of the ford', zoneClass: 'no-go', detections: 5, person: 2, vehicle: 1, animal: 1, unknown: 1 });
    expect(at('zone:ngz-minefield-north', 60_000)).toMatchObject({ detections: 1, vehicle: 1 });
    expect(ofKey(results, 'zone:').map((r) => r.key).every((k) => k === 'zone:ngz-minefield-north')).toBe(true);
  });

  it('raises an intrusion once, holds it while detections hover between the levels, and clears it once the zone has been quiet', async () => {
    const frames = new Frames();
    // Five alerting detections within 20 s, alternating between the zone's two sensors (two partitions).
    for (let i = 0; i < 5; i++) frames.add(i % 2 === 0 ? 'ugs-001' : 'ugs-002', T0 + i * 5_000, [ugsReading('person')]);
    // Then for 5 min, two or three per minute: below the raise level, above the clear level. No flapping.
    for (let t = 30_000; t < 360_000; t += 25_000) frames.add(t % 50_000 === 0 ? 'ugs-002' : 'ugs-001', T0 + t, [ugsReading('vehicle')]);
    // Animals and low-confidence detections never count.
    for (let t = 400_000; t < 500_000; t += 2_000) frames.add('ugs-001', T0 + t, [t % 4_000 === 0 ? ugsReading('animal') : ugsReading('person', 0.3)]);
    closeAll(frames, T0 + 900_000);
    const results = await runPipeline(ugsPipeline(), frames.records, { partitions: 3, partitionOf });
    const alarms = ofKey(results, 'zone:ngz-minefield-north/intrusion/');
    expect(alarms.map((r) => [r.key.split('/').pop(), r.windowStartMs - T0])).toEqual([
      ['raised', 20_000],
      // The last hovering detections are at 330 and 355 s: when 330 s leaves the 60 s span (390 s), one is left.
      ['cleared', expect.any(Number)],
    ]);
    const cleared = (alarms[1] as Result).windowStartMs - T0;
    expect(cleared).toBe(390_000);
    expect(alarms[0]?.values).toMatchObject({ zone: 'ngz-minefield-north', alarm: true, count: 5 });
    expect(alarms[1]?.values).toMatchObject({ alarm: false, count: 1 });
  });

  it('reports a track when consecutive sensors fire in order, in either direction, and none when they fire out of order or too far apart', async () => {
    const frames = new Frames();
    // Forward: 001 → 002 → 003 → 004, a minute apart (600 m in 180 s).
    SENSORS.forEach((s, i) => frames.add(s, T0 + i * 60_000, [ugsReading('person')]));
    // An hour later, reverse over three sensors: 004 → 003 → 002.
    ['ugs-004', 'ugs-003', 'ugs-002'].forEach((s, i) => frames.add(s, T0 + 3_600_000 + i * 20_000, [ugsReading('vehicle')]));
    // Two hours in: out of order (003, then 001, then 002) and, later, in order but 4 min per step.
    [['ugs-003', 0], ['ugs-001', 30_000], ['ugs-002', 60_000]].forEach(([s, t]) => frames.add(s as string, T0 + 7_200_000 + (t as number), [ugsReading('person')]));
    ['ugs-001', 'ugs-002', 'ugs-003'].forEach((s, i) => frames.add(s, T0 + 9_000_000 + i * 240_000, [ugsReading('person')]));
    closeAll(frames, T0 + 12_000_000);
    const one = await runPipeline(ugsPipeline(), frames.records);
    const tracks = ofKey(one, 'route:ford-east/track');
    // The forward track was published at three sensors, then again at four as revision 1 of the same record.
    expect(tracks.map((r) => [r.kafkaKey, r.revision])).toEqual([
      [`route:ford-east/track/forward|${T0}|${T0}`, 1],
      [`route:ford-east/track/reverse|${T0 + 3_600_000}|${T0 + 3_600_000}`, 0],
    ]);
    expect(tracks.map((r) => r.values)).toEqual([
      { route: 'ford-east', direction: 'forward', sensors: 4, fromSensor: 'ugs-001', toSensor: 'ugs-004', startMs: T0, endMs: T0 + 180_000, speedMps: expect.closeTo(600 / 180, 1) },
      { route: 'ford-east', direction: 'reverse', sensors: 3, fromSensor: 'ugs-004', toSensor: 'ugs-002', startMs: T0 + 3_600_000, endMs: T0 + 3_640_000, speedMps: expect.closeTo(400 / 40, 1) },
    ]);
    // Judged on event time: the same tracks whatever partitions the sensors sit in.
    const split = await runPipeline(ugsPipeline({ idleAfterMs: 24 * 3_600_000 }), frames.records, { partitions: 4, partitionOf: (d) => SENSORS.indexOf(d) % 4 });
    expect(ofKey(split, 'route:').map((r) => [r.kafkaKey, r.values])).toEqual(tracks.map((r) => [r.kafkaKey, r.values]));
  });

  describe('over the simulated fleet', () => {
    // 90 min of the default fleet's UGS: crossings of the sensor line and background passages.
    const { records } = simRecords({ seed: 11, vehicles: 0, soldiers: 0, ugs: 4, uavs: 0 }, 90 * 60_000, ['ugs']);
    const simPartition = (d: string): number => SENSORS.indexOf(d) % 2;
    // The memory bus hands a worker one partition's whole backlog at once, far ahead of the
    // other's; with the default idleness the lagging partition would count late. A live
    // worker commits every 30 s and re-reads at most that much after a crash.
    const def = (): ReturnType<typeof ugsPipeline> => ugsPipeline({ idleAfterMs: 24 * 3_600_000 });

    it('sees the simulated crossings as tracks and intrusions, the same whatever the partitioning', async () => {
      const one = await runPipeline(def(), records);
      expect(ofKey(one, 'route:ford-east/track').length).toBeGreaterThan(0);
      expect(ofKey(one, 'zone:ngz-minefield-north/intrusion/raised').length).toBeGreaterThan(0);
      expect(ofKey(one, 'zone:ngz-minefield-north').length).toBeGreaterThan(0);
      const two = await runPipeline(def(), records, { partitions: 2, partitionOf: simPartition });
      // The last windows close with each partition's own watermark: compare those every run has closed.
      const settled = (rs: readonly Result[]): unknown[] => rs.filter((r) => r.windowEndMs <= T0 + 80 * 60_000).map((r) => [r.kafkaKey, r.values]);
      expect(settled(two)).toEqual(settled(one));
    });

    it('gives the same results after a crash mid-window as an uninterrupted run', async () => {
      const whole = await runPipeline(def(), records, { partitions: 2, partitionOf: simPartition });
      const n = records.length;
      const crashed = await runPipeline(def(), records, { partitions: 2, partitionOf: simPartition, crash: { checkpointAt: Math.floor(n / 3), crashAt: Math.floor(n / 2) } });
      expect(crashed.map((r) => [r.kafkaKey, r.values])).toEqual(whole.map((r) => [r.kafkaKey, r.values]));
    });
  });
});
