import { geofencePipeline, parseZones, REFERENCE_ZONES, type Zone } from '../../pipelines';
import { Frames, positionReading, runPipeline, T0 } from './harness';

// A 0.01° square (~700 m × 1.1 km at 51° N), and a no-go zone far away.
const DEPOT: Zone = { id: 'rz-depot', name: 'Depot', class: 'restricted', polygon: [[9.50, 51.20], [9.51, 51.20], [9.51, 51.21], [9.50, 51.21], [9.50, 51.20]] };
const RANGE: Zone = { id: 'ngz-range', name: 'Firing range', class: 'no-go', polygon: [[9.60, 51.30], [9.61, 51.30], [9.61, 51.31], [9.60, 51.31]] };

describe('geofence pipeline', () => {
  it('reports enter, dwell and exit for a path crossing a zone, confirmed by two fixes', async () => {
    const frames = new Frames();
    // West to east along 51.205 N, a fix every 10 s, 0.001° (~70 m) apart: outside for
    // lon < 9.50, inside for 9.50 < lon < 9.51 (fixes 6..14), outside after.
    const lons: number[] = [];
    for (let i = 0; i < 22; i++) lons.push(9.4945 + i * 0.001);
    lons.forEach((lon, i) => frames.add('sol-3', T0 + i * 10_000, [positionReading(51.205, lon)]));
    const inside = lons.map((lon) => lon > 9.5 && lon < 9.51);
    const firstIn = inside.indexOf(true);
    const firstOut = inside.indexOf(false, firstIn);
    const results = await runPipeline(geofencePipeline({ zones: [DEPOT, RANGE], dwellMs: { restricted: 60_000, 'no-go': 10_000 } }), frames.records);

    const enterAt = T0 + (firstIn + 1) * 10_000; // the second fix inside confirms
    const exitAt = T0 + (firstOut + 1) * 10_000;
    const dwellAt = enterAt + 60_000;
    const zone = { zone: 'rz-depot', zoneName: 'Depot', zoneClass: 'restricted', latDeg: 51.205 };
    expect(results.map((r) => ({ key: r.kafkaKey, values: r.values }))).toEqual([
      { key: `sol-3/rz-depot/enter|${enterAt}|${enterAt}`, values: { event: 'enter', inside: true, ...zone, lonDeg: lons[firstIn + 1] } },
      { key: `sol-3/rz-depot/dwell|${dwellAt}|${dwellAt}`, values: { event: 'dwell', inside: true, ...zone, lonDeg: lons[firstIn + 7], enteredAtMs: enterAt, insideS: 60 } },
      { key: `sol-3/rz-depot/exit|${exitAt}|${exitAt}`, values: { event: 'exit', inside: false, ...zone, lonDeg: lons[firstOut + 1], enteredAtMs: enterAt, insideS: (exitAt - enterAt) / 1000 } },
    ]);
  });

  it('does not flap on GPS noise at the border', async () => {
    const frames = new Frames();
    // ±5 m (0.00007° of longitude) either side of the western border, inside the 15 m band.
    for (let i = 0; i < 60; i++) frames.add('veh-9', T0 + i * 1000, [positionReading(51.205, 9.5 + (i % 2 === 0 ? 0.00007 : -0.00007))]);
    expect(await runPipeline(geofencePipeline({ zones: [DEPOT] }), frames.records)).toEqual([]);
  });

  it('loads the reference zones and refuses malformed zone data naming the zone', () => {
    expect(REFERENCE_ZONES.map((z) => z.class).sort()).toEqual(['no-go', 'restricted']);
    expect(() => parseZones({ zones: [DEPOT, DEPOT] })).toThrow(/"rz-depot" appears twice/);
    expect(() => parseZones({ zones: [{ ...DEPOT, class: 'forbidden' }] })).toThrow(expect.objectContaining({ code: 'VIGIL_E_PIPELINE_OPTIONS', message: expect.stringContaining('"rz-depot".class') }));
    expect(() => parseZones({ zones: [{ ...DEPOT, polygon: [[9.5, 51.2], [9.6, 51.2]] }] })).toThrow(/"rz-depot".polygon/);
    expect(() => parseZones([])).toThrow(/"zones" array/);
  });
});
