import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configOptions, loadConfig, type ConfigIssue } from '../../src/config';
import { VigilError } from '../../src/errors';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function failure(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VigilError);
    return e as VigilError;
  }
  throw new Error('expected a VigilError');
}

describe('loadConfig', () => {
  it('gives documented defaults when there is no file and no environment', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg).toMatchObject({
      log: { level: 'info' },
      mqtt: { url: 'mqtt://127.0.0.1:1883', clientId: 'vigil' },
      kafka: { brokers: ['127.0.0.1:9092'], clientId: 'vigil', sendTimeoutMs: 10000, partitions: 6 },
      crypto: { backend: 'auto' },
      gateway: { id: 'gw-1', group: 'vigil-gateways', fsync: 'always', receiveMaximum: 1000 },
      http: { host: '127.0.0.1', port: 9464 },
    });
  });

  it('reads YAML and JSON files, and VIGIL_* variables override them', () => {
    const yaml = file('v.yaml', 'kafka:\n  brokers: [ "10.0.0.1:9092" ]\nhttp:\n  port: 9000\n');
    expect(loadConfig({ file: yaml, env: {} }).kafka.brokers).toEqual(['10.0.0.1:9092']);
    const json = file('v.json', JSON.stringify({ log: { level: 'debug' } }));
    expect(loadConfig({ file: json, env: {} }).log.level).toBe('debug');

    const cfg = loadConfig({ file: yaml, env: { VIGIL_KAFKA_BROKERS: 'a:1, b:2', VIGIL_HTTP_PORT: '0', VIGIL_LOG_LEVEL: 'warn' } });
    expect(cfg.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(cfg.http.port).toBe(0);
    expect(cfg.log.level).toBe('warn');
    expect(cfg.kafka.clientId).toBe('vigil');
  });

  it('refuses a key given twice (JSON and YAML) and YAML tags it does not know, naming the line', () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const json = failure(() => loadConfig({ file: file('d.json', '{"log":{"level":"info"},\n"log":{"level":"debug"}}'), env: {} }));
      expect(json.code).toBe('VIGIL_E_CONFIG_READ');
      expect(json.message).toMatch(/is not valid JSON: the key "log" is given twice \(line 2\)$/);
      const nested = failure(() => loadConfig({ file: file('n.json', '{\n  "kafka": {\n    "brokers": ["a:1"],\n    "brokers": ["b:2"]\n  }\n}'), env: {} }));
      expect(nested.message).toMatch(/is not valid JSON: the key "brokers" is given twice \(line 4\)$/);
      const yaml = failure(() => loadConfig({ file: file('d.yaml', 'log:\n  level: info\n  level: debug\n'), env: {} }));
      expect(yaml.message).toMatch(/is not valid YAML: the key "level" is given twice \(line 3\)$/);
      const tag = failure(() => loadConfig({ file: file('t.yaml', 'log:\n  level: !!js/function "function () {}"\n'), env: {} }));
      expect(tag.code).toBe('VIGIL_E_CONFIG_READ');
      expect(tag.message).toMatch(/is not valid YAML: the tag !!js\/function is not allowed \(line 2\): a configuration holds plain values only$/);
      expect(failure(() => loadConfig({ file: file('c.yaml', 'log: !custom 3\n'), env: {} })).message).toMatch(/the tag !custom is not allowed \(line 1\)/);
      expect(failure(() => loadConfig({ file: file('b.json', '{"log": '), env: {} })).message).toMatch(/is not valid JSON/);
      // Nothing printed on the side (no raw YAMLWarning).
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('takes the file from VIGIL_CONFIG when none is given', () => {
    const yaml = file('v.yaml', 'mqtt:\n  url: mqtt://broker:1884\n');
    expect(loadConfig({ env: { VIGIL_CONFIG: yaml } }).mqtt.url).toBe('mqtt://broker:1884');
  });

  it('returns a deeply frozen object', () => {
    const cfg = loadConfig({ env: {} });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.kafka)).toBe(true);
    expect(Object.isFrozen(cfg.kafka.brokers)).toBe(true);
  });

  it('refuses a wrong type in a file, naming the key, the value, the file and what is allowed', () => {
    const yaml = file('bad.yaml', 'http:\n  port: "nine thousand"\n');
    const e = failure(() => loadConfig({ file: yaml, env: {} }));
    expect(e.code).toBe('VIGIL_E_CONFIG_INVALID');
    expect(e.retriable).toBe(false);
    expect(e.message).toContain('config key "http.port"');
    expect(e.message).toContain('"nine thousand"');
    expect(e.message).toContain(`file ${yaml}`);
    expect(e.message).toMatch(/expected number/);
  });

  it('refuses an out-of-range number and a value outside an enum, saying what is allowed', () => {
    const e1 = failure(() => loadConfig({ env: { VIGIL_HTTP_PORT: '70000' } }));
    expect(e1.message).toContain('config key "http.port" (environment VIGIL_HTTP_PORT) has value 70000');
    expect(e1.message).toMatch(/<=\s*65535/);
    const e2 = failure(() => loadConfig({ env: { VIGIL_LOG_LEVEL: 'loud' } }));
    expect(e2.message).toContain('"loud"');
    expect(e2.message).toContain('"fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"');
  });

  it('takes kafka.replicationFactor -1 (the brokers\' default) or 1 and up, and refuses 0 naming what is allowed', () => {
    expect(loadConfig({ env: {} }).kafka.replicationFactor).toBe(-1);
    expect(loadConfig({ env: { VIGIL_KAFKA_REPLICATION_FACTOR: '3' } }).kafka.replicationFactor).toBe(3);
    const yaml = file('rf.yaml', 'kafka:\n  replicationFactor: 0\n');
    const e = failure(() => loadConfig({ file: yaml, env: {} }));
    expect(e.code).toBe('VIGIL_E_CONFIG_INVALID');
    expect(e.message).toContain(`config key "kafka.replicationFactor" (file ${yaml}) has value 0`);
    expect(e.message).toContain("expected -1 (the brokers' default.replication.factor) or a replication factor from 1 to 32767");
  });

  it('refuses a malformed broker address inside a list', () => {
    const e = failure(() => loadConfig({ env: { VIGIL_KAFKA_BROKERS: '127.0.0.1:9092,nohost' } }));
    expect(e.code).toBe('VIGIL_E_CONFIG_INVALID');
    expect(e.message).toContain('config key "kafka.brokers"');
    expect(e.message).toContain('"nohost"');
    expect(e.message).toContain('expected "host:port"');
  });

  it('refuses an unknown key, listing the keys allowed there', () => {
    const yaml = file('typo.yaml', 'kafka:\n  bokers: ["a:1"]\n');
    const e = failure(() => loadConfig({ file: yaml, env: {} }));
    expect(e.code).toBe('VIGIL_E_CONFIG_UNKNOWN_KEY');
    expect(e.message).toContain('config key "kafka.bokers"');
    expect(e.message).toContain('allowed keys under "kafka": brokers, clientId');
    const issues = e.details.issues as ConfigIssue[];
    expect(issues).toEqual([expect.objectContaining({ key: 'kafka.bokers', value: ['a:1'] })]);

    const top = failure(() => loadConfig({ file: file('top.yaml', 'kafkaa: {}\n'), env: {} }));
    expect(top.message).toContain('allowed keys: log, mqtt, kafka, crypto, gateway, worker, console, http, relay');
  });

  it('refuses an unknown VIGIL_* variable, listing the known ones', () => {
    const e = failure(() => loadConfig({ env: { VIGIL_KAFKA_BROKER: 'a:1' } }));
    expect(e.code).toBe('VIGIL_E_CONFIG_UNKNOWN_KEY');
    expect(e.message).toContain('VIGIL_KAFKA_BROKER');
    expect(e.message).toContain('VIGIL_KAFKA_BROKERS');
  });

  it('leaves benchmark knobs (VIGIL_BENCH_*) alone', () => {
    expect(loadConfig({ env: { VIGIL_BENCH_MS: '500' } }).log.level).toBe('info');
  });

  it('reports every problem at once', () => {
    const e = failure(() => loadConfig({ env: { VIGIL_HTTP_PORT: '-1', VIGIL_LOG_LEVEL: 'x' } }));
    expect((e.details.issues as ConfigIssue[]).map((i) => i.key).sort()).toEqual(['http.port', 'log.level']);
    expect(e.message.split('\n')).toHaveLength(2);
  });

  it('takes kafka.ssl and kafka.sasl, refuses a password in clear without echoing it, and wants exactly one password source', () => {
    const ok = loadConfig({ env: { VIGIL_KAFKA_SSL_CA_FILE: 'pki/ca.crt', VIGIL_KAFKA_SASL_USERNAME: 'gw-1', VIGIL_KAFKA_SASL_PASSWORD_FILE: 'secrets/kafka.pass' } });
    expect(ok.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'gw-1', passwordFile: 'secrets/kafka.pass' });
    expect(ok.kafka.ssl).toEqual({ caFile: 'pki/ca.crt' });
    const clear = failure(() => loadConfig({ file: file('clear.yaml', 'kafka:\n  sasl:\n    username: gw-1\n    password: hunter2-in-clear\n'), env: {} }));
    expect(clear.message).toContain('config key "kafka.sasl.password"');
    expect(clear.message).toContain('passwordFile');
    expect(clear.message).not.toContain('hunter2-in-clear');
    expect(JSON.stringify(clear.details)).not.toContain('hunter2-in-clear');
    const neither = failure(() => loadConfig({ env: { VIGIL_KAFKA_SASL_USERNAME: 'gw-1' } }));
    expect(neither.message).toContain('give exactly one of kafka.sasl.passwordFile and kafka.sasl.passwordEnv');
    const both = failure(() => loadConfig({ env: { VIGIL_KAFKA_SASL_USERNAME: 'gw-1', VIGIL_KAFKA_SASL_PASSWORD_FILE: 'f', VIGIL_KAFKA_SASL_PASSWORD_ENV: 'KAFKA_PASSWORD' } }));
    expect(both.message).toContain('give exactly one');
    const mech = failure(() => loadConfig({ env: { VIGIL_KAFKA_SASL_USERNAME: 'gw-1', VIGIL_KAFKA_SASL_PASSWORD_ENV: 'P', VIGIL_KAFKA_SASL_MECHANISM: 'plain' } }));
    expect(mech.message).toContain('config key "kafka.sasl.mechanism"');
    expect(mech.message).toMatch(/scram-sha-512/);
    const mqttClear = failure(() => loadConfig({ file: file('mqtt.yaml', 'mqtt:\n  username: gw\n  password: mqtt-in-clear\n'), env: {} }));
    expect(mqttClear.message).toContain('config key "mqtt.password"');
    expect(mqttClear.message).not.toContain('mqtt-in-clear');
    expect(failure(() => loadConfig({ env: { VIGIL_MQTT_PASSWORD_FILE: 'f' } })).message).toContain('a password without mqtt.username');
    expect(loadConfig({ env: { VIGIL_MQTT_USERNAME: 'gateway-gw-1', VIGIL_MQTT_PASSWORD_ENV: 'MQTT_PW' } }).mqtt).toMatchObject({ username: 'gateway-gw-1', passwordEnv: 'MQTT_PW' });
    const half = failure(() => loadConfig({ env: { VIGIL_KAFKA_SSL_CA_FILE: 'ca', VIGIL_KAFKA_SSL_CERT_FILE: 'c' } }));
    expect(half.message).toContain('give both kafka.ssl.certFile and kafka.ssl.keyFile');
  });

  it('names the file when it cannot be read or parsed', () => {
    const missing = join(dir, 'missing.yaml');
    const e1 = failure(() => loadConfig({ file: missing, env: {} }));
    expect(e1.code).toBe('VIGIL_E_CONFIG_READ');
    expect(e1.message).toContain(missing);
    const broken = file('broken.json', '{ "log": ');
    const e2 = failure(() => loadConfig({ file: broken, env: {} }));
    expect(e2.code).toBe('VIGIL_E_CONFIG_READ');
    expect(e2.message).toContain('not valid JSON');
    const list = file('list.yaml', '- a\n- b\n');
    expect(failure(() => loadConfig({ file: list, env: {} })).message).toContain('mapping');
    if (process.getuid?.() !== 0) {
      const locked = file('locked.yaml', 'log: {}\n');
      chmodSync(locked, 0o000);
      expect(failure(() => loadConfig({ file: locked, env: {} })).code).toBe('VIGIL_E_CONFIG_READ');
    }
  });
});

describe('docs/configuration.md', () => {
  it('documents every option with its variable and default', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    for (const o of configOptions()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${o.key}\` |`));
      expect({ key: o.key, row }).toEqual({ key: o.key, row: expect.stringContaining(`\`${o.env}\``) });
      expect(row).toContain(`\`${JSON.stringify(o.defaultValue)}\``);
    }
  });
});

describe('config/vigil.example.yaml', () => {
  it('is a valid configuration equal to the defaults', () => {
    const example = loadConfig({ file: join(__dirname, '..', '..', 'config', 'vigil.example.yaml'), env: {} });
    expect(example).toEqual(loadConfig({ env: {} }));
  });
});
