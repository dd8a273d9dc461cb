import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { inflateRawSync } from 'node:zlib';
import { encodeReadings, encodeRejectionRecord, FrameOpener, FrameSealer, openRejectionRecord, RecordCodec, rejectionMessage } from '../../src/codec';
import { boxKeyPairFromSecretKey, boxSharedKey, getCryptoBackend, secretboxOpen, signKeyPairFromSeed, StreamKeyring } from '../../src/crypto';
import { GOLDEN_DERIVED_RECORD, GOLDEN_FRAME_NONCE, GOLDEN_FRAMES, GOLDEN_KEYS, GOLDEN_RECORD_NONCE, GOLDEN_REJECTION, GOLDEN_TELEMETRY_RECORD } from '../fixtures/golden-inputs';
import { buildFrameBySpec } from './spec-builder';

// Golden wire fixtures: if any byte of the frame or record format changes, these fail. Only
// regenerate (test/fixtures/generate-golden.ts) for a deliberate, versioned format change.
interface Golden {
  keys: Record<string, string>;
  frameNonce: string;
  recordNonce: string;
  frames: { name: string; plaintext: string; frame: string }[];
  records: { name: string; plaintext: string; value: string }[];
}
const golden = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'golden-wire.json'), 'utf8')) as Golden;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** The text of the code block after `<!-- golden:NAME -->` in docs/wire-format.md, as written. */
function docBlock(name: string): string {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'wire-format.md'), 'utf8');
  const at = doc.indexOf(`<!-- golden:${name} -->`);
  if (at < 0) return `(no block golden:${name} in docs/wire-format.md)`;
  const open = doc.indexOf('```', at);
  const close = doc.indexOf('```', open + 3);
  return doc.slice(doc.indexOf('\n', open) + 1, close);
}

/** Hex quoted in docs/wire-format.md after `<!-- golden:NAME -->`, whitespace removed. */
function docHex(name: string): string {
  return docBlock(name).replace(/\s+/g, '').toLowerCase();
}

describe.each(['tweetnacl', 'sodium'] as const)('golden wire fixtures (%s)', (name) => {
  const backend = getCryptoBackend(name);
  const device = boxKeyPairFromSecretKey(GOLDEN_KEYS.deviceBoxSecretKey, backend);
  const ingest = boxKeyPairFromSecretKey(GOLDEN_KEYS.ingestBoxSecretKey, backend);
  const sign = signKeyPairFromSeed(GOLDEN_KEYS.deviceSignSeed, backend);
  const shared = boxSharedKey(ingest.publicKey, device.secretKey, backend);

  it('derives the fixture keys', () => {
    expect(hex(device.publicKey)).toBe(golden.keys.deviceBoxPublicKey);
    expect(hex(ingest.publicKey)).toBe(golden.keys.ingestBoxPublicKey);
    expect(hex(sign.publicKey)).toBe(golden.keys.deviceSignPublicKey);
    expect(hex(shared)).toBe(golden.keys.sharedKey);
    expect(hex(boxSharedKey(device.publicKey, ingest.secretKey, backend))).toBe(golden.keys.sharedKey);
    expect(golden.frameNonce).toBe(hex(GOLDEN_FRAME_NONCE));
  });

  it.each(GOLDEN_FRAMES.map((f) => [f.name, f] as const))('frame %s: sealed bytes equal the fixture, and it opens to its readings', (fname, f) => {
    const g = golden.frames.find((x) => x.name === fname);
    expect(g).toBeDefined();
    const sealer = new FrameSealer({ backend });
    const bytes = sealer.seal(f.input, shared, { nonce: GOLDEN_FRAME_NONCE, ...(f.signed ? { signer: backend.createSigner(sign.seed) } : {}) });
    expect(hex(bytes)).toBe(g?.frame);
    expect(hex(new Encoder().encode(encodeReadings(f.input.readings)))).toBe(g?.plaintext);
    const opened = new FrameOpener({ backend }).decodeAndOpen(unhex(g?.frame ?? ''), boxSharedKey(device.publicKey, ingest.secretKey, backend), {
      verifier: backend.createVerifier(sign.publicKey),
      requireSignature: f.signed,
    });
    expect(opened).toMatchObject({ deviceId: f.input.deviceId, epoch: f.input.epoch, seq: f.input.seq, eventTimeMs: f.input.eventTimeMs, signed: f.signed });
    expect(opened.readings).toEqual(f.input.readings);
  });

  it.each([
    ['telemetry', GOLDEN_TELEMETRY_RECORD],
    ['derived', GOLDEN_DERIVED_RECORD],
  ] as const)('record %s: sealed bytes equal the fixture, and it opens to the record', (rname, record) => {
    const g = golden.records.find((x) => x.name === rname);
    const codec = new RecordCodec({ backend });
    const key = { keyId: GOLDEN_KEYS.streamKeyId, key: GOLDEN_KEYS.streamKey };
    expect(hex(codec.encodePlaintext(record))).toBe(g?.plaintext);
    expect(hex(codec.seal(record, key, { nonce: GOLDEN_RECORD_NONCE }).value)).toBe(g?.value);
    expect(codec.open(unhex(g?.value ?? ''), key)).toEqual(record);
  });
});

describe('docs/wire-format.md', () => {
  it('a frame built from the spec alone (generic msgpack, nacl.box, SHA-512, Ed25519) equals our sealer’s bytes', () => {
    for (const f of GOLDEN_FRAMES) {
      const body = new Encoder().encode(encodeReadings(f.input.readings));
      const bytes = buildFrameBySpec({
        ...f.input,
        nonce: GOLDEN_FRAME_NONCE,
        body,
        boxKeys: { ingestPublicKey: unhex(golden.keys.ingestBoxPublicKey), deviceSecretKey: GOLDEN_KEYS.deviceBoxSecretKey },
        ...(f.signed ? { signSeed: GOLDEN_KEYS.deviceSignSeed } : {}),
      });
      expect(hex(bytes)).toBe(golden.frames.find((x) => x.name === f.name)?.frame);
    }
  });

  it.each([
    ...golden.frames.flatMap((f) => [
      [`frame-${f.name}`, f.frame],
      [`plaintext-${f.name}`, f.plaintext],
    ]),
    ...golden.records.flatMap((r) => [
      [`record-${r.name}`, r.value],
      [`record-plaintext-${r.name}`, r.plaintext],
    ]),
    ...golden.frames.map((f) => {
      const bytes = unhex(f.frame);
      const header = bytes.subarray(0, new FrameOpener().decode(bytes).headerLength);
      return [`box-nonce-${f.name}`, createHash('sha512').update(header).digest().subarray(0, 24).toString('hex')];
    }),
    ['shared-key', golden.keys.sharedKey],
  ])('quotes the exact bytes of %s', (name, value) => {
    expect(docHex(name as string)).toBe(value);
  });

  it('quotes a rejection record exactly as a gateway writes it, with its MAC key and MAC (§9.5)', () => {
    const key = { keyId: GOLDEN_KEYS.streamKeyId, key: GOLDEN_KEYS.streamKey };
    const value = docBlock('rejection-value').trimEnd();
    expect(value).toBe(Buffer.from(encodeRejectionRecord(GOLDEN_REJECTION)).toString('utf8'));
    // From the spec alone: two HMAC-SHA-256 over the quoted bytes.
    const macKey = createHmac('sha256', GOLDEN_KEYS.streamKey).update('vigil/v1 rejection-record mac').digest();
    expect(macKey.toString('hex')).toBe(docHex('rejection-mac-key'));
    const mac = createHmac('sha256', macKey).update(value).digest('hex');
    expect(mac).toBe(docHex('rejection-mac'));
    // And our code agrees, both ways.
    const m = rejectionMessage(GOLDEN_REJECTION, key);
    expect(m.headers).toEqual({ 'vigil-key-id': GOLDEN_KEYS.streamKeyId, 'vigil-mac': Buffer.from(mac, 'hex') });
    expect(openRejectionRecord(Buffer.from(value), { 'vigil-key-id': Buffer.from(GOLDEN_KEYS.streamKeyId), 'vigil-mac': Buffer.from(mac, 'hex') }, new StreamKeyring([key]))).toEqual(GOLDEN_REJECTION);
  });

  it('§9.6: a version 2 record opens to §9.4\'s record, and from the spec alone is 0x02 then the raw DEFLATE of its plaintext', () => {
    const key = { keyId: GOLDEN_KEYS.streamKeyId, key: GOLDEN_KEYS.streamKey };
    const value = unhex(docHex('record-derived-v2'));
    for (const backend of ['tweetnacl', 'sodium'] as const) expect(new RecordCodec({ backend }).open(value, key)).toEqual(GOLDEN_DERIVED_RECORD);
    // [2, nonce, ciphertext] with generic msgpack, secretbox with the key, inflate.
    const [version, nonce, ciphertext] = new Decoder().decode(value) as [number, Uint8Array, Uint8Array];
    expect(version).toBe(2);
    const box = secretboxOpen(ciphertext, nonce, GOLDEN_KEYS.streamKey) as Uint8Array;
    expect(box[0]).toBe(2);
    expect(inflateRawSync(box.subarray(1)).toString('hex')).toBe(docHex('record-plaintext-derived'));
  });

  it('§9.5 describes the replay of §9.1\'s frame: its header, digest and size', () => {
    const frame = unhex((golden.frames.find((f) => f.name === 'unsigned-position') as { frame: string }).frame);
    const decoded = new FrameOpener().decode(frame);
    expect(GOLDEN_REJECTION.header).toEqual({ deviceId: decoded.deviceId, epoch: decoded.epoch, seq: decoded.seq.toString(), eventTimeMs: decoded.eventTimeMs });
    expect(GOLDEN_REJECTION.sha256).toBe(createHash('sha256').update(frame).digest('hex'));
    expect(GOLDEN_REJECTION.bytes).toBe(frame.length);
  });
});
