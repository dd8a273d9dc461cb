import { createFleet, insidePolygon, type ResolvedScenarios, type SimReading } from '../../src/sim';

const START = Date.UTC(2026, 5, 1, 6, 0, 0);
const fleet = createFleet({ seed: 3, vehicles: 4, soldiers: 12, ugs: 3, uavs: 1 }, { startMs: START });
const readings = fleet.readings(START + 10 * 60_000);
const sc = fleet.scenarios as Required<ResolvedScenarios>;

const of = (deviceId: string, kind?: string): SimReading[] => readings.filter((r) => r.deviceId === deviceId && (kind === undefined || r.reading.kind === kind));

describe('scenario hooks', () => {
  it('targets the documented devices', () => {
    expect(sc.overheat.deviceId).toBe('veh-001');
    expect(sc.gpsDropout.deviceId).toBe('veh-002');
    expect(sc.vitalsSpike.deviceId).toBe('sol-001');
    expect(sc.silence.deviceId).toBe('ugs-001');
    expect(sc.geofence.deviceIds).toEqual(['sol-001', 'sol-002', 'sol-003', 'sol-004', 'sol-005', 'sol-006', 'sol-007', 'sol-008']);
    expect(sc.geofence.name).toBe('objective-alpha');
  });

  it('overheat: the engine temperature stays below the threshold, crosses it during the event, and falls back', () => {
    const temps = of(sc.overheat.deviceId, 'vehicle').map((r) => ({ t: r.atMs, c: r.reading.kind === 'vehicle' ? (r.reading.engineTempC as number) : NaN }));
    const before = temps.filter((x) => x.t < sc.overheat.fromMs);
    const peak = temps.filter((x) => x.t >= sc.overheat.peakAtMs && x.t < sc.overheat.untilMs);
    const after = temps.filter((x) => x.t >= sc.overheat.untilMs + 2 * 60_000);
    expect(Math.max(...before.map((x) => x.c))).toBeLessThan(sc.overheat.thresholdC);
    expect(Math.min(...peak.map((x) => x.c))).toBeGreaterThan(sc.overheat.thresholdC);
    expect(Math.max(...peak.map((x) => x.c))).toBeCloseTo(sc.overheat.peakC, -1);
    expect(Math.max(...after.map((x) => x.c))).toBeLessThan(sc.overheat.thresholdC - 10);
    // No other vehicle overheats.
    const others = readings.filter((r) => r.deviceId !== sc.overheat.deviceId && r.reading.kind === 'vehicle');
    expect(Math.max(...others.map((r) => (r.reading.kind === 'vehicle' ? (r.reading.engineTempC as number) : 0)))).toBeLessThan(100);
  });

  it('vitals spike: heart rate and SpO2 leave their baseline only inside the window', () => {
    const vitals = of(sc.vitalsSpike.deviceId, 'vitals').map((r) => ({ t: r.atMs, v: r.reading.kind === 'vitals' ? r.reading : undefined }));
    const inside = vitals.filter((x) => x.t >= sc.vitalsSpike.fromMs && x.t < sc.vitalsSpike.untilMs);
    const outside = vitals.filter((x) => x.t < sc.vitalsSpike.fromMs || x.t >= sc.vitalsSpike.untilMs + 60_000);
    expect(inside.length).toBeGreaterThan(30);
    expect(Math.min(...inside.map((x) => x.v?.heartRateBpm as number))).toBeGreaterThan(160);
    expect(Math.max(...inside.map((x) => x.v?.spo2Pct as number))).toBeLessThan(90);
    expect(Math.max(...outside.map((x) => x.v?.heartRateBpm as number))).toBeLessThan(150);
    expect(Math.min(...outside.map((x) => x.v?.spo2Pct as number))).toBeGreaterThan(93);
  });

  it('silence: the silent device emits nothing inside its window, and emits before and after it', () => {
    const times = of(sc.silence.deviceId).map((r) => r.atMs);
    expect(times.filter((t) => t >= sc.silence.fromMs && t < sc.silence.untilMs)).toEqual([]);
    expect(times.some((t) => t < sc.silence.fromMs)).toBe(true);
    expect(times.some((t) => t >= sc.silence.untilMs)).toBe(true);
    // Others keep talking meanwhile.
    expect(of('ugs-002').some((r) => r.atMs >= sc.silence.fromMs && r.atMs < sc.silence.untilMs)).toBe(true);
  });

  it('GPS dropout: no position inside the window while vehicle data continues, and a poor fix when it returns', () => {
    const inWin = (r: SimReading): boolean => r.atMs >= sc.gpsDropout.fromMs && r.atMs < sc.gpsDropout.untilMs;
    expect(of(sc.gpsDropout.deviceId, 'position').filter(inWin)).toEqual([]);
    expect(of(sc.gpsDropout.deviceId, 'vehicle').filter(inWin).length).toBeGreaterThan(60);
    const back = of(sc.gpsDropout.deviceId, 'position').find((r) => r.atMs >= sc.gpsDropout.untilMs);
    expect(back?.reading.kind === 'position' && (back.reading.accuracyM as number)).toBeGreaterThan(20);
  });

  it('geofence: the first patrol is outside the polygon at the start and every member enters it near the expected time', () => {
    const entries = sc.geofence.deviceIds.map((id) => {
      const pos = of(id, 'position').map((r) => ({ t: r.atMs, inside: r.reading.kind === 'position' && insidePolygon(r.reading, sc.geofence.polygon) }));
      expect(pos[0]?.inside).toBe(false);
      return pos.find((p) => p.inside)?.t;
    });
    for (const t of entries) {
      expect(t).toBeDefined();
      expect(t as number).toBeGreaterThan(START + (sc.geofence.expectedEnterMs - START) * 0.7);
      expect(t as number).toBeLessThan(START + (sc.geofence.expectedEnterMs - START) * 1.5 + 60_000);
    }
    // The second patrol never goes there.
    expect(of('sol-009', 'position').some((r) => r.reading.kind === 'position' && insidePolygon(r.reading, sc.geofence.polygon))).toBe(false);
    expect(sc.geofence.polygon[0]).toEqual(sc.geofence.polygon[sc.geofence.polygon.length - 1]);
  });

  it('can be switched off one by one, and are absent when the fleet lacks the archetype', () => {
    const quiet = createFleet({ seed: 3, vehicles: 2, soldiers: 2, ugs: 0, uavs: 1, scenarios: { overheat: false, silence: { enabled: false } } }, { startMs: START });
    expect(Object.keys(quiet.scenarios).sort()).toEqual(['geofence', 'gpsDropout', 'vitalsSpike']);
    const temps = quiet.readings(START + 5 * 60_000).filter((r) => r.reading.kind === 'vehicle');
    expect(Math.max(...temps.map((r) => (r.reading.kind === 'vehicle' ? (r.reading.engineTempC as number) : 0)))).toBeLessThan(100);
    const uavOnly = createFleet({ vehicles: 0, soldiers: 0, ugs: 0, uavs: 1 }, { startMs: START });
    expect(Object.keys(uavOnly.scenarios)).toEqual(['silence']);
    expect(uavOnly.scenarios.silence?.deviceId).toBe('uav-001');
  });
});
