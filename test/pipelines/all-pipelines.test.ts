import { ALL_PIPELINES, PIPELINES_BY_NAME, geofenceZones, sensorHealth, ugs, unitPicture, vehicleAnomaly, vitals } from '../../pipelines';
import { definePipeline, generateStreamKey, MemoryBus, SOURCE_KINDS, startPipeline, StreamKeyring, withinCeiling, makeLabel } from '../../src';

describe('ALL_PIPELINES', () => {
  it('lists every pipeline once, under unique names, each also exported by name', () => {
    const names = ALL_PIPELINES.map((p) => p.name);
    expect(names).toEqual(['vitals', 'geofence', 'sensor-health', 'vehicle-anomaly', 'unit-picture', 'ugs']);
    expect(new Set(names).size).toBe(names.length);
    expect([...PIPELINES_BY_NAME.keys()]).toEqual(names);
    expect(ALL_PIPELINES).toEqual([vitals, geofenceZones, sensorHealth, vehicleAnomaly, unitPicture, ugs]);
  });

  it('gives each pipeline valid telemetry sources and a SECRET ceiling, and passes definePipeline again unchanged', () => {
    for (const p of ALL_PIPELINES) {
      expect(p.sources.length).toBeGreaterThan(0);
      for (const s of p.sources) expect(SOURCE_KINDS.map((k) => `telemetry.${k}`)).toContain(s);
      expect(p.ceiling).toEqual(makeLabel('SECRET'));
      expect(withinCeiling(makeLabel('TOP_SECRET'), p.ceiling ?? makeLabel('TOP_SECRET'))).toBe(false);
      expect(definePipeline(p)).toMatchObject({ name: p.name, sources: p.sources, kinds: p.kinds });
    }
  });

  it('starts every pipeline on a bus holding its sources, creating its derived and changelog topics', async () => {
    const bus = new MemoryBus();
    try {
      await bus.admin().ensureTopics(SOURCE_KINDS.map((k) => ({ topic: `telemetry.${k}`, partitions: 2 })));
      for (const p of ALL_PIPELINES) {
        const worker = await startPipeline(p, { bus, keyring: new StreamKeyring([generateStreamKey('telemetry.k1')]), derivedKey: generateStreamKey(`derived.${p.name}.k1`), checkpointIntervalMs: 0 });
        try {
          // A pipeline with a second stage also reads and writes its repartition topic.
          const repartition = p.repartition === undefined ? {} : { repartition: `vigil.repartition.${p.name}` };
          expect(worker.topics()).toEqual({ sources: [...p.sources], derived: `derived.${p.name}`, changelog: `vigil.changelog.${p.name}`, ...repartition });
          expect(worker.stats().state).toBe('running');
        } finally {
          await worker.stop();
        }
      }
      for (const p of ALL_PIPELINES) expect(bus.broker.topic(`derived.${p.name}`)).toBeDefined();
    } finally {
      await bus.close();
    }
  });
});
