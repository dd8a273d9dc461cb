import { mergeUnitPictures, parseRoster, REFERENCE_ROSTER, unitPicturePipeline, UNASSIGNED_UNIT, type UnitPictureValues } from '../../pipelines';
import { Frames, positionReading, runPipeline, T0, type Result } from './harness';

const ROSTER = new Map([
  ['sol-1', 'patrol-a'],
  ['sol-2', 'patrol-a'],
  ['sol-3', 'patrol-a'],
  ['veh-1', 'convoy-b'],
  ['veh-2', 'convoy-b'],
]);
const DEVICES = [...ROSTER.keys(), 'uav-x']; // uav-x is not on the roster
const partitionOf = (d: string): number => DEVICES.indexOf(d) % 3;

/** Fixes every 5 s for 120 s; sol-3 reports only in the first 40 s; each device wanders its own little square. */
function track(): Frames {
  const frames = new Frames();
  for (let t = 0; t < 120_000; t += 5_000) {
    DEVICES.forEach((d, i) => {
      if (d === 'sol-3' && t >= 40_000) return;
      frames.add(d, T0 + t, [positionReading(51.2 + i * 0.002 + ((t / 5_000) % 3) * 0.0001, 9.5 + i * 0.003 - ((t / 5_000) % 4) * 0.0001)]);
    });
  }
  // One device of each partition (with three partitions) moves its partition's watermark past every window above.
  for (const d of ['sol-1', 'sol-2', 'sol-3']) frames.add(d, T0 + 300_000, [positionReading(51.2, 9.5)]);
  return frames;
}

/** The picture of `unit` in [start, start + 60 s), from first principles: member means, centroid, RMS distance in local metres. */
function expected(frames: Frames, unit: string, start: number): { members: number; fixes: number; lat: number; lon: number; spreadM: number } | undefined {
  const per = new Map<string, { lat: number; lon: number; n: number }>();
  let fixes = 0;
  for (const r of frames.records) {
    if ((ROSTER.get(r.deviceId) ?? UNASSIGNED_UNIT) !== unit || r.eventTimeMs < start || r.eventTimeMs >= start + 60_000) continue;
    const p = r.readings[0] as { lat: number; lon: number };
    const m = per.get(r.deviceId) ?? { lat: 0, lon: 0, n: 0 };
    m.lat += p.lat;
    m.lon += p.lon;
    m.n++;
    fixes++;
    per.set(r.deviceId, m);
  }
  if (per.size === 0) return undefined;
  const pts = [...per.values()].map((m) => ({ lat: m.lat / m.n, lon: m.lon / m.n }));
  const lat = pts.reduce((a, p) => a + p.lat, 0) / pts.length;
  const lon = pts.reduce((a, p) => a + p.lon, 0) / pts.length;
  const k = (Math.PI / 180) * 6_371_008.8;
  const d2 = pts.map((p) => ((p.lat - lat) * k) ** 2 + ((p.lon - lon) * k * Math.cos((lat * Math.PI) / 180)) ** 2);
  return { members: pts.length, fixes, lat, lon, spreadM: Math.sqrt(d2.reduce((a, b) => a + b, 0) / pts.length) };
}

function expectPicture(v: Omit<UnitPictureValues, 'partition'>, e: ReturnType<typeof expected>): void {
  if (e === undefined) throw new Error(`no expectation for ${v.unit}`);
  expect(v.members).toBe(e.members);
  expect(v.fixes).toBe(e.fixes);
  expect(v.meanLatDeg).toBeCloseTo(e.lat, 10);
  expect(v.meanLonDeg).toBeCloseTo(e.lon, 10);
  expect(v.spreadM).toBeCloseTo(e.spreadM, 3);
}

const closed = (results: readonly Result[]): Result[] => results.filter((r) => r.windowEndMs <= T0 + 120_000);

describe('unit-picture pipeline', () => {
  it('counts reporting members and gives mean position and spread per unit and hopping window (one partition: exact)', async () => {
    const frames = track();
    const results = closed(await runPipeline(unitPicturePipeline({ roster: ROSTER }), frames.records));
    // Hopping 60 s every 15 s: windows start at −45 s … 105 s; those ending by 120 s are closed.
    const units = ['convoy-b', 'patrol-a', UNASSIGNED_UNIT];
    const starts = [-45, -30, -15, 0, 15, 30, 45, 60].map((s) => T0 + s * 1000);
    expect(results.map((r) => r.kafkaKey).sort()).toEqual(starts.flatMap((s) => units.map((u) => `${u}/p0|${s}|${s + 60_000}`)).sort());
    for (const r of results) {
      const v = r.values as UnitPictureValues;
      expect(v.partition).toBe(0);
      expectPicture(v, expected(frames, v.unit, r.windowStartMs));
    }
    // sol-3 stops at 35 s: the window from 45 s sees two of patrol-a's three members.
    expect(results.find((r) => r.kafkaKey === `patrol-a/p0|${T0 + 45_000}|${T0 + 105_000}`)?.values.members).toBe(2);
    expect(results.find((r) => r.kafkaKey === `patrol-a/p0|${T0}|${T0 + 60_000}`)?.values.members).toBe(3);
  });

  it('publishes one partial per unit and partition that mergeUnitPictures combines into the exact unit picture', async () => {
    const frames = track();
    const results = closed(await runPipeline(unitPicturePipeline({ roster: ROSTER }), frames.records, { partitions: 3, partitionOf }));
    const groups = new Map<string, UnitPictureValues[]>();
    for (const r of results) {
      const v = r.values as UnitPictureValues;
      expect(r.key).toBe(`${v.unit}/p${v.partition}`);
      const g = `${v.unit}|${r.windowStartMs}`;
      groups.set(g, [...(groups.get(g) ?? []), v]);
    }
    // patrol-a's members sit in partitions 0, 1 and 2: no chain sees the whole unit.
    expect(groups.get(`patrol-a|${T0}`)?.map((v) => v.partition).sort()).toEqual([0, 1, 2]);
    for (const [g, parts] of groups) {
      const [unit, start] = g.split('|') as [string, string];
      const merged = mergeUnitPictures(parts);
      expect(merged.partitions).toBe(parts.length);
      expectPicture(merged, expected(frames, unit, Number(start)));
    }
  });

  it('reads the reference roster and refuses a device listed under two units', () => {
    expect(REFERENCE_ROSTER.get('sol-001')).toBe('patrol-1');
    expect(() => parseRoster({ units: { a: ['d-1'], b: ['d-1'] } })).toThrow(expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS', message: expect.stringContaining('"d-1" under both "a" and "b"') }));
    expect(() => parseRoster({ units: [] })).toThrow(/"units" object/);
  });
});
