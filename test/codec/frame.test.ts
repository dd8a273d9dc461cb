import { Encoder } from '@msgpack/msgpack';
import { FrameOpener, FrameSealer, MAX_FRAME_BYTES, type FrameInput, type Reading } from '../../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend, type CryptoBackend } from '../../src/crypto';
import { isVigilError, type VigilErrorCode } from '../../src/errors';
import { SAMPLE_READINGS } from './arbitraries';
import { buildFrameBySpec } from './spec-builder';

const backends: CryptoBackend[] = [getCryptoBackend('tweetnacl'), getCryptoBackend('sodium')];
const device = generateDeviceKeys('uav-0042', 2);
const ingest = generateIngestKeys('ingest-1');
const key = boxSharedKey(ingest.box.publicKey, device.box.secretKey);
const gatewayKey = boxSharedKey(device.box.publicKey, ingest.box.secretKey);
const sodium = getCryptoBackend('sodium');
const signer = sodium.createSigner(device.sign.seed);
const verifier = sodium.createVerifier(device.sign.publicKey);

const INPUT: FrameInput = { deviceId: 'uav-0042', epoch: 2, seq: 1234n, eventTimeMs: Date.UTC(2026, 5, 1), readings: SAMPLE_READINGS };

function codeOf(fn: () => unknown): VigilErrorCode | 'accepted' {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

const sealer = new FrameSealer();
const opener = new FrameOpener();
const openCode = (bytes: Uint8Array, k = gatewayKey, opts = {}): VigilErrorCode | 'accepted' => codeOf(() => opener.decodeAndOpen(bytes, k, opts));

describe('frames', () => {
  describe.each(backends.flatMap((a) => backends.map((b) => [a.name, b.name, a, b] as const)))('sealed with %s, opened with %s', (_a, _b, a, b) => {
    const s = new FrameSealer({ backend: a });
    const o = new FrameOpener({ backend: b });

    it('round-trips every reading kind, unsigned and signed', () => {
      const plain = o.decodeAndOpen(s.seal(INPUT, key), gatewayKey);
      expect(plain).toEqual({ version: 1, deviceId: 'uav-0042', epoch: 2, seq: 1234n, eventTimeMs: INPUT.eventTimeMs, readings: SAMPLE_READINGS, signed: false });
      const signed = o.decodeAndOpen(s.seal(INPUT, key, { signer: a.createSigner(device.sign.seed) }), gatewayKey, { verifier: b.createVerifier(device.sign.publicKey), requireSignature: true });
      expect(signed.readings).toEqual(SAMPLE_READINGS);
      expect(signed.signed).toBe(true);
    });

    it('produces identical bytes for identical inputs and nonce', () => {
      const nonce = new Uint8Array(24).fill(9);
      const other = new FrameSealer({ backend: b });
      expect(s.seal(INPUT, key, { nonce, signer: a.createSigner(device.sign.seed) })).toEqual(other.seal(INPUT, key, { nonce, signer: b.createSigner(device.sign.seed) }));
    });
  });

  it('keeps sequence numbers u64-exact, up to 2^64-1', () => {
    for (const seq of [0n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
      expect(opener.decodeAndOpen(sealer.seal({ ...INPUT, seq }, key), gatewayKey).seq).toBe(seq);
    }
    expect(codeOf(() => sealer.seal({ ...INPUT, seq: 2n ** 64n }, key))).toBe('VIGIL_E_FRAME_MALFORMED');
    expect(codeOf(() => sealer.seal({ ...INPUT, seq: -1n }, key))).toBe('VIGIL_E_FRAME_MALFORMED');
    expect(codeOf(() => sealer.seal({ ...INPUT, seq: 5 as unknown as bigint }, key))).toBe('VIGIL_E_FRAME_MALFORMED');
  });

  it('decode exposes the clear header without crypto', () => {
    const bytes = sealer.seal(INPUT, key, { signer });
    const f = opener.decode(bytes);
    expect([f.version, f.deviceId, f.epoch, f.seq, f.eventTimeMs]).toEqual([1, 'uav-0042', 2, 1234n, INPUT.eventTimeMs]);
    expect(f.signature).toHaveLength(64);
    expect(f.bytes[0]).toBe(0x98);
    expect(f.headerLength).toBe(1 + 1 + 9 + 1 + 10 + 9 + 26);
    expect(f.signedLength).toBe(bytes.length - 66);
  });

  describe('rejections, each with its own code', () => {
    const frame = sealer.seal(INPUT, key);
    const signedFrame = sealer.seal(INPUT, key, { signer });
    const headerLength = opener.decode(frame).headerLength;

    it('any changed header byte makes the frame fail (every byte, several flips each)', () => {
      const seen = new Set<string>();
      for (const f of [frame, signedFrame]) {
        const hl = opener.decode(f).headerLength;
        for (let i = 0; i < hl; i++) {
          for (const mask of [0x01, 0x80, 0xff]) {
            const t = Uint8Array.from(f);
            t[i] = (t[i] as number) ^ mask;
            const code = openCode(t, gatewayKey, { verifier });
            expect({ i, mask, code }).not.toEqual({ i, mask, code: 'accepted' });
            seen.add(code);
          }
        }
      }
      // Header fields that parse but changed: authentication fails (the nonce derivation binds them).
      expect(seen).toContain('VIGIL_E_FRAME_AUTH');
      expect(seen).toContain('VIGIL_E_FRAME_VERSION');
      expect(seen).toContain('VIGIL_E_FRAME_MALFORMED');
    });

    it('a changed byte in the device id, epoch, seq, event time or nonce fails authentication', () => {
      // Offsets of one byte inside each field of this header (see docs/wire-format.md §2).
      for (const i of [3, 10, 11, 14, 21, 29, 30, 33, headerLength - 1]) {
        const t = Uint8Array.from(frame);
        t[i] = (t[i] as number) ^ 0x02;
        expect({ i, code: openCode(t) }).toEqual({ i, code: 'VIGIL_E_FRAME_AUTH' });
      }
    });

    it('tampered ciphertext byte: VIGIL_E_FRAME_AUTH', () => {
      for (let i = headerLength + 2; i < frame.length; i += 7) {
        const t = Uint8Array.from(frame);
        t[i] = (t[i] as number) ^ 0x10;
        expect(openCode(t)).toBe('VIGIL_E_FRAME_AUTH');
      }
    });

    it('wrong key: VIGIL_E_FRAME_AUTH', () => {
      const other = boxSharedKey(generateIngestKeys('i2').box.publicKey, device.box.secretKey);
      expect(openCode(frame, other)).toBe('VIGIL_E_FRAME_AUTH');
    });

    it('oversize frame: VIGIL_E_FRAME_TOO_LARGE on decode and on seal', () => {
      const big = new Uint8Array(MAX_FRAME_BYTES + 1);
      big.set(frame);
      expect(openCode(big)).toBe('VIGIL_E_FRAME_TOO_LARGE');
      // 256 readings of the largest kind (metric, 64-char name, 16 four-byte characters of unit) exceed 32 KiB.
      const many: Reading[] = Array.from({ length: 256 }, (_, i) => ({ kind: 'metric', offsetMs: i, name: 'x'.repeat(64), value: Math.PI * i, unit: '\u{1F4E1}'.repeat(16) }));
      expect(codeOf(() => sealer.seal({ ...INPUT, readings: many }, key))).toBe('VIGIL_E_FRAME_TOO_LARGE');
      expect(codeOf(() => new FrameSealer({ maxFrameBytes: 1024 }).seal({ ...INPUT, readings: Array.from({ length: 40 }, () => SAMPLE_READINGS[0] as Reading) }, key))).toBe(
        'VIGIL_E_FRAME_TOO_LARGE',
      );
      const small = new FrameOpener({ maxFrameBytes: 100 });
      expect(codeOf(() => small.decode(frame))).toBe('VIGIL_E_FRAME_TOO_LARGE');
    });

    it('malformed msgpack and layout: VIGIL_E_FRAME_MALFORMED', () => {
      const enc = new Encoder();
      const cases: Uint8Array[] = [
        new Uint8Array(0),
        Uint8Array.from([0xc1]),
        frame.subarray(0, frame.length - 1),
        frame.subarray(0, 10),
        Uint8Array.from([...frame, 0x00]), // trailing byte
        enc.encode({ version: 1 }),
        enc.encode([1, 'uav-0042']),
        enc.encode([1, 'uav-0042', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24)]), // 6 elements
        enc.encode([1, 'uav 0042', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40)]), // bad id char
        enc.encode([1, '', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40)]),
        enc.encode([1, 'd', -2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40)]),
        enc.encode([1, 'd', 2 ** 32, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40)]),
        enc.encode([1, 'd', 2, 1234, INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40)]), // seq not bin8
        enc.encode([1, 'd', 2, new Uint8Array(7), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40)]),
        enc.encode([1, 'd', 2, new Uint8Array(8), 1.5, new Uint8Array(24), new Uint8Array(40)]),
        enc.encode([1, 'd', 2, new Uint8Array(8), 5, new Uint8Array(24), new Uint8Array(40)]), // 1970
        enc.encode([1, 'd', 2, new Uint8Array(8), Date.UTC(2100, 0, 1), new Uint8Array(24), new Uint8Array(40)]),
        enc.encode([1, 'd', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(12), new Uint8Array(40)]),
        enc.encode([1, 'd', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(16)]), // tag only
        enc.encode([1, 'd', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), 'text']),
        enc.encode([1, 'd', 2, new Uint8Array(8), INPUT.eventTimeMs, new Uint8Array(24), new Uint8Array(40), new Uint8Array(63)]),
      ];
      for (const [i, c] of cases.entries()) expect({ i, code: openCode(c) }).toEqual({ i, code: 'VIGIL_E_FRAME_MALFORMED' });
      expect(codeOf(() => opener.decode('frame' as unknown as Uint8Array))).toBe('VIGIL_E_FRAME_MALFORMED');
    });

    it('a body that is not msgpack: VIGIL_E_FRAME_MALFORMED; wrong types/ranges inside: VIGIL_E_READING_INVALID', () => {
      const nonce = new Uint8Array(24);
      const junk = buildFrameBySpec({ ...INPUT, nonce, sharedKey: key, body: Uint8Array.from([0xc1, 0x00]) });
      expect(openCode(junk)).toBe('VIGIL_E_FRAME_MALFORMED');
      const truncated = buildFrameBySpec({ ...INPUT, nonce, sharedKey: key, body: Uint8Array.from([0x92, 0x01]) });
      expect(openCode(truncated)).toBe('VIGIL_E_FRAME_MALFORMED');
      const enc = new Encoder();
      for (const body of [[], [[1, 0, 91, 0, null, null, null, null]], [[1, 0, '51', 0, null, null, null, null]], [[9, 0]], { a: 1 }, 'x', [[4, 0, 'person', NaN, null]]]) {
        const f = buildFrameBySpec({ ...INPUT, nonce, sharedKey: key, body: enc.encode(body) });
        expect(openCode(f)).toBe('VIGIL_E_READING_INVALID');
      }
    });

    it('bad signature: VIGIL_E_FRAME_SIGNATURE', () => {
      const t = Uint8Array.from(signedFrame);
      t[t.length - 5] = (t[t.length - 5] as number) ^ 1;
      expect(openCode(t, gatewayKey, { verifier })).toBe('VIGIL_E_FRAME_SIGNATURE');
      const otherDevice = sodium.createVerifier(generateDeviceKeys('x', 1).sign.publicKey);
      expect(openCode(signedFrame, gatewayKey, { verifier: otherDevice })).toBe('VIGIL_E_FRAME_SIGNATURE');
      expect(openCode(frame, gatewayKey, { verifier, requireSignature: true })).toBe('VIGIL_E_FRAME_SIGNATURE');
      expect(openCode(signedFrame, gatewayKey)).toBe('VIGIL_E_FRAME_SIGNATURE');
      expect(openCode(signedFrame, gatewayKey, { verifier })).toBe('accepted');
    });

    it('stripping the signature (array 8 → 7) fails authentication', () => {
      const stripped = Uint8Array.from(signedFrame.subarray(0, signedFrame.length - 66));
      stripped[0] = 0x97;
      expect(openCode(stripped, gatewayKey, { verifier })).toBe('VIGIL_E_FRAME_AUTH');
    });

    it('unsupported version: VIGIL_E_FRAME_VERSION, reported before anything else', () => {
      for (const v of [0, 2, 127]) {
        const t = Uint8Array.from(frame);
        t[1] = v;
        expect(openCode(t)).toBe('VIGIL_E_FRAME_VERSION');
      }
      expect(openCode(new Encoder().encode([2, 'future format']))).toBe('VIGIL_E_FRAME_VERSION');
    });

    it('unknown device through a lookup: VIGIL_E_DEVICE_UNKNOWN', () => {
      expect(codeOf(() => opener.decodeAndOpen(frame, () => undefined))).toBe('VIGIL_E_DEVICE_UNKNOWN');
      expect(opener.decodeAndOpen(frame, (d, e) => (d === 'uav-0042' && e === 2 ? gatewayKey : undefined)).readings).toHaveLength(SAMPLE_READINGS.length);
    });

    it('bad header input on the device side: VIGIL_E_FRAME_MALFORMED / READING_INVALID / KEY_INVALID', () => {
      expect(codeOf(() => sealer.seal({ ...INPUT, deviceId: 'x'.repeat(65) }, key))).toBe('VIGIL_E_FRAME_MALFORMED');
      expect(codeOf(() => sealer.seal({ ...INPUT, epoch: 1.5 }, key))).toBe('VIGIL_E_FRAME_MALFORMED');
      expect(codeOf(() => sealer.seal({ ...INPUT, eventTimeMs: Number.NaN }, key))).toBe('VIGIL_E_FRAME_MALFORMED');
      expect(codeOf(() => sealer.seal({ ...INPUT, readings: [] }, key))).toBe('VIGIL_E_READING_INVALID');
      expect(codeOf(() => sealer.seal(INPUT, key.subarray(1)))).toBe('VIGIL_E_KEY_INVALID');
      expect(codeOf(() => sealer.seal(INPUT, key, { nonce: new Uint8Array(8) }))).toBe('VIGIL_E_KEY_INVALID');
      expect(codeOf(() => new FrameSealer({ maxReadings: 1000 }))).toBe('VIGIL_E_CONFIG_INVALID');
    });
  });

  it('accepts frames whose header uses other legal msgpack integer encodings (e.g. int64), as other languages may write', () => {
    const nonce = new Uint8Array(24).fill(3);
    const body = new Encoder().encode(SAMPLE_READINGS.map((r) => [1, 0, r.kind === 'position' ? r.lat : 0, 0, null, null, null, null]));
    for (const intFormat of ['int64', 'uint32', 'smallest'] as const) {
      const bytes = buildFrameBySpec({ ...INPUT, nonce, sharedKey: key, body, intFormat });
      expect(opener.decodeAndOpen(bytes, gatewayKey).readings).toHaveLength(SAMPLE_READINGS.length);
    }
  });
});
