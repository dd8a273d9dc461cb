import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { ensureKafkaJars, freePort } from '../../scripts/services';
import { startProcess, stopProcess, tailLog, type ServiceProcess } from '../../scripts/services/process';
import { KafkaBus } from '../../src/bus';
import { readSigningKeyFile, readStreamKeyFile } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { installCliCapture } from '../cli/cli-harness';

/**
 * The secure docker-compose stack without Docker (issue 12): deploy/setup.sh makes the
 * secrets; every file the compose services mount from deploy/secrets exists; Kafka runs
 * deploy/kafka/server.properties through deploy/kafka/start.sh (the compose kafka service's
 * own entry point, with the image's bin scripts replaced by shims to the same jars, and
 * only addresses and paths substituted); the kafka-init service's commands run against it
 * with its config and mounts; then each role can do its job and no more, on both the
 * services' and the host's listener, and nobody gets in without credentials.
 */
const ROOT = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { volumes?: string[]; command?: string[] | string; environment?: Record<string, string> }>;
};
const dir = mkdtempSync(join(tmpdir(), 'vigil-secure-stack-'));
const secrets = join(dir, 'secrets');
let kafka: ServiceProcess | undefined;
let internal = 0;
let host = 0;
const buses: KafkaBus[] = [];

/** A service's /etc/vigil as compose mounts it: its config folder plus the files mounted into it. */
function mounts(service: string): string {
  const at = join(dir, 'etc', service);
  for (const v of compose.services[service]?.volumes ?? []) {
    const [src, target] = v.split(':') as [string, string];
    if (!target.startsWith('/etc/vigil')) continue;
    const from = src.startsWith('./deploy/secrets/') ? join(secrets, src.slice('./deploy/secrets/'.length)) : join(ROOT, src);
    const to = join(at, target.slice('/etc/vigil'.length));
    mkdirSync(dirname(to), { recursive: true });
    if (statSync(from).isDirectory()) execFileSync('cp', ['-r', `${from}/.`, to]);
    else copyFileSync(from, to);
  }
  return at;
}

function client(user: string, password: string, port = internal): KafkaBus {
  const b = new KafkaBus({ brokers: [`localhost:${port}`], ssl: { ca: readFileSync(join(secrets, 'ca.crt')) }, sasl: { mechanism: 'scram-sha-512', username: user, password }, retries: 1, maxRetryTimeMs: 500, logLevel: 'nothing' });
  buses.push(b);
  return b;
}
const pass = (user: string): string => readFileSync(join(secrets, `${user}.pass`), 'utf8').trim();

beforeAll(async () => {
  execFileSync('bash', [join(ROOT, 'deploy', 'setup.sh')], { env: { ...process.env, DEPLOY_SECRETS: secrets, VIGIL: `${process.execPath} --import tsx ${join(ROOT, 'scripts', 'vigil-dev.ts')}` }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  // Kafka as the compose service runs it: start.sh with its server.properties, only addresses and paths substituted.
  const libs = ensureKafkaJars();
  [internal, host] = [await freePort(), await freePort()];
  const controller = await freePort();
  const props = readFileSync(join(ROOT, 'deploy', 'kafka', 'server.properties'), 'utf8')
    .replaceAll('kafka:9093', `127.0.0.1:${controller}`)
    .replaceAll('0.0.0.0:9093', `127.0.0.1:${controller}`)
    .replaceAll('0.0.0.0:9092', `127.0.0.1:${internal}`)
    .replaceAll('0.0.0.0:29092', `127.0.0.1:${host}`)
    .replaceAll('INTERNAL://kafka:9092', `INTERNAL://localhost:${internal}`)
    .replaceAll('HOST://localhost:29092', `HOST://localhost:${host}`)
    .replaceAll('/etc/kafka/secrets', secrets)
    .replaceAll('/var/lib/kafka/data', join(dir, 'data'));
  mkdirSync(join(dir, 'kafka'), { recursive: true });
  writeFileSync(join(dir, 'kafka', 'server.properties'), props);
  writeFileSync(join(dir, 'kafka', 'log4j.properties'), 'log4j.rootLogger=INFO, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n');
  const java = `exec java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j.configuration=file:${join(dir, 'kafka', 'log4j.properties')} -cp '${libs}/*'`;
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'kafka-storage.sh'), `#!/bin/bash\n${java} kafka.tools.StorageTool "$@"\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'bin', 'kafka-server-start.sh'), `#!/bin/bash\n${java} kafka.Kafka "$@"\n`, { mode: 0o755 });
  const log = join(dir, 'kafka', 'kafka.log');
  kafka = startProcess('compose-kafka', 'bash', [join(ROOT, 'deploy', 'kafka', 'start.sh')], log, {
    ...process.env,
    KAFKA_SECRETS: secrets,
    KAFKA_CONFIG: join(dir, 'kafka', 'server.properties'),
    KAFKA_BIN: join(dir, 'bin'),
    CLUSTER_ID: compose.services.kafka?.environment?.CLUSTER_ID ?? '',
  });
  for (let i = 0; !readFileSync(log, 'utf8').includes('Kafka Server started'); i++) {
    if (kafka.exited() || i > 1200) throw new Error(`the compose Kafka did not start:\n${tailLog(log, 60)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 240_000);

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  if (kafka) await stopProcess(kafka, 20_000);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the secure docker-compose stack, run without Docker', () => {
  const vigil = installCliCapture();

  it('deploy/setup.sh makes every secret the services mount, private keys and passwords 0600', async () => {
    const sources = Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0] as string)).filter((p) => p.startsWith('./deploy/secrets/'));
    expect(sources.length).toBeGreaterThanOrEqual(10);
    for (const src of sources) expect({ src, exists: existsSync(join(secrets, src.slice('./deploy/secrets/'.length))) }).toEqual({ src, exists: true });
    for (const f of ['pki/ca.key', 'pki/broker/kafka.key', 'pki/broker/mosquitto.key', 'pki/gateway/gw-1.key', 'pki/console/console.key', 'kafka.pem', 'kafka-admin.properties', 'admin.pass', 'gw-1.pass', 'worker.pass', 'analyst.pass', 'console.pass', 'relay.pass', 'pki/broker/command-kafka.key', 'command-kafka.pem', 'command-kafka-admin.properties', 'command-admin.pass', 'command-relay.pass', 'command-analyst.pass', 'relay/relay-signing.key.json', 'relay/relay.derived.vitals.key.json', 'relay/relay.derived.geofence.key.json']) {
      expect({ f, mode: statSync(join(secrets, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    }
    // The relay's keys are valid key files, and verifiers get the signing key's public half.
    const signing = await readSigningKeyFile(join(secrets, 'relay', 'relay-signing.key.json'));
    expect(readFileSync(join(secrets, 'relay', 'relay-signing.pub'), 'utf8').trim()).toBe(Buffer.from(signing.sign.publicKey).toString('base64'));
    expect((await readStreamKeyFile(join(secrets, 'relay', 'relay.derived.vitals.key.json'))).keyId).toBe('relay.north.derived.vitals-1');
    // The CA key never goes into a container.
    expect(JSON.stringify(compose.services)).not.toContain('ca.key');
    // Run again: nothing is replaced.
    const before = readFileSync(join(secrets, 'gw-1.pass'), 'utf8');
    execFileSync('bash', [join(ROOT, 'deploy', 'setup.sh')], { env: { ...process.env, DEPLOY_SECRETS: secrets, VIGIL: `${process.execPath} --import tsx ${join(ROOT, 'scripts', 'vigil-dev.ts')}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(readFileSync(join(secrets, 'gw-1.pass'), 'utf8')).toBe(before);
  });

  it('the kafka-init service provisions topics and ACLs with its own config and mounts', async () => {
    const etc = mounts('kafka-init');
    const command = [compose.services['kafka-init']?.command ?? []].flat().join(' ');
    const steps = command.split('&&').map((c) => c.trim().replace(/^node bin\/vigil\.js /, '').split(/\s+/));
    expect(steps.map((s) => `${s[0]} ${s[1]}`)).toEqual(['kafka init', 'kafka grant', 'kafka grant', 'kafka grant', 'kafka grant', 'kafka grant']);
    const env = process.env.VIGIL_KAFKA_BROKERS;
    process.env.VIGIL_KAFKA_BROKERS = `localhost:${internal}`;
    try {
      for (const step of steps) {
        const r = await vigil(...step.map((a) => (a.startsWith('/etc/vigil/') ? join(etc, a.slice('/etc/vigil/'.length)) : a)));
        expect({ step: step.join(' '), code: r.code, err: r.stderr }).toEqual({ step: step.join(' '), code: 0, err: '' });
      }
    } finally {
      if (env === undefined) delete process.env.VIGIL_KAFKA_BROKERS;
      else process.env.VIGIL_KAFKA_BROKERS = env;
    }
  }, 120_000);

  it('each role does its job on the services\' listener and the host\'s, and no more; no credentials, no entry', async () => {
    await client('gw-1', pass('gw-1')).producer().send('telemetry.vitals', [{ key: 'sol-1', value: Buffer.from('r') }]);
    await client('worker', pass('worker')).producer().send('derived.vitals', [{ key: 'sol-1', value: Buffer.from('w') }]);
    expect((await client('analyst', pass('analyst'), host).admin().listTopics()).sort()).toEqual(['derived.geofence', 'derived.vitals']);
    expect((await client('console', pass('console')).admin().listTopics()).sort()).toEqual(['derived.geofence', 'derived.vitals']);
    const denied = await client('gw-1', pass('gw-1')).producer().send('derived.vitals', [{ key: 'k', value: Buffer.from('x') }]).catch((e: unknown) => e);
    expect(isVigilError(denied, 'VIGIL_E_BUS_DENIED')).toBe(true);
    // The relay (profile federation) sees its sources and its audit topic, writes the audit topic, and nothing else.
    const relay = client('relay', pass('relay'));
    expect((await relay.admin().listTopics()).sort()).toEqual(['derived.geofence', 'derived.vitals', 'vigil.audit.relay.north-to-command']);
    await relay.producer().send('vigil.audit.relay.north-to-command', [{ key: 'north-to-command', value: Buffer.from('{}') }]);
    const forged = await relay.producer().send('derived.vitals', [{ key: 'k', value: Buffer.from('x') }]).catch((e: unknown) => e);
    expect(isVigilError(forged, 'VIGIL_E_BUS_DENIED')).toBe(true);
    const wrong = await client('analyst', 'guessed-password', host).admin().listTopics().catch((e: unknown) => e);
    expect(isVigilError(wrong, 'VIGIL_E_BUS_AUTH')).toBe(true);
    // No plaintext listener: a client without TLS gets no answer it can use.
    const plain = new KafkaBus({ brokers: [`127.0.0.1:${internal}`], retries: 0, connectionTimeoutMs: 2000, requestTimeoutMs: 4000, logLevel: 'nothing' });
    buses.push(plain);
    expect(isVigilError(await plain.admin().listTopics().catch((e: unknown) => e))).toBe(true);
  }, 120_000);
});
