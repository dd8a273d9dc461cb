import { FrameOpener, type Reading } from '../../src/codec';
import { boxSharedKey, getCryptoBackend } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { createFleet, ephemeralFleetKeys, FrameSource } from '../../src/sim';

const START = Date.UTC(2026, 5, 1, 6, 0, 0);
const CONFIG = { seed: 11, vehicles: 2, soldiers: 3, ugs: 2, uavs: 1 };

describe('FrameSource (headless)', () => {
  it('yields frames that open with the ingest key, numbered upwards per device, carrying exactly the fleet readings', () => {
    const fleet = createFleet(CONFIG, { startMs: START });
    const { keys, ingest } = ephemeralFleetKeys(fleet);
    const source = new FrameSource(fleet, { keys, ingestPublicKey: ingest.box.publicKey, maxReadingsPerFrame: 4, batchMs: 5_000 });
    const opener = new FrameOpener();
    const backend = getCryptoBackend();
    const lastSeq = new Map<string, bigint>();
    const got = new Map<string, Array<{ atMs: number; reading: Reading }>>();
    let frames = 0;
    let signed = 0;
    for (const f of source.frames(START + 120_000)) {
      frames++;
      const k = keys.get(f.deviceId);
      if (k === undefined) throw new Error(`unknown device ${f.deviceId}`);
      const opened = opener.decodeAndOpen(f.payload, boxSharedKey(k.box.publicKey, ingest.box.secretKey), { verifier: backend.createVerifier(k.sign.publicKey) });
      expect(opened).toMatchObject({ deviceId: f.deviceId, seq: f.seq, eventTimeMs: f.eventTimeMs });
      expect(f.topic).toBe(`vigil/v1/north/sim-1/${f.deviceId}/telemetry`);
      expect(opened.readings.length).toBe(f.readings);
      expect(f.readings).toBeLessThanOrEqual(4);
      if (opened.signed) signed++;
      expect(opened.signed).toBe(f.deviceId.startsWith('ugs-'));
      const prev = lastSeq.get(f.deviceId);
      if (prev !== undefined) expect(f.seq).toBeGreaterThan(prev);
      lastSeq.set(f.deviceId, f.seq);
      const list = got.get(f.deviceId) ?? [];
      for (const r of opened.readings) list.push({ atMs: opened.eventTimeMs + r.offsetMs, reading: r });
      got.set(f.deviceId, list);
    }
    expect(frames).toBeGreaterThan(300);
    expect(signed).toBeGreaterThan(0);
    expect([...lastSeq.keys()].sort()).toEqual(fleet.devices.map((d) => d.deviceId).sort());

    // The same seed without sealing gives the same readings, in the same order per device.
    const plain = createFleet(CONFIG, { startMs: START }).readings(START + 120_000);
    for (const d of fleet.devices) {
      const expected = plain.filter((r) => r.deviceId === d.deviceId).map((r) => ({ atMs: r.atMs, reading: r.reading }));
      const actual = (got.get(d.deviceId) ?? []).map(({ atMs, reading: { offsetMs: _o, ...rest } }) => ({ atMs, reading: rest }));
      expect(actual).toEqual(expected);
    }
  });

  it('is lazy and resumable: two calls continue where the first stopped', () => {
    const fleet = createFleet(CONFIG, { startMs: START });
    const { keys, ingest } = ephemeralFleetKeys(fleet);
    const source = new FrameSource(fleet, { keys, ingestPublicKey: Buffer.from(ingest.box.publicKey).toString('base64') });
    const it = source.frames(START + 3_600_000);
    const first = it.next();
    if (first.done === true) throw new Error('no frame');
    expect(fleet.timeMs).toBe(START + 1_000); // only the first batch was generated
    it.return(undefined);
    const later = [...source.frames(START + 10_000)];
    expect(fleet.timeMs).toBe(START + 10_000);
    // Nothing of the abandoned batch is lost or repeated.
    const total = first.value.readings + later.reduce((n, f) => n + f.readings, 0);
    expect(total).toBe(createFleet(CONFIG, { startMs: START }).readings(START + 10_000).length);
    expect(later.filter((f) => f.deviceId === first.value.deviceId).every((f) => f.seq > first.value.seq)).toBe(true);
  });

  it('refuses missing keys and bad options', () => {
    const fleet = createFleet(CONFIG, { startMs: START });
    const { keys, ingest } = ephemeralFleetKeys(fleet);
    keys.delete('uav-001');
    const err = (() => {
      try {
        new FrameSource(fleet, { keys, ingestPublicKey: ingest.box.publicKey });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isVigilError(err) && err.code).toBe('VIGIL_E_CONFIG_INVALID');
    expect((err as Error).message).toMatch(/uav-001/);
    expect(() => new FrameSource(fleet, { keys: ephemeralFleetKeys(fleet).keys, ingestPublicKey: ingest.box.publicKey, maxReadingsPerFrame: 300 })).toThrow(/maxReadingsPerFrame/);
  });
});
