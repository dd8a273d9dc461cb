import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const ROOT = join(__dirname, '..', '..');

/** `docker-compose` (1.29, Debian's; .ci/run installs it) or `docker compose` (v2), whichever this machine has. */
function compose(): string[] | null {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  return null;
}

describe('docker-compose.yml', () => {
  it('validates with docker-compose config (no engine needed) and names every service', () => {
    const file = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as Record<string, unknown>;
    // Compose 1.29 refuses a top-level `name:`; the project name is in .env instead.
    expect(file.name).toBeUndefined();
    expect(readFileSync(join(ROOT, '.env'), 'utf8')).toMatch(/^COMPOSE_PROJECT_NAME=vigil$/m);
    const cmd = compose();
    // CI installs docker-compose, so there this check always runs.
    if (process.env.CI === 'true') expect(cmd).not.toBeNull();
    if (cmd === null) return;
    const [bin, ...pre] = cmd as [string, ...string[]];
    execFileSync(bin, [...pre, '-f', 'docker-compose.yml', 'config', '-q'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const services = execFileSync(bin, [...pre, '-f', 'docker-compose.yml', 'config', '--services'], { cwd: ROOT }).toString().trim().split('\n').sort();
    expect(services).toEqual(['command-kafka', 'command-kafka-init', 'console', 'gateway', 'grafana', 'kafka', 'kafka-init', 'mosquitto', 'prometheus', 'relay', 'worker-1', 'worker-2']);
  });

  it('puts the command cluster and the relay in the federation profile only, the relay after both ends are provisioned', () => {
    const file = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { profiles?: string[]; ports?: string[]; depends_on?: Record<string, unknown>; environment?: Record<string, string>; volumes?: string[] }> };
    const inProfile = Object.entries(file.services).filter(([, svc]) => svc.profiles !== undefined).map(([name, svc]) => [name, svc.profiles]);
    expect(inProfile).toEqual([
      ['command-kafka', ['federation']],
      ['command-kafka-init', ['federation']],
      ['relay', ['federation']],
    ]);
    expect(Object.keys(file.services.relay?.depends_on ?? {}).sort()).toEqual(['command-kafka-init', 'kafka-init']);
    // Host ports on loopback, apart from the theatre's.
    expect(file.services['command-kafka']?.ports).toEqual(['127.0.0.1:29093:29092']);
    expect(file.services.relay?.ports).toEqual(['127.0.0.1:9465:9464']);
    // The relay holds one key of each side per stream, and its signing key; never a command key of anything else.
    const keys = (file.services.relay?.volumes ?? []).map((v) => v.split(':')[1]).filter((t) => t?.includes('/keys/'));
    expect(keys.sort()).toEqual(['/etc/vigil/keys/derived.geofence.key.json', '/etc/vigil/keys/derived.vitals.key.json', '/etc/vigil/keys/relay-signing.key.json', '/etc/vigil/keys/relay.derived.geofence.key.json', '/etc/vigil/keys/relay.derived.vitals.key.json']);
  });

  it('deploy/kafka/start.sh runs the command cluster from the same config: its name, host port and users substituted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-start-sh-'));
    try {
      mkdirSync(join(dir, 'bin'));
      mkdirSync(join(dir, 'secrets'));
      // Shims: what the image's scripts would be given.
      writeFileSync(join(dir, 'bin', 'kafka-storage.sh'), `#!/bin/bash\necho "$@" > ${join(dir, 'storage.args')}\n`, { mode: 0o755 });
      writeFileSync(join(dir, 'bin', 'kafka-server-start.sh'), `#!/bin/bash\ncp "$1" ${join(dir, 'started.properties')}\n`, { mode: 0o755 });
      for (const u of ['admin', 'relay', 'analyst']) writeFileSync(join(dir, 'secrets', `${u}.pass`), `${u}-password\n`);
      const file = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment: Record<string, string> }> };
      const env = file.services['command-kafka']?.environment as Record<string, string>;
      execFileSync('bash', [join(ROOT, 'deploy', 'kafka', 'start.sh')], { env: { ...process.env, ...env, KAFKA_SECRETS: join(dir, 'secrets'), KAFKA_CONFIG: join(ROOT, 'deploy', 'kafka', 'server.properties'), KAFKA_BIN: join(dir, 'bin'), TMPDIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
      const props = readFileSync(join(dir, 'started.properties'), 'utf8');
      expect(props).toMatch(/^controller\.quorum\.voters=1@command-kafka:9093$/m);
      expect(props).toMatch(/^advertised\.listeners=INTERNAL:\/\/command-kafka:9092,HOST:\/\/localhost:29093$/m);
      expect(props.replace(/command-kafka|29093/g, '')).toBe(readFileSync(join(ROOT, 'deploy', 'kafka', 'server.properties'), 'utf8').replace(/(?<=@|\/\/)kafka(?=:9093|:9092)|29092(?=\n)/g, ''));
      const args = readFileSync(join(dir, 'storage.args'), 'utf8');
      expect(args).toContain('--add-scram SCRAM-SHA-512=[name=admin,password=admin-password]');
      expect(args).toContain('--add-scram SCRAM-SHA-512=[name=relay,password=relay-password]');
      expect(args).not.toContain('name=gw-1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets tools on the host reach Kafka, on loopback only, and only over SASL_SSL', () => {
    const file = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { ports?: string[] }> };
    expect(file.services.kafka?.ports).toEqual(['127.0.0.1:29092:29092']);
    const props = readFileSync(join(ROOT, 'deploy', 'kafka', 'server.properties'), 'utf8');
    expect(props).toMatch(/^advertised\.listeners=.*HOST:\/\/localhost:29092/m);
    // Secure by default: every listener authenticates; no PLAINTEXT one, no anonymous access.
    const map = /^listener\.security\.protocol\.map=(.*)$/m.exec(props)?.[1] ?? '';
    expect(map.split(',').map((e) => e.split(':')[1]).sort()).toEqual(['SASL_PLAINTEXT', 'SASL_SSL', 'SASL_SSL']);
    expect(map).toMatch(/CONTROLLER:SASL_PLAINTEXT/);
    expect(props).toMatch(/^allow\.everyone\.if\.no\.acl\.found=false$/m);
    expect(props).toMatch(/^super\.users=User:admin$/m);
    const mosquitto = readFileSync(join(ROOT, 'deploy', 'mosquitto', 'mosquitto.conf'), 'utf8');
    expect(mosquitto.match(/^listener .*/gm)).toEqual(['listener 8883 0.0.0.0']);
    expect(mosquitto).toMatch(/^allow_anonymous false$/m);
    expect(mosquitto).toMatch(/^require_certificate true$/m);
  });
});
