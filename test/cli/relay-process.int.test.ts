import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KafkaBus } from '../../src/bus';
import { canonicalJson, labelVerdict, summaryDigest } from '../../src/relay';
import { metricSum, readKafka, until } from '../edge/gateway/gateway-fixture';
import { GBR_ONLY, policyDoc, RELEASABLE, relayFixture, sealedMessage, TOP, vitalsRecord, writeFixtureKeys } from '../relay/relay-fixture';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

/** The environment of a spawned CLI without the VIGIL_* variables CI sets for its brokers. */
function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
}

// The built CLI as an operator runs it (npm run build first): config, policy, keys on disk,
// theatre and destination on the test Kafka under different names.
describe('vigil relay (the built CLI as a process)', () => {
  const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
  let child: ChildProcess | undefined;
  let dir = '';

  afterEach(() => {
    if (child?.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('relays the releasable records, serves /metrics, and stops cleanly on SIGTERM', async () => {
    const f = relayFixture();
    dir = await writeFixtureKeys(f);
    const run = randomBytes(4).toString('hex');
    const prefix = `relaycli${run}.`;
    const dest = `cmd${run}.theatre.north.derived.vitals`;
    const doc = policyDoc({ destination: dest });
    writeFileSync(join(dir, 'policy.yaml'), stringify(doc));
    writeFileSync(join(dir, 'vigil.yaml'), stringify({ log: { level: 'info' }, kafka: { brokers: [brokers], topicPrefix: prefix, partitions: 2 }, relay: { brokers: [brokers], policyFile: 'policy.yaml', dataDir: 'data', auditIntervalSeconds: 1, recordCompression: 'deflate' }, http: { port: 0 } }));

    const records = Array.from({ length: 30 }, (_, i) => vitalsRecord(`sol-${i % 4}`, T0 + i * 10_000, i % 3 === 1 ? TOP : i % 3 === 2 ? GBR_ONLY : RELEASABLE));
    const releasable = records.filter((r) => labelVerdict(r.label, f.policy.destination.ceiling) === 'release');
    const bus = new KafkaBus({ brokers: [brokers], clientId: 'relay-cli-test', logLevel: 'nothing' });
    try {
      await bus.admin().ensureTopics([{ topic: `${prefix}derived.vitals`, partitions: 2 }]);
      await bus.producer().send(`${prefix}derived.vitals`, records.map((r) => sealedMessage(f, r)));
    } finally {
      await bus.close();
    }

    child = spawn(process.execPath, ['bin/vigil.js', 'relay', '--config', join(dir, 'vigil.yaml')], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    await until(() => /"msg":"relay started"/.test(stdout) || child?.exitCode !== null, 60_000, 'relay started');
    expect({ exit: child.exitCode, stderr }).toEqual({ exit: null, stderr: '' });
    const started = JSON.parse(stdout.split('\n').find((l) => l.includes('"relay started"')) as string) as { http: string; ceiling: string };
    expect(started.ceiling).toBe('SECRET//REL TO FRA, GBR');

    await until(async () => (await metricSum(started.http, /^vigil_relay_records_total/)) === releasable.length, 60_000, 'records relayed').catch((err: Error) => {
      throw new Error(`${err.message}; relay log:\n${stdout.split('\n').slice(-15).join('\n')}`);
    });
    expect(await metricSum(started.http, /^vigil_relay_withheld_total\{reason="above-ceiling"/)).toBe(10);
    expect(await metricSum(started.http, /^vigil_relay_withheld_total\{reason="not-releasable"/)).toBe(10);
    expect(await metricSum(started.http, /^vigil_relay_link_up/)).toBe(1);
    expect((await fetch(`${started.http}/readyz`)).status).toBe(200);
    // relay.auditIntervalSeconds: 1: signed summaries are written while it runs.
    await until(async () => (await metricSum(started.http, /^vigil_relay_audit_summaries_total/)) >= 2, 30_000, 'release summaries written');

    const got = await readKafka(brokers, [dest], (msgs) => msgs.length >= releasable.length, 60_000);
    expect(got).toHaveLength(releasable.length);
    for (const m of got) expect(labelVerdict(f.codec.open(m.value as Buffer, f.relayKey).label, f.policy.destination.ceiling)).toBe('release');
    // relay.recordCompression: deflate: compressed before sealing (record version 2), and opened by the same codec every reader uses.
    expect(got.map((m) => (m.value as Buffer)[1])).toEqual(got.map(() => 2));

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('"msg":"release summary written"');

    // The signed summaries the relay left on the theatre: verified by an auditor holding only the public key.
    const pub = Buffer.from(f.signingKey.sign.publicKey).toString('base64');
    const verify = (): { status: number | null; stdout: string; stderr: string } => {
      const r = spawnSync(process.execPath, ['bin/vigil.js', 'relay', 'verify-audit', '--config', join(dir, 'vigil.yaml'), '--policy', join(dir, 'policy.yaml'), '--public-key', pub], { cwd: join(__dirname, '..', '..'), env: cliEnv(), encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = verify();
    expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: '' });
    expect(ok.stdout).toContain(`${prefix}vigil.audit.relay.north-to-command: `);
    expect(ok.stdout).toContain('every signature verifies, the chain is unbroken');
    expect(ok.stdout).toContain(`derived.vitals -> ${dest} | ${releasable.length} | ${releasable.length} | 10 / 10 / 0 | 0 | 0 | 0 / 0 / 0`);

    // A summary appended by someone without the relay's key is refused, with the place it was found.
    const auditTopic = `${prefix}vigil.audit.relay.north-to-command`;
    const [last] = await readKafka(brokers, [auditTopic], (msgs) => msgs.some((m) => m.value?.toString().includes('"reason":"shutdown"') === true), 30_000).then((msgs) => msgs.slice(-1));
    const signed = JSON.parse((last?.value as Buffer).toString()) as { summary: { seq: number; prevDigest: string | null }; signature: string };
    const forged = { ...signed, summary: { ...signed.summary, seq: signed.summary.seq + 1, prevDigest: summaryDigest(signed.summary as never) } };
    const writer = new KafkaBus({ brokers: [brokers], clientId: 'relay-cli-test-forger', logLevel: 'nothing' });
    try {
      await writer.producer().send(auditTopic, [{ key: 'north-to-command', value: Buffer.from(canonicalJson(forged)) }]);
    } finally {
      await writer.close();
    }
    const refused = verify();
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`VIGIL_E_RELAY_AUDIT_SIGNATURE: ${auditTopic.replace(/\./g, '\\.')} partition 0 offset \\d+: seq ${signed.summary.seq + 1}: the Ed25519 signature`));
  }, 180_000);
});
