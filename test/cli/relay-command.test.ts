import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { policyDoc, relayFixture, writeFixtureKeys } from '../relay/relay-fixture';
import { installCliCapture } from './cli-harness';

// CI sets VIGIL_* for its brokers; these runs read only the files they are given.
const saved = Object.entries(process.env).filter(([k]) => k.startsWith('VIGIL_'));
beforeAll(() => {
  for (const [k] of saved) delete process.env[k];
});
afterAll(() => {
  for (const [k, v] of saved) process.env[k] = v;
});

describe('vigil relay', () => {
  const vigil = installCliCapture();
  let dir = '';
  beforeEach(async () => {
    dir = await writeFixtureKeys(relayFixture());
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('--check validates the policy and its keys and says what would be relayed', async () => {
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc()));
    const r = await vigil('relay', '--policy', join(dir, 'policy.yaml'), '--check');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain('valid; destination command-fra-gbr, ceiling SECRET//REL TO FRA, GBR');
    expect(r.stdout).toContain('derived.vitals -> theatre.north.derived.vitals (opens with derived.vitals-2, derived.vitals-1; seals with relay.north.vitals-1)');
  });

  it('refuses a bad policy with a coded error naming the entry (exit 2)', async () => {
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc({ source: 'derived.nope!' })));
    const r = await vigil('relay', '--policy', join(dir, 'policy.yaml'), '--check');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VIGIL_E_RELAY_POLICY');
    expect(r.stderr).toContain('"streams[0].source" has value "derived.nope!"');
  });

  it('refuses a policy that is not YAML, or a key given twice', async () => {
    writeFileSync(join(dir, 'policy.yaml'), 'format: 1\nformat: 1\n');
    const r = await vigil('relay', '--policy', join(dir, 'policy.yaml'), '--check');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VIGIL_E_RELAY_POLICY: relay policy');
    expect(r.stderr).toContain('the key "format" is given twice');
  });

  it('refuses to run without a destination Kafka (relay.brokers), before touching anything', async () => {
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ relay: { policyFile: 'policy.yaml' } }));
    const r = await vigil('relay', '--config', join(dir, 'vigil.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VIGIL_E_CONFIG_INVALID: config key "relay.brokers" is empty');
  });
});
