import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { startKafka, type KafkaService } from '../../scripts/services';
import { KafkaBus } from '../../src/bus';
import { startRelay, type RunningRelay } from '../../src/cli/relay-command';
import { loadConfig } from '../../src/config';
import { labelVerdict } from '../../src/relay';
import { installCliCapture } from '../cli/cli-harness';
import { until } from '../harness/until';
import { GBR_ONLY, policyDoc, RELEASABLE, relayFixture, sealedMessage, TOP, vitalsRecord, writeFixtureKeys } from './relay-fixture';

/**
 * The relay on the secure Kafka variant (SASL_SSL, SCRAM-SHA-512, the StandardAuthorizer):
 * one cluster plays theatre and command, with a relay user for each end holding exactly the
 * ACLs `vigil kafka grant relay` and `relay-destination` give. The relay delivers with them,
 * writes its signed summaries as the theatre user, and a destination its ACLs do not cover
 * fails with VIGIL_E_BUS_DENIED naming the topic, never printing a password.
 */
const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const run = randomBytes(4).toString('hex');
const users = { [`relay-t-${run}`]: `pt-${randomBytes(12).toString('hex')}`, [`relay-c-${run}`]: `pc-${randomBytes(12).toString('hex')}` };
const theatreUser = `relay-t-${run}`;
const commandUser = `relay-c-${run}`;
const prefix = `rs${run}.`;
const dest = `cmd${run}.theatre.north.derived.vitals`;
const denied = `cmd${run}.not-granted`;
let kafka: KafkaService;
let dir = '';
const f = relayFixture();
const envBrokers = process.env.VIGIL_KAFKA_BROKERS;
const passwordVar = `TEST_RELAY_COMMAND_PASSWORD_${run}`;

function logSink(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

describe('vigil relay on SASL_SSL Kafka with ACLs per end (real Kafka)', () => {
  const vigil = installCliCapture();

  beforeAll(async () => {
    // These configs name the secure broker; the integration project's variable would override them.
    delete process.env.VIGIL_KAFKA_BROKERS;
    kafka = await startKafka({ secure: { users } });
    const security = kafka.security as NonNullable<KafkaService['security']>;
    dir = await writeFixtureKeys(f);
    writeFileSync(join(dir, 'admin.pass'), `${security.admin.password}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'theatre.pass'), `${users[theatreUser]}\n`, { mode: 0o600 });
    process.env[passwordVar] = users[commandUser];
    writeFileSync(join(dir, 'policy.yaml'), stringify(policyDoc({ destination: dest })));
    writeFileSync(join(dir, 'policy-denied.yaml'), stringify({ ...policyDoc({ destination: denied }), name: 'north-denied' }));
    const kafkaSection = (user: string, passwordFile: string) => ({ brokers: [kafka.brokers], topicPrefix: prefix, partitions: 2, ssl: { caFile: security.caFile }, sasl: { username: user, passwordFile } });
    writeFileSync(join(dir, 'admin.yaml'), stringify({ kafka: kafkaSection('admin', 'admin.pass') }));
    const relaySection = { brokers: [kafka.brokers], ssl: { caFile: security.caFile }, sasl: { username: commandUser, passwordEnv: passwordVar }, dataDir: 'data', auditIntervalSeconds: 3600 };
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ log: { level: 'info' }, http: { port: 0 }, kafka: kafkaSection(theatreUser, 'theatre.pass'), relay: { ...relaySection, policyFile: 'policy.yaml' } }));
    writeFileSync(join(dir, 'denied.yaml'), stringify({ log: { level: 'info' }, http: { port: 0 }, kafka: kafkaSection(theatreUser, 'theatre.pass'), relay: { ...relaySection, policyFile: 'policy-denied.yaml', dataDir: 'data-denied' } }));
  }, 240_000);

  afterAll(async () => {
    delete process.env[passwordVar];
    if (envBrokers !== undefined) process.env.VIGIL_KAFKA_BROKERS = envBrokers;
    await kafka?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('an operator provisions each end as the admin: topics with vigil kafka init, each end\'s role with vigil kafka grant', async () => {
    const admin = join(dir, 'admin.yaml');
    for (const args of [
      ['kafka', 'init', '-p', 'vitals', '--relay', join(dir, 'policy.yaml'), '-c', admin],
      ['kafka', 'init', '--relay', join(dir, 'policy-denied.yaml'), '-p', 'vitals', '-c', admin],
      ['kafka', 'init', '--relay-destination', join(dir, 'policy.yaml'), '-c', admin],
      ['kafka', 'init', '--relay-destination', join(dir, 'policy-denied.yaml'), '-c', admin],
      ['kafka', 'grant', 'relay', theatreUser, '--policy', join(dir, 'policy.yaml'), '-c', admin],
      ['kafka', 'grant', 'relay', theatreUser, '--policy', join(dir, 'policy-denied.yaml'), '-c', admin],
      ['kafka', 'grant', 'relay-destination', commandUser, '--policy', join(dir, 'policy.yaml'), '-c', admin],
    ]) {
      const r = await vigil(...args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  }, 120_000);

  it('delivers the releasable records with each end\'s credentials and writes signed summaries the admin can verify', async () => {
    const security = kafka.security as NonNullable<KafkaService['security']>;
    const adminBus = new KafkaBus({ brokers: [kafka.brokers], ssl: { ca: readFileSync(security.caFile) }, sasl: { mechanism: 'scram-sha-512', ...security.admin }, clientId: 'relay-secure-admin', logLevel: 'nothing' });
    const records = Array.from({ length: 18 }, (_, i) => vitalsRecord(`sol-${i % 4}`, T0 + i * 10_000, [RELEASABLE, TOP, GBR_ONLY][i % 3] as typeof RELEASABLE));
    const releasable = records.filter((r) => labelVerdict(r.label, f.policy.destination.ceiling) === 'release').length;
    const log = logSink();
    let relay: RunningRelay | undefined;
    try {
      await adminBus.producer().send(`${prefix}derived.vitals`, records.map((r) => sealedMessage(f, r)));
      relay = await startRelay(loadConfig({ file: join(dir, 'vigil.yaml') }), { baseDir: dir, logStream: log.stream });
      const running = relay;
      await until(() => running.relay.stats().relayed === releasable, 90_000, 'records relayed').catch((err: Error) => {
        throw new Error(`${err.message}; relay log:\n${log.lines().slice(-15).join('\n')}`);
      });
      expect(relay.relay.stats().withheld).toEqual({ 'above-ceiling': 6, 'not-releasable': 6, unreadable: 0 });
    } finally {
      await relay?.stop();
      await adminBus.close();
    }
    const text = log.lines().join('\n');
    for (const password of Object.values(users)) expect(text).not.toContain(password);
    expect(text).toContain('"msg":"release summary written"');

    const verified = await vigil('relay', 'verify-audit', '-c', join(dir, 'admin.yaml'), '--policy', join(dir, 'policy.yaml'), '--public-key', Buffer.from(f.signingKey.sign.publicKey).toString('base64'), '--json');
    expect({ code: verified.code, stderr: verified.stderr }).toEqual({ code: 0, stderr: '' });
    const totals = JSON.parse(verified.stdout) as { topic: string; summaries: number; streams: Array<Record<string, unknown>> };
    expect(totals.topic).toBe(`${prefix}vigil.audit.relay.north-to-command`);
    expect(totals.streams).toEqual([expect.objectContaining({ source: 'derived.vitals', destination: dest, released: releasable, delivered: releasable, withheld: { 'above-ceiling': 6, 'not-releasable': 6, unreadable: 0 } })]);
  }, 240_000);

  it('a destination its ACLs do not cover: VIGIL_E_BUS_DENIED naming the topic, nothing secret in the log', async () => {
    const log = logSink();
    const relay = await startRelay(loadConfig({ file: join(dir, 'denied.yaml') }), { baseDir: dir, logStream: log.stream });
    try {
      await until(() => log.lines().some((l) => l.includes('"code":"VIGIL_E_BUS_DENIED"')), 90_000, 'a denied send logged').catch((err: Error) => {
        throw new Error(`${err.message}; relay log:\n${log.lines().slice(-15).join('\n')}`);
      });
    } finally {
      await relay.stop();
    }
    const line = log.lines().find((l) => l.includes('"code":"VIGIL_E_BUS_DENIED"')) as string;
    expect(line).toContain(denied);
    expect(line).toMatch(/ACLs do not allow it/);
    expect(relay.relay.stats().link).toBe('down');
    const text = log.lines().join('\n');
    for (const password of Object.values(users)) expect(text).not.toContain(password);
  }, 240_000);
});
