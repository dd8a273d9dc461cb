import { validateReading, type Reading } from '../../src/codec';
import { isVigilError } from '../../src/errors';
import { createFleet, planFleet, Prng, resolveFleetConfig, type SimReading } from '../../src/sim';

const START = Date.UTC(2026, 5, 1, 6, 0, 0);
const CONFIG = { seed: 42, vehicles: 3, soldiers: 10, ugs: 3, uavs: 2 };

function byDevice(readings: readonly SimReading[]): Map<string, SimReading[]> {
  const m = new Map<string, SimReading[]>();
  for (const r of readings) {
    const list = m.get(r.deviceId) ?? [];
    list.push(r);
    m.set(r.deviceId, list);
  }
  return m;
}

describe('Prng', () => {
  it('repeats its sequence for a seed and differs between seeds and labels', () => {
    const draw = (p: Prng): number[] => Array.from({ length: 8 }, () => p.nextUint32());
    expect(draw(new Prng(5))).toEqual(draw(new Prng(5)));
    expect(draw(new Prng(5))).not.toEqual(draw(new Prng(6)));
    expect(draw(Prng.derive(5, 'a'))).not.toEqual(draw(Prng.derive(5, 'b')));
    const p = new Prng(9);
    const bad: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const x = p.next();
      const n = p.int(2, 4);
      if (!(x >= 0 && x < 1) || !(n >= 2 && n <= 4 && Number.isInteger(n))) bad.push(i);
    }
    expect(bad).toEqual([]);
  });
});

describe('fleet model', () => {
  it('gives the same readings for the same seed and start, and others for another seed', () => {
    const a = createFleet(CONFIG, { startMs: START }).readings(START + 120_000);
    const b = createFleet(CONFIG, { startMs: START }).readings(START + 120_000);
    expect(a.length).toBeGreaterThan(1000);
    expect(b).toEqual(a);
    const c = createFleet({ ...CONFIG, seed: 43 }, { startMs: START }).readings(START + 120_000);
    expect(c).not.toEqual(a);
  });

  it('does not depend on how often it is advanced', () => {
    const once = byDevice(createFleet(CONFIG, { startMs: START }).readings(START + 90_000));
    const fleet = createFleet(CONFIG, { startMs: START });
    const stepped: SimReading[] = [];
    for (let t = START; t <= START + 90_000; t += 137) stepped.push(...fleet.readings(t));
    stepped.push(...fleet.readings(START + 90_000));
    expect(byDevice(stepped)).toEqual(once);
    expect(fleet.timeMs).toBe(START + 90_000);
  });

  it('adding devices of one archetype leaves the others unchanged', () => {
    const small = byDevice(createFleet(CONFIG, { startMs: START }).readings(START + 60_000));
    const big = byDevice(createFleet({ ...CONFIG, ugs: 7 }, { startMs: START }).readings(START + 60_000));
    expect(big.get('veh-002')).toEqual(small.get('veh-002'));
    expect(big.get('uav-001')).toEqual(small.get('uav-001'));
  });

  it('emits only readings the codec accepts, for every archetype over 30 minutes with every scenario', () => {
    const fleet = createFleet({ ...CONFIG, rateHz: 2 }, { startMs: START });
    const readings = fleet.readings(START + 30 * 60_000);
    const kinds = new Set<string>();
    const last = new Map<string, number>();
    const problems: string[] = [];
    for (const r of readings) {
      try {
        validateReading({ ...r.reading, offsetMs: 0 } as Reading);
      } catch (err) {
        problems.push(`${r.deviceId} ${JSON.stringify(r.reading)}: ${(err as Error).message}`);
      }
      kinds.add(`${r.deviceId.slice(0, 3)}:${r.reading.kind}`);
      // Per device, time never goes backwards (the SDK batches on it).
      if (r.atMs < (last.get(r.deviceId) ?? START)) problems.push(`${r.deviceId} went back in time at ${r.atMs}`);
      last.set(r.deviceId, r.atMs);
    }
    expect(problems.slice(0, 5)).toEqual([]);
    expect(readings.length).toBeGreaterThan(100_000);
    expect([...kinds].sort()).toEqual([
      'sol:position', 'sol:power', 'sol:vitals', 'uav:metric', 'uav:position', 'uav:power', 'ugs:position', 'ugs:power', 'ugs:ugs',
      'veh:position', 'veh:power', 'veh:vehicle',
    ]);
  });

  it('keeps vehicle data consistent with motion, positions near the centre, and UGS positions rare', () => {
    const fleet = createFleet({ ...CONFIG, scenarios: { gpsDropout: false } }, { startMs: START });
    const readings = fleet.readings(START + 20 * 60_000);
    const at = new Map<string, SimReading[]>();
    for (const r of readings) at.set(`${r.deviceId}@${r.atMs}`, [...(at.get(`${r.deviceId}@${r.atMs}`) ?? []), r]);
    let checked = 0;
    let halted = 0;
    const problems: string[] = [];
    for (const group of at.values()) {
      const pos = group.find((r) => r.reading.kind === 'position')?.reading;
      const veh = group.find((r) => r.reading.kind === 'vehicle')?.reading;
      if (pos?.kind === 'position' && veh?.kind === 'vehicle') {
        checked++;
        if (veh.speedMps === 0) halted++;
        // Ground speed from the GPS and from the vehicle bus agree; rpm follows speed.
        if (pos.speedMps !== veh.speedMps) problems.push(`speed ${pos.speedMps} vs ${veh.speedMps}`);
        if (veh.speedMps === 0 ? (veh.rpm ?? 0) >= 900 : (veh.rpm ?? 0) <= 900) problems.push(`rpm ${veh.rpm} at ${veh.speedMps} m/s`);
      }
      // Everything stays within ~6 km of the centre.
      if (pos?.kind === 'position' && (Math.abs(pos.lat - fleet.config.centre.lat) > 0.06 || Math.abs(pos.lon - fleet.config.centre.lon) > 0.09)) {
        problems.push(`far position ${pos.lat},${pos.lon}`);
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(3 * 1000);
    expect(halted).toBeGreaterThan(0); // convoys halt now and then
    const ugsPositions = readings.filter((r) => r.deviceId === 'ugs-002' && r.reading.kind === 'position');
    expect(ugsPositions).toHaveLength(2); // at the start and after 10 minutes
    const detections = readings.filter((r) => r.reading.kind === 'ugs');
    expect(detections.length).toBeGreaterThan(10);
    expect(new Set(detections.map((r) => (r.reading.kind === 'ugs' ? r.reading.detection : '')))).toEqual(new Set(['person', 'vehicle', 'animal', 'unknown']));
  });

  it('names devices by archetype and validates its configuration once, naming the key', () => {
    expect(planFleet(resolveFleetConfig({ vehicles: 2, soldiers: 1, ugs: 0, uavs: 1 })).map((d) => [d.deviceId, d.topic])).toEqual([
      ['veh-001', 'vigil/v1/north/sim-1/veh-001/telemetry'],
      ['veh-002', 'vigil/v1/north/sim-1/veh-002/telemetry'],
      ['sol-001', 'vigil/v1/north/sim-1/sol-001/telemetry'],
      ['uav-001', 'vigil/v1/north/sim-1/uav-001/telemetry'],
    ]);
    expect(planFleet(resolveFleetConfig({ vehicles: 0, soldiers: 0, ugs: 1200, uavs: 0 }))[0]?.deviceId).toBe('ugs-0001');
    const fail = (input: object): string => {
      try {
        resolveFleetConfig(input);
      } catch (err) {
        expect(isVigilError(err) && err.code).toBe('VIGIL_E_CONFIG_INVALID');
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(fail({ vehicles: -1 })).toMatch(/vehicles: .*got -1/);
    expect(fail({ theatre: 'North!' })).toMatch(/theatre: expected 1-32 characters/);
    expect(fail({ scenarios: { overheat: { peakC: 500 } } })).toMatch(/scenarios\.overheat\.peakC/);
    expect(fail({ rateHz: 0 })).toMatch(/rateHz/);
    expect(fail({ colour: 'red' })).toMatch(/colour|top level/);
  });
});
