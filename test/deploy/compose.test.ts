import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
    expect(services).toEqual(['console', 'gateway', 'grafana', 'kafka', 'kafka-init', 'mosquitto', 'prometheus', 'worker-1', 'worker-2']);
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
