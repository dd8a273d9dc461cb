import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateSigningKey, readSigningKeyFile } from '../../src/crypto';
import { relayPolicyDigest } from '../../src/relay';
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

  it('--check prints the policy digest the release summaries carry', async () => {
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc()));
    const r = await vigil('relay', '--policy', join(dir, 'policy.yaml'), '--check');
    expect(r.stdout).toContain(`digest ${relayPolicyDigest(relayFixture().policy)}`);
  });

  it('--check with a configuration checks the signing key and says where summaries go, with its public key', async () => {
    const signing = await readSigningKeyFile(join(dir, 'keys', 'relay-signing.key.json'));
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc()));
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ kafka: { topicPrefix: 'ex1.' }, relay: { policyFile: 'policy.yaml' } }));
    const r = await vigil('relay', '--config', join(dir, 'vigil.yaml'), '--check');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`release summaries to ex1.vigil.audit.relay.north-to-command every 60 s, signed with relay.north-to-command (public key ${Buffer.from(signing.sign.publicKey).toString('base64')})`);
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ relay: { policyFile: 'policy.yaml', signingKeyFile: 'relay.key.json' } }));
    const wrong = await vigil('relay', '--config', join(dir, 'vigil.yaml'), '--check');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('VIGIL_E_KEY_FILE_INVALID: config key "relay.signingKeyFile": key file');
    expect(wrong.stderr).toContain('holds a stream key, expected signing');
  });

  it('refuses to run without its signing key, naming relay.signingKeyFile and how to make one', async () => {
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc()));
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ relay: { policyFile: 'policy.yaml', brokers: ['127.0.0.1:9'], signingKeyFile: 'keys/none.key.json' } }));
    const r = await vigil('relay', '--config', join(dir, 'vigil.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VIGIL_E_KEY_FILE_READ: config key "relay.signingKeyFile": cannot read key file');
    expect(r.stderr).toContain('vigil keys gen signing relay.north-to-command');
  });

  it('refuses a destination password in the config file in clear, without echoing it', async () => {
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ relay: { brokers: ['127.0.0.1:9'], sasl: { username: 'relay-north', password: 'hunter2-secret' } } }));
    const r = await vigil('relay', '--config', join(dir, 'vigil.yaml'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('relay.sasl.password');
    expect(r.stderr).toContain('relay.sasl.passwordFile');
    expect(r.stderr).not.toContain('hunter2-secret');
  });

  it('vigil keys gen signing writes a 0600 key file and the public key for verifiers', async () => {
    const r = await vigil('keys', 'gen', 'signing', 'relay.north', '-o', join(dir, 'signing.key.json'), '--public-out', join(dir, 'signing.pub'));
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const printed = JSON.parse(r.stdout) as { signPublicKey: string };
    expect(statSync(join(dir, 'signing.key.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'signing.pub'), 'utf8')).toBe(`${printed.signPublicKey}\n`);
    expect((await readSigningKeyFile(join(dir, 'signing.key.json'))).keyId).toBe('relay.north');
  });

  it('verify-audit refuses a public key that is not one, before reaching Kafka', async () => {
    const r = await vigil('relay', 'verify-audit', '--relay', 'north', '--public-key', 'bm90IGEga2V5');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("VIGIL_E_CLI_USAGE: --public-key bm90IGEga2V5: expected the relay's Ed25519 public key");
    const none = await vigil('relay', 'verify-audit', '--public-key', Buffer.from(generateSigningKey('k').sign.publicKey).toString('base64'));
    expect(none.stderr).toContain('name the relay with exactly one of --relay <name>, --policy <file> or --topic <audit topic>');
  });

  it('vigil kafka grant relay / relay-destination take the relay policy', async () => {
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc()));
    const theatre = await vigil('kafka', 'grant', 'relay', 'relay-north', '--policy', join(dir, 'policy.yaml'), '--dry-run');
    expect(theatre.code).toBe(0);
    expect((JSON.parse(theatre.stdout) as { acls: string[] }).acls).toEqual(expect.arrayContaining(['READ topic derived.vitals', 'WRITE topic vigil.audit.relay.north-to-command', 'READ group vigil.relay.north-to-command']));
    const command = await vigil('kafka', 'grant', 'relay-destination', 'relay-north', '--policy', join(dir, 'policy.yaml'), '--dry-run');
    expect((JSON.parse(command.stdout) as { acls: string[] }).acls).toEqual(['READ topic theatre.north.derived.vitals', 'WRITE topic theatre.north.derived.vitals', 'DESCRIBE topic theatre.north.derived.vitals', 'DESCRIBE_CONFIGS topic theatre.north.derived.vitals', 'READ group vigil.relay.north-to-command.*', 'DESCRIBE group vigil.relay.north-to-command.*']);
    const missing = await vigil('kafka', 'grant', 'relay', 'relay-north', '--dry-run');
    expect(missing.stderr).toContain('the relay role is granted for one relay: give its policy with --policy');
  });
});
