import { mergeUnitPictures, parseRoster, REFERENCE_ROSTER, unitPicturePipeline, UNASSIGNED_UNIT, type UnitPictureResult } from '../../pipelines';
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
  // Every device reports once more much later, so every partition's watermark passes every window above, however they are partitioned.
  for (const d of DEVICES) frames.add(d, T0 + 300_000, [positionReading(51.2, 9.5)]);
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

function expectPicture(v: Readonly<Record<string, unknown>>, e: ReturnType<typeof expected>): void {
  if (e === undefined) throw new Error(`no expectation for ${String(v.unit)}`);
  expect(v.members).toBe(e.members);
  expect(v.fixes).toBe(e.fixes);
  expect(v.meanLatDeg).toBeCloseTo(e.lat, 10);
  expect(v.meanLonDeg).toBeCloseTo(e.lon, 10);
  expect(v.spreadM).toBeCloseTo(e.spreadM, 3);
}

const closed = (results: readonly Result[]): Result[] => results.filter((r) => r.windowEndMs <= T0 + 120_000);
const UNITS = ['convoy-b', 'patrol-a', UNASSIGNED_UNIT];
// Hopping 60 s every 15 s: windows start at −45 s … 105 s; those ending by 120 s are closed.
const STARTS = [-45, -30, -15, 0, 15, 30, 45, 60].map((s) => T0 + s * 1000);

/** One record per unit and closed window, each the exact picture of all the unit's members. */
function expectUnitPictures(frames: Frames, results: readonly Result[]): void {
  expect(results.map((r) => r.kafkaKey).sort()).toEqual(STARTS.flatMap((s) => UNITS.map((u) => `${u}|${s}|${s + 60_000}`)).sort());
  for (const r of results) {
    const v = r.values as UnitPictureResult;
    expect(v.unit).toBe(r.key);
    expectPicture(v, expected(frames, v.unit, r.windowStartMs));
  }
}

describe('unit-picture pipeline', () => {
  it('counts reporting members and gives mean position and spread per unit and hopping window', async () => {
    const frames = track();
    const results = closed(await runPipeline(unitPicturePipeline({ roster: ROSTER }), frames.records));
    expectUnitPictures(frames, results);
    for (const r of results) expect(r.values.partitions).toBe(1);
    // sol-3 stops at 35 s: the window from 45 s sees two of patrol-a's three members.
    expect(results.find((r) => r.kafkaKey === `patrol-a|${T0 + 45_000}|${T0 + 105_000}`)?.values.members).toBe(2);
    expect(results.find((r) => r.kafkaKey === `patrol-a|${T0}|${T0 + 60_000}`)?.values.members).toBe(3);
    // What the merge needs stays inside the pipeline.
    expect(Object.keys(results[0]?.values ?? {}).sort()).toEqual(['fixes', 'meanLatDeg', 'meanLonDeg', 'members', 'partitions', 'spreadM', 'unit']);
  });

  it('publishes one record per unit and window whatever the partitioning, merging the partials of every partition exactly', async () => {
    const frames = track();
    const one = closed(await runPipeline(unitPicturePipeline({ roster: ROSTER }), frames.records));
    for (const [n, of] of [
      [3, partitionOf],
      [4, (d: string): number => (DEVICES.length - 1 - DEVICES.indexOf(d)) % 4],
    ] as const) {
      const results = closed(await runPipeline(unitPicturePipeline({ roster: ROSTER }), frames.records, { partitions: n, partitionOf: of }));
      expectUnitPictures(frames, results);
      expect(results.map((r) => r.kafkaKey)).toEqual(one.map((r) => r.kafkaKey));
      results.forEach((r, i) => {
        const o = (one[i] as Result).values;
        expect(r.values.members).toBe(o.members);
        expect(r.values.fixes).toBe(o.fixes);
        expect(r.values.meanLatDeg).toBeCloseTo(o.meanLatDeg as number, 10);
        expect(r.values.spreadM).toBeCloseTo(o.spreadM as number, 3);
      });
    }
    // With three partitions patrol-a's members sit in partitions 0, 1 and 2: no first-stage chain sees the whole unit.
    const three = closed(await runPipeline(unitPicturePipeline({ roster: ROSTER }), frames.records, { partitions: 3, partitionOf }));
    expect(three.find((r) => r.kafkaKey === `patrol-a|${T0}|${T0 + 60_000}`)?.values.partitions).toBe(3);
  });

  it('gives the same pictures after a crash mid-window as an uninterrupted run', async () => {
    const frames = track();
    const def = (): ReturnType<typeof unitPicturePipeline> => unitPicturePipeline({ roster: ROSTER });
    const whole = await runPipeline(def(), frames.records, { partitions: 3, partitionOf });
    const n = frames.records.length;
    // Committed a third of the way in, crashed past half of it: inside open windows of both stages.
    const crashed = await runPipeline(def(), frames.records, { partitions: 3, partitionOf, crash: { checkpointAt: Math.floor(n / 3), crashAt: Math.floor(n / 2) } });
    expect(crashed.map((r) => [r.kafkaKey, r.values])).toEqual(whole.map((r) => [r.kafkaKey, r.values]));
    expectUnitPictures(frames, closed(crashed));
  });

  it('mergeUnitPictures combines partials into the picture of all members', () => {
    const a = { unit: 'u', members: 1, fixes: 2, meanLatDeg: 51, meanLonDeg: 9, m2LatDeg2: 0, m2LonDeg2: 0, spreadM: 0 };
    const b = { unit: 'u', members: 1, fixes: 3, meanLatDeg: 51.001, meanLonDeg: 9, m2LatDeg2: 0, m2LonDeg2: 0, spreadM: 0 };
    const m = mergeUnitPictures([a, b]);
    expect(m).toMatchObject({ unit: 'u', partitions: 2, members: 2, fixes: 5, meanLatDeg: 51.0005, meanLonDeg: 9 });
    expect(m.spreadM).toBeCloseTo(55.6, 1);
  });

  it('refuses a window that is not a multiple of the slide', () => {
    expect(() => unitPicturePipeline({ windowMs: 50_000, slideMs: 15_000 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS' }));
  });

  it('reads the reference roster and refuses a device listed under two units', () => {
    expect(REFERENCE_ROSTER.get('sol-001')).toBe('patrol-1');
    expect(() => parseRoster({ units: { a: ['d-1'], b: ['d-1'] } })).toThrow(expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS', message: expect.stringContaining('"d-1" under both "a" and "b"') }));
    expect(() => parseRoster({ units: [] })).toThrow(/"units" object/);
  });
});
