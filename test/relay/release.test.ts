import { makeLabel, RECORD_KEY_ID_HEADER, type DerivedRecord } from '../../src/codec';
import { generateStreamKey, secretboxSeal } from '../../src/crypto';
import { labelVerdict, parseLabelText, RELAY_ID_HEADER, StreamReleaser, WindowSampler, type ReleaseOutcome } from '../../src/relay';
import { withinCeiling } from '../../src/runtime';
import { busMessage, CEILING, GBR_ONLY, RELEASABLE, relayFixture, sealedMessage, TOP, vitalsRecord, type RelayFixture } from './relay-fixture';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

function releaser(f: RelayFixture): StreamReleaser {
  return new StreamReleaser(f.policy.streams[0] as never, f.keys.get('derived.vitals') as never, f.policy.destination.ceiling, f.codec, () => T0);
}

function released(out: ReleaseOutcome): Extract<ReleaseOutcome, { verdict: 'release' }> {
  if (out.verdict !== 'release') throw new Error(`expected a release, got ${JSON.stringify(out)}`);
  return out;
}

describe('labelVerdict: the pipelines ceiling rule, with the reason', () => {
  const ceiling = parseLabelText(CEILING);
  it.each([
    ['SECRET//REL TO FRA, GBR', 'release'],
    ['SECRET//REL TO FRA, GBR, USA', 'release'],
    ['CONFIDENTIAL//REL TO FRA, GBR, NATO', 'release'],
    ['SECRET//REL TO GBR', 'not-releasable'],
    ['UNCLASSIFIED', 'not-releasable'],
    ['TOP_SECRET//REL TO FRA, GBR', 'above-ceiling'],
    ['TOP_SECRET//REL TO USA', 'above-ceiling'],
  ])('%s → %s', (text, verdict) => {
    const label = parseLabelText(text);
    expect(labelVerdict(label, ceiling)).toBe(verdict);
    // Same decision as a pipeline with this ceiling would take.
    expect(verdict === 'release').toBe(withinCeiling(label, ceiling));
  });
});

describe('StreamReleaser', () => {
  it('releases a releasable record re-sealed under the relay key: command opens it, the theatre key does not', () => {
    const f = relayFixture();
    const r = vitalsRecord('sol-1', T0, RELEASABLE);
    const out = released(releaser(f).release(busMessage(sealedMessage(f, r))));
    expect(out.entry).toMatchObject({ topic: 'theatre.north.derived.vitals', priority: 'routine', enqueuedAt: T0, key: Buffer.from(`sol-1|${T0}|${T0 + 10_000}`) });
    expect(out.entry.headers?.[RECORD_KEY_ID_HEADER]).toBe(f.relayKey.keyId);
    expect(out.entry.headers?.[RELAY_ID_HEADER]).toBe(`sol-1|${T0}|${T0 + 10_000}#0`);
    expect(f.codec.open(out.entry.value, f.relayKey)).toEqual(r);
    expect(() => f.codec.open(out.entry.value, f.theatreKey)).toThrow(expect.objectContaining({ code: 'VIGIL_E_RECORD_AUTH' }));
    expect(() => f.codec.open(out.entry.value, f.olderTheatreKey)).toThrow(expect.objectContaining({ code: 'VIGIL_E_RECORD_AUTH' }));
  });

  it('opens with any key of the theatre ring', () => {
    const f = relayFixture();
    const r = vitalsRecord('sol-1', T0, RELEASABLE);
    expect(released(releaser(f).release(busMessage(sealedMessage(f, r, f.olderTheatreKey)))).entry.topic).toBe('theatre.north.derived.vitals');
  });

  it('withholds what is above the ceiling or not releasable to the whole destination, by reason', () => {
    const f = relayFixture();
    const rel = releaser(f);
    expect(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1', T0, TOP))))).toMatchObject({ verdict: 'withheld', reason: 'above-ceiling' });
    expect(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1', T0, GBR_ONLY))))).toMatchObject({ verdict: 'withheld', reason: 'not-releasable' });
    expect(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1', T0, makeLabel('UNCLASSIFIED')))))).toMatchObject({ verdict: 'withheld', reason: 'not-releasable' });
  });

  it('withholds as unreadable what it cannot open or judge, never throwing', () => {
    const f = relayFixture();
    const rel = releaser(f);
    const good = busMessage(sealedMessage(f, vitalsRecord('sol-1', T0, RELEASABLE)));
    const stranger = busMessage(sealedMessage(f, vitalsRecord('sol-1', T0, RELEASABLE), generateStreamKey('someone-else')));
    const flipped = Buffer.from(good.value as Buffer);
    flipped[flipped.length - 1] ^= 1;
    const cases = [
      { ...good, value: null },
      { ...good, headers: {} },
      stranger,
      { ...good, value: flipped },
      { ...good, value: Buffer.from('not a record') },
      // The right key id over a key that is not the one: authentication fails.
      { ...stranger, headers: { [RECORD_KEY_ID_HEADER]: Buffer.from(f.theatreKey.keyId) } },
    ];
    for (const m of cases) expect(rel.release(m)).toMatchObject({ verdict: 'withheld', reason: 'unreadable' });
  });

  it('withholds a record whose label cannot be parsed', () => {
    const f = relayFixture();
    // A plaintext with a malformed label, sealed under the theatre key by hand (the codec refuses to seal one).
    const plain = f.codec.encodePlaintext(vitalsRecord('sol-1', T0, RELEASABLE));
    const text = Buffer.from(plain).toString('latin1').replace('SECRET', 'SECRAT');
    const sealed = f.codec.seal(vitalsRecord('sol-1', T0, RELEASABLE), f.theatreKey);
    expect(text).not.toEqual(Buffer.from(plain).toString('latin1'));
    // Replace the ciphertext with one of the corrupted plaintext under the same nonce and key.
    const value = resealPlaintext(sealed.value, Buffer.from(text, 'latin1'), f);
    expect(() => f.codec.open(value, f.theatreKey)).toThrow('record label: classification label: level must be one of');
    const out = releaser(f).release(busMessage({ key: 'k', value, headers: { [RECORD_KEY_ID_HEADER]: f.theatreKey.keyId } }));
    expect(out).toMatchObject({ verdict: 'withheld', reason: 'unreadable', detail: 'VIGIL_E_RECORD_INVALID' });
  });

  it('with recordCompression deflate, seals a released record as version 2, which the relay key opens to the same record', () => {
    const f = relayFixture();
    const r = vitalsRecord('sol-1', T0, RELEASABLE, Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`heartRateBpm${i}`, 70 + (i % 2)])));
    const deflating = new StreamReleaser(f.policy.streams[0] as never, f.keys.get('derived.vitals') as never, f.policy.destination.ceiling, f.codec, () => T0, 'deflate');
    const v2 = released(deflating.release(busMessage(sealedMessage(f, r))));
    const v1 = released(releaser(f).release(busMessage(sealedMessage(f, r))));
    expect([v1.entry.value[1], v2.entry.value[1]]).toEqual([1, 2]);
    expect(v2.entry.value.length).toBeLessThan(v1.entry.value.length);
    expect(f.codec.open(v2.entry.value, f.relayKey)).toEqual(f.codec.open(v1.entry.value, f.relayKey));
  });

  it('redacts named values before sealing', () => {
    const f = relayFixture({ redact: ['heartRateMeanBpm', 'absent'] });
    const r = vitalsRecord('sol-1', T0, RELEASABLE, { readings: 4, heartRateMeanBpm: 71.5 });
    const out = released(releaser(f).release(busMessage(sealedMessage(f, r))));
    expect(out.redacted).toEqual(['heartRateMeanBpm']);
    expect((f.codec.open(out.entry.value, f.relayKey) as DerivedRecord).values).toEqual({ readings: 4 });
  });

  it('alertsOnly releases alerts (flash) and counts the rest as sampled', () => {
    const f = relayFixture({ sample: { alertsOnly: true } });
    const rel = releaser(f);
    expect(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1', T0, RELEASABLE))))).toEqual({ verdict: 'sampled' });
    const alert = released(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1/hr-high/raised', T0, RELEASABLE, { alarm: true, heartRateBpm: 181 })))));
    expect(alert).toMatchObject({ alert: true, entry: { priority: 'flash' } });
    expect(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1/hr-high/cleared', T0, RELEASABLE, { alarm: false }))))).toEqual({ verdict: 'sampled' });
  });

  it('an alert above the ceiling is still withheld', () => {
    const f = relayFixture({ sample: { alertsOnly: true } });
    expect(releaser(f).release(busMessage(sealedMessage(f, vitalsRecord('sol-1/x/raised', T0, TOP, { alarm: true }))))).toMatchObject({ verdict: 'withheld', reason: 'above-ceiling' });
  });

  it('windowEverySeconds releases one window per key per period, and revisions of released windows', () => {
    const f = relayFixture({ sample: { windowEverySeconds: 60 } });
    const rel = releaser(f);
    const verdicts = [0, 10_000, 20_000, 60_000, 70_000].map((dt) => rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1', T0 + dt, RELEASABLE)))).verdict);
    expect(verdicts).toEqual(['release', 'sampled', 'sampled', 'release', 'sampled']);
    expect(rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-2', T0 + 10_000, RELEASABLE)))).verdict).toBe('release');
    const revision = rel.release(busMessage(sealedMessage(f, vitalsRecord('sol-1', T0 + 60_000, RELEASABLE, { readings: 5 }, 1))));
    expect(released(revision).entry.headers?.[RELAY_ID_HEADER]).toBe(`sol-1|${T0 + 60_000}|${T0 + 70_000}#1`);
  });
});

describe('WindowSampler', () => {
  it('keeps the first window of each period per key', () => {
    const s = new WindowSampler(1000);
    expect([0, 500, 1000, 1999, 2500, 2500].map((t) => s.admit('a', t))).toEqual([true, false, true, false, true, true]);
  });
});

/** Seals `plain` with the nonce of `sealed` under the fixture's theatre key (a record the codec would not write). */
function resealPlaintext(sealed: Uint8Array, plain: Buffer, f: RelayFixture): Buffer {
  // Envelope: 0x93, version, bin8 header (0xc4 24) + nonce, bin header + ciphertext.
  const nonce = sealed.subarray(4, 28);
  const ct = secretboxSeal(plain, nonce, f.theatreKey.key);
  const head = ct.length < 256 ? Buffer.from([0xc4, ct.length]) : Buffer.from([0xc5, ct.length >> 8, ct.length & 0xff]);
  return Buffer.concat([Buffer.from(sealed.subarray(0, 28)), head, Buffer.from(ct)]);
}
