import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeLabel } from '../../src/codec';
import { writeKeyFile } from '../../src/crypto';
import { isVigilError, type VigilError } from '../../src/errors';
import { formatLabel, loadRelayKeys, parseLabelText, parseRelayPolicy } from '../../src/relay';
import { policyDoc, relayFixture, writeFixtureKeys } from './relay-fixture';

function failure(f: () => unknown): VigilError {
  try {
    f();
  } catch (err) {
    if (isVigilError(err)) return err;
    throw err;
  }
  throw new Error('expected a VigilError');
}

describe('parseLabelText', () => {
  it('reads a level and REL TO list into the label makeLabel builds', () => {
    expect(parseLabelText('SECRET//REL TO GBR, FRA')).toBe(makeLabel('SECRET', ['FRA', 'GBR']));
    expect(parseLabelText('top secret // REL TO NATO')).toBe(makeLabel('TOP_SECRET', ['NATO']));
    expect(parseLabelText('UNCLASSIFIED')).toBe(makeLabel('UNCLASSIFIED'));
    expect(formatLabel(parseLabelText('SECRET//REL TO GBR, FRA'))).toBe('SECRET//REL TO FRA, GBR');
  });

  it.each([
    ['SECRETISH', 'the level must be one of UNCLASSIFIED, RESTRICTED, CONFIDENTIAL, SECRET, TOP_SECRET'],
    ['SECRET//NOFORN', 'after "//" expected "REL TO"'],
    ['SECRET//REL TO FRA,, GBR', 'an empty releasability code'],
    ['SECRET//REL TO fr', 'releasability code 0 must match'],
    ['SECRET//REL TO A//B', 'at most one "//"'],
  ])('refuses %s', (text, problem) => {
    const e = failure(() => parseLabelText(text));
    expect(e.code).toBe('VIGIL_E_LABEL_INVALID');
    expect(e.message).toContain(problem);
  });
});

describe('parseRelayPolicy', () => {
  it('validates, fills defaults and freezes', () => {
    const p = parseRelayPolicy(policyDoc({ sample: { windowEverySeconds: 60 }, redact: ['heartRateMaxBpm'] }));
    expect(p.destination.ceiling).toBe(makeLabel('SECRET', ['FRA', 'GBR']));
    expect(p.streams[0]).toEqual({
      source: 'derived.vitals',
      destination: 'theatre.north.derived.vitals',
      sourceKeyFile: 'theatre.key.json',
      relayKeyFile: 'relay.key.json',
      priority: 'routine',
      alertField: 'alarm',
      sample: { alertsOnly: false, windowEverySeconds: 60 },
      redact: ['heartRateMaxBpm'],
    });
    expect(Object.isFrozen(p.streams[0])).toBe(true);
  });

  it('names the entry, the value and what is allowed', () => {
    const bad = policyDoc({ priority: 'urgent' });
    (bad.destination as Record<string, unknown>).ceiling = 'SECRET//REL TO fra';
    const e = failure(() => parseRelayPolicy(bad, 'relay policy p.yaml'));
    expect(e.code).toBe('VIGIL_E_RELAY_POLICY');
    expect(e.message).toContain('relay policy p.yaml: "destination.ceiling" has value "SECRET//REL TO fra": label "SECRET//REL TO fra": classification label: releasability code 0 must match');
    expect(e.message).toMatch(/"streams\[0\]\.priority" has value "urgent": .*"flash".*"immediate".*"routine"/);
  });

  it.each([
    [{ source: 'derived.Vitals!' }, '"streams[0].source" has value "derived.Vitals!": expected a derived stream (derived.<pipeline>) or a telemetry kind'],
    [{ source: 'telemetry.sonar' }, '"streams[0].source" has value "telemetry.sonar"'],
    [{ source: 'telemetry.position', redact: ['lat'] }, '"streams[0].redact" has value ["lat"]: redaction drops derived values; telemetry records have none'],
    [{ sample: { alertsOnly: true, windowEverySeconds: 60 } }, '"streams[0].sample"'],
    [{ sample: { everyMinute: true } }, '"streams[0].sample.everyMinute" is not a known key'],
    [{ relayKeyFile: '' }, '"streams[0].relayKeyFile" has value "": expected the path of the relay key file'],
  ])('refuses stream entry %j', (stream, problem) => {
    const e = failure(() => parseRelayPolicy(policyDoc(stream)));
    expect(e.code).toBe('VIGIL_E_RELAY_POLICY');
    expect(e.message).toContain(problem);
  });

  it('refuses a stream listed twice, a missing format and an empty policy', () => {
    const twice = policyDoc();
    twice.streams = [...(twice.streams as unknown[]), ...(twice.streams as unknown[])];
    expect(failure(() => parseRelayPolicy(twice)).message).toContain('"streams[1].source" has value "derived.vitals": "derived.vitals" is relayed twice');
    expect(failure(() => parseRelayPolicy({ ...policyDoc(), format: 2 })).message).toContain('"format" has value 2: expected 1');
    expect(failure(() => parseRelayPolicy(null)).code).toBe('VIGIL_E_RELAY_POLICY');
    expect(failure(() => parseRelayPolicy({ ...policyDoc(), streams: [] })).message).toContain('"streams" has value []: expected at least one stream');
  });
});

describe('loadRelayKeys', () => {
  it('reads the theatre ring (every key) and the relay key, from the policy folder', async () => {
    const f = relayFixture();
    const dir = await writeFixtureKeys(f);
    try {
      const keys = await loadRelayKeys(f.policy, dir);
      const k = keys.get('derived.vitals');
      expect(k?.source.ids()).toEqual([f.theatreKey.keyId, f.olderTheatreKey.keyId]);
      expect(k?.relay.keyId).toBe(f.relayKey.keyId);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the entry when a key file is missing, and refuses a theatre key as relay key', async () => {
    const f = relayFixture();
    const dir = await writeFixtureKeys(f);
    try {
      const missing = parseRelayPolicy(policyDoc({ relayKeyFile: 'absent.key.json' }));
      await expect(loadRelayKeys(missing, dir)).rejects.toMatchObject({ code: 'VIGIL_E_RELAY_POLICY', message: expect.stringContaining('"streams[0].relayKeyFile" (derived.vitals)') });
      await writeKeyFile(join(dir, 'same.key.json'), { type: 'stream', key: { keyId: 'other-id', key: f.theatreKey.key } });
      const same = parseRelayPolicy(policyDoc({ relayKeyFile: 'same.key.json' }));
      await expect(loadRelayKeys(same, dir)).rejects.toMatchObject({ code: 'VIGIL_E_RELAY_POLICY', message: expect.stringContaining('holds a key of the theatre ring') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
