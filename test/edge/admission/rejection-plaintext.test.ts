import { createHash } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { decodeReadings, encodeReading, KIND_SPECS, MAX_READINGS_PER_FRAME, MAX_READING_OFFSET_MS, type FieldSpec, type KindSpec, type Reading } from '../../../src/codec';
import { boxSharedKey, devicePublicKeys, generateDeviceKeys, generateIngestKeys, generateStreamKey, getCryptoBackend } from '../../../src/crypto';
import { Admission, rejectionRecord, type Rejected } from '../../../src/edge/admission';
import { isVigilError } from '../../../src/errors';
import { addDevice, emptyRegistry, MemoryRegistry, toDeviceEntry } from '../../../src/registry';
import { MemoryReplayStore } from '../../../src/replay';
import { readingArb, SAMPLE_READINGS } from '../../codec/arbitraries';
import { buildFrameBySpec } from '../../codec/spec-builder';

// Issue 10 item 5: a frame whose body decrypts but fails validation is recorded to
// telemetry.rejected in the clear. Property: random invalid bodies, sealed as real frames by
// the device key and admitted, leave no trace of their plaintext in the rejection record —
// no value in any usual text form, no string or piece of one, no msgpack bytes of a value,
// no 8-byte window of the body.

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const backend = getCryptoBackend('auto');
const keys = generateDeviceKeys('vit-7', 1, backend);
const ingest = generateIngestKeys('ingest-1', backend);
const shared = boxSharedKey(ingest.box.publicKey, keys.box.secretKey, backend);
const registry = new MemoryRegistry(addDevice(emptyRegistry(), devicePublicKeys(keys), { theatre: 'north', unit: 'med-1' }).devices.map(toDeviceEntry));
const admission = new Admission({ gatewayId: 'gw-9', registry, replay: new MemoryReplayStore(), ingestKeys: ingest, streamKey: generateStreamKey, clock: () => NOW, backend });
const rejectedKey = generateStreamKey('telemetry.rejected-1');

/** An invalid body: its msgpack bytes and every number and string in it (the plaintext values). */
interface BadBody {
  readonly body: Uint8Array;
  readonly values: readonly unknown[];
  /** The code it must be refused with. */
  readonly code: 'VIGIL_E_READING_INVALID' | 'VIGIL_E_FRAME_MALFORMED';
  /** The field the message must name (the rule's subject), when one field is to blame. */
  readonly field?: string;
}

// ── plaintext values ─────────────────────────────────────────────────────────────────────

// Strings no message template could hold by chance: printable ASCII, ≥ 6 characters.
const token = fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKMNPQRSTVWXYZbdfhjkqvwxz2345679#%&*+<>?@~|'.split('')), minLength: 6, maxLength: 24 });
const badString: fc.Arbitrary<string> = fc.oneof(
  token,
  token.map((t) => `${t}\u0001${t}`), // control character
  fc.tuple(token, fc.integer({ min: 3, max: 20 })).map(([t, n]) => t.repeat(n)), // long
  fc.tuple(token, fc.string({ minLength: 1, maxLength: 8 })).map(([t, s]) => `${s}${t}°${s}`), // any characters around a token
);
// Out of range by a margin: beyond the bound in every usual text form of the number.
// (A field of any finite number, the metric value, can only be given a non-finite one.)
const nonFinite = fc.constantFrom(Infinity, -Infinity, NaN);
const beyond = (spec: { min: number; max: number }): fc.Arbitrary<number> =>
  spec.max === Number.MAX_VALUE
    ? nonFinite
    : fc.oneof(
        fc.double({ min: 1.001, max: 1e9, noNaN: true }).map((d) => spec.max + d),
        fc.double({ min: 1.001, max: 1e9, noNaN: true }).map((d) => spec.min - d),
        fc.double({ min: 1e21, max: 1e300, noNaN: true }),
        nonFinite,
      );
const otherType: fc.Arbitrary<unknown> = fc.oneof(
  fc.boolean(),
  fc.array(fc.double({ noNaN: true }), { minLength: 1, maxLength: 3 }),
  fc.dictionary(token, fc.oneof(token, fc.double({ noNaN: true })), { minKeys: 1, maxKeys: 2 }),
  fc.uint8Array({ minLength: 4, maxLength: 40 }),
);

function badValue(spec: FieldSpec): fc.Arbitrary<unknown> {
  switch (spec.type) {
    case 'number':
      return fc.oneof(beyond(spec), badString, otherType);
    case 'enum':
      return fc.oneof(badString.filter((s) => !spec.values.includes(s)), fc.double({ noNaN: true }), otherType);
    case 'string':
      // Valid characters in a string too long, upper case, control characters, or another type.
      return fc.oneof(
        badString.filter((s) => !spec.pattern.test(s)),
        fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_.'.split('')), minLength: 65, maxLength: 200 }).map((s) => `q${s}`),
        fc.double({ noNaN: true }),
        otherType,
      );
  }
}

/** Wire rows of valid readings: their values are plaintext too. */
const validRows = fc.array(readingArb, { minLength: 0, maxLength: 6 }).map((rs) => rs.map((r) => encodeReading(r)));

/** One bad field (or offset) in an otherwise valid reading, among valid readings. */
const badField: fc.Arbitrary<BadBody> = fc
  .tuple(fc.constantFrom(...KIND_SPECS), validRows, validRows)
  .chain(([spec, before, after]) => {
    const base = encodeReading(SAMPLE_READINGS.find((s) => s.kind === spec.kind) as Reading);
    const slot = fc.integer({ min: -1, max: spec.fields.length - 1 });
    return slot.chain((i) => {
      const bad = i < 0 ? fc.oneof(fc.integer({ min: MAX_READING_OFFSET_MS + 1, max: 2 ** 31 }), fc.double({ min: 0.001, max: 0.999, noNaN: true }).map((d) => 1000 + d), badString, otherType) : badValue(spec.fields[i] as FieldSpec);
      return bad.map((v): BadBody => {
        const row = [...base];
        row[i + 2] = v;
        const wire = [...before, row, ...after];
        return { body: encode(wire), values: [wire], code: 'VIGIL_E_READING_INVALID', field: i < 0 ? 'offsetMs' : (spec.fields[i] as FieldSpec).name };
      });
    });
  });

/** A kind tag no kind has, or not a number at all; the rest of the row is arbitrary plaintext. */
const unknownKind: fc.Arbitrary<BadBody> = fc
  .tuple(
    fc.oneof(fc.integer({ min: 7, max: 2 ** 31 }), fc.integer({ min: -(2 ** 31), max: 0 }), fc.double({ min: 1.001, max: 6.999, noNaN: true }).filter((d) => !Number.isInteger(d)), badString),
    fc.array(fc.oneof(fc.double({ noNaN: true }), badString), { minLength: 1, maxLength: 8 }),
    validRows,
  )
  .map(([tag, rest, others]) => {
    const wire = [...others, [tag, ...rest]];
    return { body: encode(wire), values: [wire], code: 'VIGIL_E_READING_INVALID', field: 'kind' };
  });

/** A known kind with too few or too many elements. */
const wrongLength: fc.Arbitrary<BadBody> = fc.tuple(fc.constantFrom(...KIND_SPECS), fc.boolean(), fc.oneof(badString, fc.double({ noNaN: true }))).map(([spec, longer, extra]) => {
  const row = encodeReading(SAMPLE_READINGS.find((s) => s.kind === spec.kind) as Reading);
  const wire = [longer ? [...row, extra] : row.slice(0, -1)];
  return { body: encode(wire), values: [wire, extra], code: 'VIGIL_E_READING_INVALID', field: `a ${spec.kind} reading` };
});

/** A body that is not an array of readings, or a batch of the wrong size. */
const wrongShape: fc.Arbitrary<BadBody> = fc.oneof(
  fc.oneof(badString, fc.double({ noNaN: true }), fc.dictionary(token, fc.oneof(badString, fc.double({ noNaN: true })), { minKeys: 1, maxKeys: 4 })).map((v): BadBody => ({ body: encode(v), values: [v], code: 'VIGIL_E_READING_INVALID', field: 'readings' })),
  fc.array(readingArb, { minLength: MAX_READINGS_PER_FRAME + 1, maxLength: MAX_READINGS_PER_FRAME + 20 }).map((rs): BadBody => {
    const wire = rs.map((r) => encodeReading(r));
    return { body: encode(wire), values: [wire], code: 'VIGIL_E_READING_INVALID', field: 'readings' };
  }),
);

/** Not msgpack: cut short, with bytes after the value, or with a byte no msgpack type uses. */
const malformed: fc.Arbitrary<BadBody> = fc
  .tuple(fc.oneof(badField, unknownKind, wrongLength), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.constantFrom('truncate', 'append', 'never-used-byte'))
  .map(([inner, at, junk, how]): BadBody => {
    const b = inner.body;
    let body: Uint8Array;
    if (how === 'truncate') body = b.subarray(0, 1 + (at % (b.length - 1)));
    else if (how === 'append') body = Uint8Array.from([...b, ...junk]);
    // One more element in the top-level array, and that element is 0xc1 (never used by msgpack).
    else body = (b[0] as number) >= 0x90 && (b[0] as number) < 0x9f ? Uint8Array.from([(b[0] as number) + 1, ...b.subarray(1), 0xc1]) : Uint8Array.from([...b, 0xc1]);
    return { body, values: [...inner.values, junk], code: 'VIGIL_E_FRAME_MALFORMED', field: 'body' };
  });

const badBody: fc.Arbitrary<BadBody> = fc.oneof({ weight: 5, arbitrary: badField }, { weight: 2, arbitrary: unknownKind }, { weight: 1, arbitrary: wrongLength }, { weight: 1, arbitrary: wrongShape }, { weight: 2, arbitrary: malformed });

// ── needles: every form of the plaintext that must not show up ───────────────────────────

function numberForms(n: number): string[] {
  const forms = [String(n), n.toExponential(), n.toPrecision(6), n.toPrecision(10)];
  if (Number.isFinite(n) && Math.abs(n) < 1e21) for (let d = 0; d <= 4; d++) forms.push(n.toFixed(d));
  return forms;
}

function stringForms(s: string): string[] {
  const forms = [s, JSON.stringify(s).slice(1, -1)];
  for (let i = 0; i + 8 <= s.length; i++) forms.push(s.slice(i, i + 8)); // any piece of it
  return forms;
}

/** Text needles and byte needles of every number, string and byte string in a value. */
function needlesOf(v: unknown, text: string[], bytes: Uint8Array[]): void {
  if (typeof v === 'number') {
    text.push(...numberForms(v));
    bytes.push(encode(v));
  } else if (typeof v === 'string') {
    text.push(...stringForms(v));
    bytes.push(encode(v), Buffer.from(v, 'utf8'));
  } else if (v instanceof Uint8Array) {
    bytes.push(v, encode(v));
    text.push(Buffer.from(v).toString('hex'), Buffer.from(v).toString('base64'));
  } else if (Array.isArray(v)) {
    for (const x of v) needlesOf(x, text, bytes);
  } else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      needlesOf(k, text, bytes);
      needlesOf(x, text, bytes);
    }
  }
}

/**
 * Text every rejection of a body may contain whatever its values: each message the codec
 * gives for probe inputs (field names, rules, ranges, allowed values), and the fixed words of
 * the admission chain. A needle found in it cannot tell a leak from the rule itself, so it
 * is skipped (and counted). Probe values are never needles: the generators avoid them.
 */
const RULE_TEXT: string = (() => {
  const messages = new Set<string>(['body: not valid msgpack']);
  const tryWire = (wire: unknown): void => {
    try {
      decodeReadings(wire);
    } catch (err) {
      if (isVigilError(err)) messages.add(err.message);
    }
  };
  for (const spec of KIND_SPECS as readonly KindSpec[]) {
    const row = encodeReading(SAMPLE_READINGS.find((s) => s.kind === spec.kind) as Reading);
    spec.fields.forEach((_f, i) => {
      for (const probe of [null, true, 1e300, -1e300, 0.5]) tryWire([Object.assign([...row], { [i + 2]: probe })]);
    });
    tryWire([[spec.tag, ...row.slice(1).map(() => null)]]);
    tryWire([[spec.tag, -1, ...row.slice(2)]]);
    tryWire([[...row, null]]);
  }
  tryWire([[99, 0]]);
  tryWire([]);
  tryWire(true);
  return [...messages].join('\n');
})();

interface Tally {
  checked: number;
  skipped: number;
}

function assertNoPlaintext(bad: BadBody, frame: Uint8Array, r: Rejected, tally: Tally): void {
  const rec = rejectionRecord(r, 'gw-9', NOW, rejectedKey);
  const value = Buffer.from(rec.value);
  const json = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  // Everything but the message is known without the body; the message is checked below.
  expect(json).toEqual({
    reason: bad.code,
    message: r.message,
    header: { deviceId: 'vit-7', epoch: 1, seq: '7', eventTimeMs: NOW },
    sha256: createHash('sha256').update(frame).digest('hex'),
    bytes: frame.length,
    gatewayId: 'gw-9',
    atMs: NOW,
  });
  if (bad.field !== undefined) expect(r.message).toContain(bad.field);
  // The msgpack decoder's text (type bytes, offsets, lengths) never comes through.
  if (bad.code === 'VIGIL_E_FRAME_MALFORMED') expect(r.message).toBe('body: not valid msgpack');
  // Text that may be there for reasons other than the plaintext.
  const allowed = `${RULE_TEXT}\n${JSON.stringify({ ...json, message: '' })}\n${Buffer.from(rec.headers['vigil-mac']).toString('hex')}`;
  const text: string[] = [];
  const bytes: Uint8Array[] = [];
  needlesOf(bad.values, text, bytes);
  for (let i = 0; i + 8 <= bad.body.length; i++) bytes.push(bad.body.subarray(i, i + 8));
  text.push(Buffer.from(bad.body).toString('hex'), Buffer.from(bad.body).toString('base64'));
  const haystack = `${value.toString('utf8')}\n${r.message}`;
  // Shorter needles say nothing; one found in the record only fails when the rule text or
  // the known fields do not explain it.
  for (const n of text) {
    if (n.length < 4 || (haystack.includes(n) && allowed.includes(n))) tally.skipped++;
    else if (haystack.includes(n)) throw new Error(`rejection record carries plaintext ${JSON.stringify(n)}: ${haystack}`);
    else tally.checked++;
  }
  for (const bytesNeedle of bytes) {
    const n = Buffer.from(bytesNeedle.buffer, bytesNeedle.byteOffset, bytesNeedle.byteLength);
    if (n.length < 4 || (value.includes(n) && Buffer.from(allowed, 'utf8').includes(n))) tally.skipped++;
    else if (value.includes(n)) throw new Error(`rejection record carries plaintext bytes ${n.toString('hex')}: ${haystack}`);
    else tally.checked++;
  }
}

describe('rejection records of frames whose body fails validation', () => {
  it('carry no plaintext: no value, string, piece of a string or msgpack bytes of the body (fast-check, sealed frames through Admission)', () => {
    const tally: Tally = { checked: 0, skipped: 0 };
    const codes = new Map<string, number>();
    fc.assert(
      fc.property(badBody, fc.uint8Array({ minLength: 24, maxLength: 24 }), (bad, nonce) => {
        const frame = buildFrameBySpec({ deviceId: 'vit-7', epoch: 1, seq: 7n, eventTimeMs: NOW, nonce, sharedKey: shared, body: bad.body });
        const r = admission.admit(frame);
        if (r.ok) throw new Error(`admitted an invalid body ${Buffer.from(bad.body).toString('hex')}`);
        expect(r.code).toBe(bad.code);
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        assertNoPlaintext(bad, frame, r, tally);
      }),
      { numRuns: 1500, seed: 20261128 },
    );
    expect(codes.get('VIGIL_E_READING_INVALID')).toBeGreaterThan(500);
    expect(codes.get('VIGIL_E_FRAME_MALFORMED')).toBeGreaterThan(100);
    // The check is not vacuous: most forms of the plaintext are distinctive enough to look for.
    expect(tally.checked).toBeGreaterThan(1_000_000);
    expect(tally.checked).toBeGreaterThan(4 * tally.skipped);
  });

  it('name the field and the rule, never the value (examples)', () => {
    const cases: Array<[unknown[], RegExp, string[]]> = [
      [[[2, 0, 301.25, null, null, null]], /^reading 0: heartRateBpm is out of range 0\.\.300$/, ['301']],
      [[[6, 0, 'radio.rssi_dbm', Infinity, 'dB']], /^reading 0: value must be a finite number$/, ['rssi', 'Infinity']],
      [[[6, 0, 'Secret.Name', 3, 'dB']], /^reading 0: name must match /, ['Secret', 'Name']],
      [[[6, 0, 'ok', 3, 'furlongs/fortnight']], /^reading 0: unit must match /, ['furlong']],
      [[[2, 0, null, null, null, 'cartwheeling']], /^reading 0: posture must be one of unknown, /, ['cartwheel']],
      [[[77777, 0]], /^reading 0: kind tag must be one of 1 \(position\), /, ['77777']],
      [[[5, 654321, 50, 24]], /^reading 0: offsetMs must be an integer in 0\.\.600000$/, ['654321']],
      [[[5, 0, 50, 24, 98765]], /^reading 0: a power reading must have 4 elements$/, ['98765']],
    ];
    for (const [wire, message, absent] of cases) {
      const frame = buildFrameBySpec({ deviceId: 'vit-7', epoch: 1, seq: 7n, eventTimeMs: NOW, nonce: new Uint8Array(24), sharedKey: shared, body: encode(wire) });
      const r = admission.admit(frame);
      if (r.ok) throw new Error('expected a rejection');
      expect(r.message).toMatch(message);
      for (const a of absent) expect(r.message).not.toContain(a);
    }
    const notMsgpack = buildFrameBySpec({ deviceId: 'vit-7', epoch: 1, seq: 7n, eventTimeMs: NOW, nonce: new Uint8Array(24), sharedKey: shared, body: Uint8Array.from([0x91, 0xc1]) });
    expect(admission.admit(notMsgpack)).toMatchObject({ ok: false, code: 'VIGIL_E_FRAME_MALFORMED', message: 'body: not valid msgpack' });
  });

  it('of a kind the device may not send name the kinds allowed, not the kind sent', () => {
    const onlyPower = new MemoryRegistry(addDevice(emptyRegistry(), devicePublicKeys(keys), { theatre: 'north', unit: 'med-1', kinds: ['power'] }).devices.map(toDeviceEntry));
    const a = new Admission({ gatewayId: 'gw-9', registry: onlyPower, replay: new MemoryReplayStore(), ingestKeys: ingest, streamKey: generateStreamKey, clock: () => NOW, backend });
    const body = encode([encodeReading({ kind: 'vitals', offsetMs: 0, heartRateBpm: 71.5, spo2Pct: null, skinTempC: null, posture: 'prone' })]);
    const r = a.admit(buildFrameBySpec({ deviceId: 'vit-7', epoch: 1, seq: 7n, eventTimeMs: NOW, nonce: new Uint8Array(24), sharedKey: shared, body }));
    expect(r).toMatchObject({ ok: false, code: 'VIGIL_E_KIND_NOT_ALLOWED', message: 'device vit-7 sent a reading of a kind outside those it may send (power)' });
    a.close();
  });
});
