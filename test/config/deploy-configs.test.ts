import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config';
import { pipelineCatalogue } from '../../src/cli/pipeline-catalogue';
import { parseRelayPolicy } from '../../src/relay';

const root = join(__dirname, '..', '..');

interface ComposeService {
  readonly command?: readonly string[];
  readonly environment?: Record<string, string>;
  readonly volumes?: readonly string[];
  readonly depends_on?: Record<string, unknown>;
}

// docker-compose.yml cannot be run here (no Docker engine), so what can go wrong in it
// without Docker is checked instead: every Vigil service's config file plus its environment
// passes the configuration schema, and Prometheus scrapes each of them.
describe('shipped configuration files', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  const services = compose.services;
  const vigil = Object.entries(services).filter(([, s]) => s.command !== undefined && ['gateway', 'worker', 'console'].includes(s.command[0] ?? ''));
  const configOf = (s: ComposeService): ReturnType<typeof loadConfig> => {
    const mount = (s.volumes ?? []).find((v) => v.endsWith(':/etc/vigil:ro'));
    if (mount === undefined) throw new Error('no /etc/vigil mount');
    const file = join(root, mount.split(':')[0] as string, 'vigil.yaml');
    return loadConfig({ file, env: s.environment ?? {} });
  };

  it('deploy/gateway/vigil.yaml is valid', () => {
    const cfg = loadConfig({ file: join(root, 'deploy', 'gateway', 'vigil.yaml'), env: {} });
    expect(cfg.gateway).toMatchObject({ id: 'gw-1', dataDir: '/var/lib/vigil', fsync: 'always' });
    expect(cfg.http.host).toBe('0.0.0.0');
  });

  it('docker-compose.yml runs Kafka, its init step, Mosquitto, Prometheus, one gateway and two workers', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['kafka', 'kafka-init', 'mosquitto', 'prometheus', 'gateway', 'worker-1', 'worker-2']));
    expect(vigil.map(([name, s]) => `${name}:${s.command?.[0]}`).sort()).toEqual(['console:console', 'gateway:gateway', 'worker-1:worker', 'worker-2:worker']);
    expect(services.kafka?.command).toEqual(['/bin/bash', '/etc/kafka/vigil/start.sh']);
    expect(readFileSync(join(root, 'deploy', 'kafka', 'server.properties'), 'utf8')).toMatch(/^process\.roles=broker,controller$/m);
  });

  it('every Vigil service reaches the compose Kafka over SASL_SSL as its own user, once kafka-init has run, with the files it names mounted', () => {
    const users: Record<string, string> = {};
    for (const [name, s] of [...vigil, ['kafka-init', services['kafka-init'] as ComposeService] as const]) {
      const cfg = configOf(s);
      expect([name, cfg.kafka.brokers]).toEqual([name, ['kafka:9092']]);
      expect([name, cfg.kafka.ssl?.caFile, cfg.kafka.sasl?.mechanism]).toEqual([name, 'tls/ca.crt', 'scram-sha-512']);
      users[name] = cfg.kafka.sasl?.username ?? '';
      // Every file the config names under tls/ is mounted there from deploy/secrets.
      const named = [cfg.kafka.ssl?.caFile, cfg.kafka.sasl?.passwordFile, cfg.mqtt.tls?.caFile, cfg.mqtt.tls?.certFile, cfg.mqtt.tls?.keyFile, cfg.http.tls?.certFile, cfg.http.tls?.keyFile].filter((f): f is string => f !== undefined);
      for (const f of named) expect([name, f, (s.volumes ?? []).some((v) => v.startsWith('./deploy/secrets/') && v.includes(`:/etc/vigil/${f}:ro`))]).toEqual([name, f, true]);
      if (name !== 'kafka-init') {
        expect([name, cfg.http.host]).toEqual([name, '0.0.0.0']);
        expect(s.depends_on).toHaveProperty('kafka-init');
      }
    }
    expect(users).toEqual({ gateway: 'gw-1', 'worker-1': 'worker', 'worker-2': 'worker', console: 'console', 'kafka-init': 'admin' });
    // The console holds the keys of exactly the streams it offers, mounted one by one.
    const console = configOf(services.console as ComposeService);
    for (const stream of console.console.streams) expect((services.console?.volumes ?? []).some((v) => v.endsWith(`:/etc/vigil/keys/${stream}.key.json:ro`))).toBe(true);
    const gateway = configOf(services.gateway as ComposeService);
    expect(gateway.mqtt.url).toBe('mqtts://mosquitto:8883');
    expect(gateway.mqtt.tls).toEqual({ caFile: 'tls/ca.crt', certFile: 'tls/gateway.crt', keyFile: 'tls/gateway.key' });
  });

  it('the two workers run every pipeline under different Kafka client ids (one consumer group per pipeline)', () => {
    const w1 = configOf(services['worker-1'] as ComposeService);
    const w2 = configOf(services['worker-2'] as ComposeService);
    expect(w1.kafka.clientId).not.toBe(w2.kafka.clientId);
    expect(w1.worker).toEqual(w2.worker);
    const names = w1.worker.pipelines.length > 0 ? w1.worker.pipelines : [...pipelineCatalogue().keys()];
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect(w1.kafka.partitions).toBeGreaterThanOrEqual(2);
  });

  it('the relay (profile federation) reads the theatre as relay and writes command-kafka as that cluster\'s relay, every file it names mounted', () => {
    const relay = services.relay as ComposeService;
    expect(relay.command).toEqual(['relay', '--config', '/etc/vigil/vigil.yaml']);
    const cfg = configOf(relay);
    expect(cfg.kafka).toMatchObject({ brokers: ['kafka:9092'], ssl: { caFile: 'tls/ca.crt' }, sasl: { username: 'relay', passwordFile: 'tls/kafka.pass' } });
    expect(cfg.relay).toMatchObject({ brokers: ['command-kafka:9092'], ssl: { caFile: 'tls/ca.crt' }, sasl: { username: 'relay', passwordFile: 'tls/command-kafka.pass' }, signingKeyFile: 'keys/relay-signing.key.json' });
    const mounted = (f: string): boolean => (relay.volumes ?? []).some((v) => v.endsWith(`:/etc/vigil/${f}:ro`));
    for (const f of [cfg.kafka.ssl?.caFile, cfg.kafka.sasl?.passwordFile, cfg.relay.ssl?.caFile, cfg.relay.sasl?.passwordFile, cfg.relay.signingKeyFile]) expect([f, mounted(f as string)]).toEqual([f, true]);
    // The policy is valid, and each key file it names is mounted: the theatre's from the workers' keys, the relay's from deploy/secrets.
    const policy = parseRelayPolicy(parse(readFileSync(join(root, 'deploy', 'relay', cfg.relay.policyFile), 'utf8')));
    for (const s of policy.streams) {
      expect([s.sourceKeyFile, (relay.volumes ?? []).some((v) => v.startsWith('./deploy/worker/keys/') && v.endsWith(`:/etc/vigil/${s.sourceKeyFile}:ro`))]).toEqual([s.sourceKeyFile, true]);
      expect([s.relayKeyFile, (relay.volumes ?? []).some((v) => v.startsWith('./deploy/secrets/relay/') && v.endsWith(`:/etc/vigil/${s.relayKeyFile}:ro`))]).toEqual([s.relayKeyFile, true]);
    }
    // Its destination topics are what command-kafka-init creates (same partitions the relay asks for).
    const admin = configOf(services['command-kafka-init'] as ComposeService);
    expect(admin.kafka).toMatchObject({ brokers: ['command-kafka:9092'], sasl: { username: 'admin' }, partitions: cfg.kafka.partitions });
    expect(String(services['command-kafka-init']?.command)).toContain('kafka grant relay-destination relay --policy /etc/vigil/relay-policy.yaml');
  });

  it('Prometheus scrapes the gateway and both workers on their http ports', () => {
    const prom = parse(readFileSync(join(root, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((x) => x.targets));
    for (const [name, s] of vigil) expect(targets).toContain(`${name}:${configOf(s).http.port}`);
    expect(targets).toContain(`relay:${configOf(services.relay as ComposeService).http.port}`);
  });
});
