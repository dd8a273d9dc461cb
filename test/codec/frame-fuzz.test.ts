import fc from 'fast-check';
import { Encoder } from '@msgpack/msgpack';
import { FrameOpener, FrameSealer, type FrameInput, type OpenedFrame } from '../../src/codec';
import { boxSharedKey, generateDeviceKeys, generateIngestKeys, getCryptoBackend } from '../../src/crypto';
import { VigilError } from '../../src/errors';
import { frameInputArb } from './arbitraries';
import { buildFrameBySpec } from './spec-builder';

// Property-based robustness of decode + open (the gateway's exposure to the world):
// ≥ 100 000 mutated and random frames; only VigilError may escape, no valid frame is
// rejected, no changed frame is accepted. Fastest backend and a precomputed shared key keep
// it to seconds.
const backend = getCryptoBackend('auto');
const device = generateDeviceKeys('fuzz-device', 1, backend);
const ingest = generateIngestKeys('ingest', backend);
const deviceKey = boxSharedKey(ingest.box.publicKey, device.box.secretKey, backend);
const gatewayKey = boxSharedKey(device.box.publicKey, ingest.box.secretKey, backend);
const signer = backend.createSigner(device.sign.seed);
const verifier = backend.createVerifier(device.sign.publicKey);
const sealer = new FrameSealer({ backend });
const opener = new FrameOpener({ backend });
const OPEN = { verifier };

/** Opens, returning the frame, or the VigilError; anything else thrown fails the test. */
function attempt(bytes: Uint8Array): OpenedFrame | VigilError {
  try {
    return opener.decodeAndOpen(bytes, gatewayKey, OPEN);
  } catch (err) {
    if (err instanceof VigilError) return err;
    throw new Error(`non-VigilError escaped for frame ${Buffer.from(bytes).toString('hex')}: ${String(err)}`, { cause: err });
  }
}

const POOL_SIZE = 256;
const inputs: FrameInput[] = fc.sample(frameInputArb(16), { numRuns: POOL_SIZE, seed: 20260101 });
const pool: Uint8Array[] = inputs.map((input, i) => sealer.seal(input, deviceKey, i % 3 === 0 ? { signer } : {}));

// A mutation may reproduce a valid frame (a no-op flip set, a splice at offset 0): those must
// be accepted; every other result must be rejected.
const validHex = new Set(pool.map((b) => Buffer.from(b).toString('hex')));
const isPoolFrame = (b: Uint8Array): boolean => validHex.has(Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex'));

type Mutation =
  | { op: 'flip'; at: number[]; mask: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'append'; bytes: Uint8Array }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; n: number }
  | { op: 'splice'; other: number; at: number }
  | { op: 'overwrite'; at: number; bytes: Uint8Array };

const pos = fc.nat({ max: 100_000 });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.array(pos, { minLength: 1, maxLength: 4 }), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), at: pos, value: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: pos }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: pos, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('splice' as const), other: fc.nat({ max: POOL_SIZE - 1 }), at: pos }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('overwrite' as const), at: pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }) },
);

function mutate(src: Uint8Array, m: Mutation): Uint8Array {
  const n = src.length;
  switch (m.op) {
    case 'flip': {
      const t = Uint8Array.from(src);
      for (const a of m.at) t[a % n] = (t[a % n] as number) ^ m.mask;
      return t;
    }
    case 'set': {
      const t = Uint8Array.from(src);
      t[m.at % n] = m.value;
      return t;
    }
    case 'truncate':
      return src.slice(0, m.at % n);
    case 'append':
      return Uint8Array.from([...src, ...m.bytes]);
    case 'insert': {
      const at = m.at % (n + 1);
      return Uint8Array.from([...src.subarray(0, at), ...m.bytes, ...src.subarray(at)]);
    }
    case 'delete': {
      const at = m.at % n;
      return Uint8Array.from([...src.subarray(0, at), ...src.subarray(at + m.n)]);
    }
    case 'splice': {
      // Head of this frame, tail of another: structurally plausible, cryptographically wrong.
      const other = pool[m.other] as Uint8Array;
      const at = m.at % n;
      return Uint8Array.from([...src.subarray(0, at), ...other.subarray(Math.min(at, other.length))]);
    }
    case 'overwrite': {
      const t = Uint8Array.from(src);
      t.set(m.bytes.subarray(0, Math.max(0, n - (m.at % n))), m.at % n);
      return t;
    }
  }
}

let framesFed = 0;

describe('frame decoder + opener under random and mutated input (fast-check)', () => {
  afterAll(() => {
    expect(framesFed).toBeGreaterThanOrEqual(100_000);
  });

  it('opens every valid frame of the pool to exactly its input', () => {
    for (const [i, bytes] of pool.entries()) {
      const r = attempt(bytes);
      framesFed++;
      expect(r).not.toBeInstanceOf(VigilError);
      const f = r as OpenedFrame;
      const input = inputs[i] as FrameInput;
      expect({ deviceId: f.deviceId, epoch: f.epoch, seq: f.seq, eventTimeMs: f.eventTimeMs, readings: f.readings }).toEqual(input);
      expect(f.signed).toBe(i % 3 === 0);
    }
  });

  it('accepts no changed frame (100 000 mutations of pool frames), throwing only VigilError', () => {
    const codes = new Map<string, number>();
    fc.assert(
      fc.property(fc.nat({ max: POOL_SIZE - 1 }), mutationArb, (i, m) => {
        const bytes = mutate(pool[i] as Uint8Array, m);
        const r = attempt(bytes);
        framesFed++;
        if (isPoolFrame(bytes)) return !(r instanceof VigilError);
        if (r instanceof VigilError) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        return r instanceof VigilError;
      }),
      { numRuns: 100_000 },
    );
    // The mutations reach every layer: size, structure, version, MAC and signature.
    for (const code of ['VIGIL_E_FRAME_MALFORMED', 'VIGIL_E_FRAME_VERSION', 'VIGIL_E_FRAME_AUTH', 'VIGIL_E_FRAME_SIGNATURE']) expect(codes.get(code) ?? 0).toBeGreaterThan(0);
  });

  it('throws only VigilError for arbitrary bytes and arbitrary msgpack values', () => {
    const enc = new Encoder();
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), fc.jsonValue().map((v) => enc.encode(v))), (bytes) => {
        framesFed++;
        return attempt(bytes) instanceof VigilError;
      }),
      { numRuns: 5_000 },
    );
  });

  it('authenticated but arbitrary bodies yield valid readings or a VigilError, never another exception', () => {
    const enc = new Encoder();
    const body = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.jsonValue().map((v) => enc.encode(v)),
      fc.tuple(fc.nat({ max: POOL_SIZE - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([i, at, v]) => {
        const plain = enc.encode((inputs[i] as FrameInput).readings.map((r) => Object.values(r)));
        plain[at % plain.length] = v;
        return plain;
      }),
    );
    fc.assert(
      fc.property(body, (b) => {
        framesFed++;
        const r = attempt(buildFrameBySpec({ deviceId: 'fuzz-device', epoch: 1, seq: 1n, eventTimeMs: Date.UTC(2026, 0, 1), nonce: new Uint8Array(24), sharedKey: deviceKey, body: b }));
        return r instanceof VigilError ? ['VIGIL_E_FRAME_MALFORMED', 'VIGIL_E_READING_INVALID'].includes(r.code) : r.readings.length > 0;
      }),
      { numRuns: 3_000 },
    );
  });
});
