import { randomBytes } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { encodeReadings, FrameSealer, openRejectionRecord, RecordCodec, type Reading, type TelemetryRecord } from '../../../src/codec';
import {
  boxSharedKey, devicePublicKeys, generateDeviceKeys, generateIngestKeys, generateStreamKey, getCryptoBackend, StreamKeyring, type DeviceKeys, type StreamDataKey,
} from '../../../src/crypto';
import { Admission, rejectionRecord, type AdmissionResult, type Admitted, type Rejected } from '../../../src/edge/admission';
import { ERROR_CODES } from '../../../src/errors';
import { addDevice, emptyRegistry, MemoryRegistry, rotateDevice, revokeDevice, toDeviceEntry, type NewDevice } from '../../../src/registry';
import { MemoryReplayStore } from '../../../src/replay';
import { buildFrameBySpec } from '../../codec/spec-builder';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const backend = getCryptoBackend('auto');
const ingest = generateIngestKeys('ingest-1');
const streamKeys = new Map<string, StreamDataKey>();
const streamKey = (kind: string): StreamDataKey => {
  let k = streamKeys.get(kind);
  if (!k) streamKeys.set(kind, (k = generateStreamKey(`telemetry.${kind}-1`)));
  return k;
};
const pos = (i = 0): Reading => ({ kind: 'position', offsetMs: i, lat: 51.5, lon: -0.12, altM: 30, speedMps: 2, headingDeg: 90, accuracyM: 5 });
const power = (i = 0): Reading => ({ kind: 'power', offsetMs: i, batteryPct: 80, voltageV: 24 });

interface Fixture {
  admission: Admission;
  registry: MemoryRegistry;
  replay: MemoryReplayStore;
  keys: DeviceKeys;
  frame: (over?: Partial<{ seq: bigint; eventTimeMs: number; readings: Reading[]; epoch: number; sign: boolean; keys: DeviceKeys; ingestPublicKey: Uint8Array }>) => Uint8Array;
  now: { t: number };
}

function setup(fields: Partial<NewDevice> = {}): Fixture {
  const keys = generateDeviceKeys('uav-1', 1);
  const doc = addDevice(emptyRegistry(), devicePublicKeys(keys), { theatre: 'north', unit: 'recon-3', ceiling: 'SECRET', releasability: ['GBR', 'USA'], priority: 'immediate', ...fields });
  const registry = new MemoryRegistry(doc.devices.map(toDeviceEntry));
  const replay = new MemoryReplayStore();
  const now = { t: NOW };
  const admission = new Admission({ gatewayId: 'gw-1', registry, replay, ingestKeys: ingest, streamKey, clock: () => now.t, backend });
  const sealer = new FrameSealer({ backend });
  let seq = 100n;
  const frame: Fixture['frame'] = (o = {}) => {
    const k = o.keys ?? keys;
    const shared = boxSharedKey(o.ingestPublicKey ?? ingest.box.publicKey, k.box.secretKey, backend);
    return Uint8Array.from(
      sealer.seal(
        { deviceId: k.deviceId, epoch: o.epoch ?? k.epoch, seq: o.seq ?? seq++, eventTimeMs: o.eventTimeMs ?? NOW, readings: o.readings ?? [pos()] },
        shared,
        o.sign ? { signer: backend.createSigner(k.sign.seed) } : {},
      ),
    );
  };
  return { admission, registry, replay, keys, frame, now };
}

function rejected(r: AdmissionResult): Rejected {
  if (r.ok) throw new Error('expected a rejection, got an admission');
  return r;
}
function admitted(r: AdmissionResult): Admitted {
  if (!r.ok) throw new Error(`expected an admission, got ${r.code}: ${r.message}`);
  return r;
}

describe('Admission', () => {
  it('bounds event time ahead of the gateway by maxClockSkewMs and behind it by maxFrameAgeMs (frames held through an outage arrive old)', () => {
    const f = setup();
    const registry = f.registry;
    const old = new Admission({ gatewayId: 'gw-1', registry, replay: new MemoryReplayStore(), ingestKeys: ingest, streamKey, clock: () => NOW, backend, maxFrameAgeMs: 86_400_000 });
    expect(old.admit(f.frame({ eventTimeMs: NOW - 3_600_000 })).ok).toBe(true); // an hour in a device's or broker's queue
    expect(rejected(old.admit(f.frame({ eventTimeMs: NOW - 86_401_000 }))).message).toContain('behind gateway time; at most 86400 s');
    expect(rejected(old.admit(f.frame({ eventTimeMs: NOW + 301_000 }))).message).toContain('ahead of gateway time; at most 300 s');
    expect(() => new Admission({ gatewayId: 'gw-1', registry, replay: new MemoryReplayStore(), ingestKeys: ingest, streamKey, backend, maxFrameAgeMs: -1 })).toThrow(/maxFrameAgeMs/);
    old.close();
  });

  it('admits a frame as sealed records, one per reading kind, that open to the sent readings with the device label', () => {
    const f = setup();
    const readings = [pos(0), power(5), pos(10)];
    const r = admitted(f.admission.admit(f.frame({ readings })));
    expect(r).toMatchObject({ deviceId: 'uav-1', priority: 'immediate', readings: 3 });
    expect(r.records.map((x) => x.topic)).toEqual(['telemetry.position', 'telemetry.power']);
    const codec = new RecordCodec({ backend });
    const opened = r.records.map((x) => codec.open(x.value, streamKey(x.topic.split('.')[1] as string)) as TelemetryRecord);
    expect(opened[0]).toMatchObject({ type: 'telemetry', deviceId: 'uav-1', seq: r.seq, ingestTimeMs: NOW, gatewayId: 'gw-1', kind: 'position', label: { level: 'SECRET', releasability: ['GBR', 'USA'] } });
    expect(opened[0]?.readings).toEqual([pos(0), pos(10)]);
    expect(opened[1]?.readings).toEqual([power(5)]);
    expect(r.records.every((x) => x.key === 'uav-1' && x.keyId === streamKey(x.topic.split('.')[1] as string).keyId)).toBe(true);
  });

  // Every rejection reason of docs/architecture.md §3, end to end through the chain.
  const cases: Array<[string, string, (f: Fixture) => Uint8Array]> = [
    ['unknown device', 'VIGIL_E_DEVICE_UNKNOWN', (f) => f.frame({ keys: generateDeviceKeys('ghost-9', 1) })],
    ['revoked device', 'VIGIL_E_DEVICE_REVOKED', (f) => {
      f.registry.upsert(toDeviceEntry(revokeDevice(addDevice(emptyRegistry(), devicePublicKeys(f.keys), { theatre: 'north', unit: 'recon-3' }), 'uav-1').devices[0]!));
      return f.frame();
    }],
    ['stale key epoch', 'VIGIL_E_KEY_EPOCH_STALE', (f) => {
      const doc = addDevice(emptyRegistry(), devicePublicKeys(f.keys), { theatre: 'north', unit: 'recon-3' });
      f.registry.upsert(toDeviceEntry(rotateDevice(doc, devicePublicKeys(generateDeviceKeys('uav-1', 2))).devices[0]!));
      return f.frame(); // still sealed at epoch 1
    }],
    ['tampered header byte', 'VIGIL_E_FRAME_AUTH', (f) => {
      const b = f.frame();
      // A nonce byte of the clear header: layout stays valid, the derived box nonce changes.
      const nonceAt = Buffer.from(b).indexOf(Buffer.from([0xc4, 24])) + 2;
      b[nonceAt] = (b[nonceAt] as number) ^ 0x01;
      return b;
    }],
    ['tampered ciphertext byte', 'VIGIL_E_FRAME_AUTH', (f) => {
      const b = f.frame();
      b[b.length - 1] = (b[b.length - 1] as number) ^ 0x80;
      return b;
    }],
    ['wrong key', 'VIGIL_E_FRAME_AUTH', (f) => f.frame({ ingestPublicKey: generateIngestKeys('other').box.publicKey })],
    ['replayed sequence', 'VIGIL_E_REPLAY', (f) => {
      const b = f.frame({ seq: 5000n });
      f.admission.commit(admitted(f.admission.admit(b)));
      return b;
    }],
    ['sequence older than the window', 'VIGIL_E_SEQ_TOO_OLD', (f) => {
      f.admission.commit(admitted(f.admission.admit(f.frame({ seq: 1_000_000n }))));
      return f.frame({ seq: 10n });
    }],
    ['event time beyond the skew bound', 'VIGIL_E_CLOCK_SKEW', (f) => f.frame({ eventTimeMs: NOW + 301_000 })],
    ['oversize frame', 'VIGIL_E_FRAME_TOO_LARGE', () => randomBytes(40 * 1024)],
    ['malformed msgpack', 'VIGIL_E_FRAME_MALFORMED', () => Uint8Array.from([0x97, 0x01, 0xc1, 0xff])],
    ['unsupported version', 'VIGIL_E_FRAME_VERSION', (f) => {
      const b = f.frame();
      b[1] = 9;
      return b;
    }],
    ['reading of the wrong type or range', 'VIGIL_E_READING_INVALID', (f) => {
      const wire = encodeReadings([pos()]) as unknown as unknown[][];
      const row = wire[0] as unknown[];
      row[row.indexOf(51.5)] = 200; // latitude out of range
      return buildFrameBySpec({
        deviceId: 'uav-1', epoch: 1, seq: 77n, eventTimeMs: NOW, nonce: randomBytes(24),
        boxKeys: { ingestPublicKey: ingest.box.publicKey, deviceSecretKey: f.keys.box.secretKey }, body: encode(wire),
      });
    }],
    ['bad signature', 'VIGIL_E_FRAME_SIGNATURE', (f) => {
      const other = generateDeviceKeys('uav-1', 1);
      // Sealed with the right box key but signed with another device's signing key.
      return f.frame({ sign: true, keys: { ...f.keys, sign: other.sign } });
    }],
    ['kind not allowed for the device', 'VIGIL_E_KIND_NOT_ALLOWED', (f) => {
      const doc = addDevice(emptyRegistry(), devicePublicKeys(f.keys), { theatre: 'north', unit: 'recon-3', kinds: ['power'] });
      f.registry.upsert(toDeviceEntry(doc.devices[0]!));
      return f.frame();
    }],
    ['rate exceeded', 'VIGIL_E_RATE_LIMITED', (f) => {
      const doc = addDevice(emptyRegistry(), devicePublicKeys(f.keys), { theatre: 'north', unit: 'recon-3', rate: { perSecond: 1, burst: 2 } });
      f.registry.upsert(toDeviceEntry(doc.devices[0]!));
      admitted(f.admission.admit(f.frame()));
      admitted(f.admission.admit(f.frame()));
      return f.frame();
    }],
  ];

  const FINAL = new Set(['stale key epoch', 'sequence older than the window', 'reading of the wrong type or range', 'kind not allowed for the device']);
  it.each(cases)('rejects: %s (%s)', (_name, code, make) => {
    const f = setup();
    const bytes = make(f);
    const r = rejected(f.admission.admit(bytes));
    expect(r.code).toBe(code);
    expect(r.code in ERROR_CODES).toBe(true);
    expect(r.message.length).toBeGreaterThan(10);
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.bytes).toBe(bytes.length);
    // Final (the device may stop resending) only for what authenticated and would be refused again.
    expect(r.final).toBe(FINAL.has(_name));
  });

  it('refuses too-old frames for good only once they authenticate, and authenticates at most a device rate of them', () => {
    const f = setup({ rate: { perSecond: 2, burst: 3 } });
    f.admission.commit(admitted(f.admission.admit(f.frame({ seq: 1_000_000n }))));
    // Forged (wrong box key) frames below the window are refused, never for good.
    const forged = rejected(f.admission.admit(f.frame({ seq: 10n, ingestPublicKey: generateIngestKeys('other').box.publicKey })));
    expect(forged).toMatchObject({ code: 'VIGIL_E_FRAME_AUTH', final: false });
    // Authentic ones are, until the per-device budget is spent (one was spent by the forgery).
    expect(rejected(f.admission.admit(f.frame({ seq: 11n })))).toMatchObject({ code: 'VIGIL_E_SEQ_TOO_OLD', final: true });
    expect(rejected(f.admission.admit(f.frame({ seq: 12n })))).toMatchObject({ code: 'VIGIL_E_SEQ_TOO_OLD', final: true });
    expect(rejected(f.admission.admit(f.frame({ seq: 13n })))).toMatchObject({ code: 'VIGIL_E_SEQ_TOO_OLD', final: false });
    f.now.t += 1000; // two more
    expect(rejected(f.admission.admit(f.frame({ seq: 13n, eventTimeMs: NOW + 1000 })))).toMatchObject({ code: 'VIGIL_E_SEQ_TOO_OLD', final: true });
    // Frames older than maxFrameAgeMs (held through a long outage) are final once authentic;
    // frames ahead of the gateway's clock may pass later, so are not.
    expect(rejected(f.admission.admit(f.frame({ seq: 1_000_001n, eventTimeMs: NOW - 400_000 })))).toMatchObject({ code: 'VIGIL_E_CLOCK_SKEW', final: true });
    expect(rejected(f.admission.admit(f.frame({ seq: 1_000_002n, eventTimeMs: NOW + 400_000 })))).toMatchObject({ code: 'VIGIL_E_CLOCK_SKEW', final: false });
    // A stale frame with a bad signature is not final either.
    const other = generateDeviceKeys('uav-1', 1);
    f.now.t += 10_000;
    expect(rejected(f.admission.admit(f.frame({ seq: 14n, sign: true, keys: { ...f.keys, sign: other.sign } })))).toMatchObject({ code: 'VIGIL_E_FRAME_SIGNATURE', final: false });
  });

  it('refuses for good an authentic frame of an epoch since rotated, but not one of an epoch the registry does not know yet', () => {
    const f = setup();
    const k2 = generateDeviceKeys('uav-1', 2);
    const doc = addDevice(emptyRegistry(), devicePublicKeys(f.keys), { theatre: 'north', unit: 'recon-3' });
    const signedOld = f.frame({ sign: true });
    const ahead = f.frame({ keys: k2 });
    expect(rejected(f.admission.admit(ahead))).toMatchObject({ code: 'VIGIL_E_KEY_EPOCH_STALE', final: false });
    f.registry.upsert(toDeviceEntry(rotateDevice(doc, devicePublicKeys(k2)).devices[0]!));
    expect(rejected(f.admission.admit(signedOld))).toMatchObject({ code: 'VIGIL_E_KEY_EPOCH_STALE', final: true });
    expect(rejected(f.admission.admit(f.frame({ ingestPublicKey: generateIngestKeys('other').box.publicKey })))).toMatchObject({ code: 'VIGIL_E_FRAME_AUTH', final: false });
    const k3 = generateDeviceKeys('uav-1', 3);
    expect(rejected(f.admission.admit(f.frame({ keys: k3 })))).toMatchObject({ code: 'VIGIL_E_KEY_EPOCH_STALE', final: false });
  });

  it('refuses a frame on another device\'s or unit\'s topic', () => {
    const f = setup();
    admitted(f.admission.admit(f.frame(), 'vigil/v1/north/recon-3/uav-1/telemetry'));
    expect(rejected(f.admission.admit(f.frame(), 'vigil/v1/north/recon-3/uav-2/telemetry')).code).toBe('VIGIL_E_TOPIC_MISMATCH');
    expect(rejected(f.admission.admit(f.frame(), 'vigil/v1/south/recon-3/uav-1/telemetry')).code).toBe('VIGIL_E_TOPIC_MISMATCH');
  });

  it('requires a signature when the device class does', () => {
    const f = setup({ requireSignature: true });
    expect(rejected(f.admission.admit(f.frame())).code).toBe('VIGIL_E_FRAME_SIGNATURE');
    admitted(f.admission.admit(f.frame({ sign: true })));
  });

  it('applies rotation to live traffic: the old epoch is refused and the new one opens at once', () => {
    const f = setup();
    admitted(f.admission.admit(f.frame()));
    const k2 = generateDeviceKeys('uav-1', 2);
    const doc = addDevice(emptyRegistry(), devicePublicKeys(f.keys), { theatre: 'north', unit: 'recon-3' });
    f.registry.upsert(toDeviceEntry(rotateDevice(doc, devicePublicKeys(k2)).devices[0]!));
    expect(rejected(f.admission.admit(f.frame())).code).toBe('VIGIL_E_KEY_EPOCH_STALE');
    admitted(f.admission.admit(f.frame({ keys: k2 })));
  });

  it("refills the rate budget with the frames' event time, not with the gateway's clock", () => {
    const f = setup({ rate: { perSecond: 2, burst: 1 } });
    admitted(f.admission.admit(f.frame({ eventTimeMs: NOW })));
    expect(rejected(f.admission.admit(f.frame({ eventTimeMs: NOW }))).code).toBe('VIGIL_E_RATE_LIMITED');
    f.now.t += 5_000; // gateway time alone earns nothing
    expect(rejected(f.admission.admit(f.frame({ eventTimeMs: NOW }))).code).toBe('VIGIL_E_RATE_LIMITED');
    admitted(f.admission.admit(f.frame({ eventTimeMs: NOW + 500 }))); // one token back
  });

  it('admits a backlog sent at the allowed pace even when it arrives all at once (after a gateway restart)', () => {
    const f = setup({ rate: { perSecond: 10, burst: 5 } });
    // 60 s of frames at 10/s, queued by the broker while no gateway ran, delivered in one go.
    f.now.t += 60_000;
    for (let i = 0; i < 600; i++) admitted(f.admission.admit(f.frame({ eventTimeMs: NOW + i * 100 })));
    // Faster than that in the device's own time is still refused once the burst is spent.
    const at = NOW + 60_000;
    for (let i = 0; i < 5; i++) admitted(f.admission.admit(f.frame({ eventTimeMs: at })));
    expect(rejected(f.admission.admit(f.frame({ eventTimeMs: at }))).code).toBe('VIGIL_E_RATE_LIMITED');
    // An older frame arriving late earns no tokens, and does not let the next one earn the gap twice.
    expect(rejected(f.admission.admit(f.frame({ eventTimeMs: at - 10_000 }))).code).toBe('VIGIL_E_RATE_LIMITED');
    admitted(f.admission.admit(f.frame({ eventTimeMs: at + 100 })));
    expect(rejected(f.admission.admit(f.frame({ eventTimeMs: at + 100 }))).code).toBe('VIGIL_E_RATE_LIMITED');
  });

  it('checks replays only when committed, so a frame that was never made durable can be resent', () => {
    const f = setup();
    const b = f.frame({ seq: 9n });
    admitted(f.admission.admit(b));
    admitted(f.admission.admit(b)); // not committed: the resend is admitted
    expect(f.admission.commit({ deviceId: 'uav-1', seq: 9n })).toBe(true);
    expect(rejected(f.admission.admit(b)).code).toBe('VIGIL_E_REPLAY');
  });

  it('records a rejection for telemetry.rejected without any plaintext', () => {
    const f = setup();
    const b = f.frame({ eventTimeMs: NOW - 3_600_000 });
    const r = rejected(f.admission.admit(b));
    const key = streamKey('rejected');
    const rec = rejectionRecord(r, 'gw-1', NOW, key);
    expect(rec.topic).toBe('telemetry.rejected');
    expect(rec.key).toBe('uav-1');
    // Readable by any Kafka tool, and authenticated: a reader with the key accepts it as it is, not changed.
    expect(openRejectionRecord(rec.value, rec.headers, new StreamKeyring([key]))).toMatchObject({ reason: 'VIGIL_E_CLOCK_SKEW', gatewayId: 'gw-1' });
    const changed = Buffer.from(Buffer.from(rec.value).toString().replace('VIGIL_E_CLOCK_SKEW', 'VIGIL_E_FRAME_AUTH'));
    expect(() => openRejectionRecord(changed, rec.headers, new StreamKeyring([key]))).toThrow(expect.objectContaining({ code: 'VIGIL_E_RECORD_AUTH' }));
    const body = JSON.parse(Buffer.from(rec.value).toString('utf8'));
    expect(body).toEqual({ reason: 'VIGIL_E_CLOCK_SKEW', message: expect.stringContaining('3600 s behind'), header: { deviceId: 'uav-1', epoch: 1, seq: expect.any(String), eventTimeMs: NOW - 3_600_000 }, sha256: r.sha256, bytes: b.length, gatewayId: 'gw-1', atMs: NOW });
    expect(Buffer.from(rec.value).toString()).not.toContain('51.5');
    const garbage = rejectionRecord(rejected(f.admission.admit(Uint8Array.from([1, 2, 3]))), 'gw-1', NOW, key);
    expect(garbage.key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('never throws, whatever the bytes', () => {
    const f = setup();
    const good = f.frame();
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
        const b = Uint8Array.from(good);
        b[i] = (b[i] as number) ^ x;
        return b;
      })), (bytes) => {
        const r = f.admission.admit(bytes);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.code).not.toBe('VIGIL_E_INTERNAL');
      }),
      { numRuns: 2000 },
    );
  });
});
