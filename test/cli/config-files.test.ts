import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateIngestKeys, generateStreamKey, writeKeyFile } from '../../src/crypto';
import { createCa, issueCertificate } from '../../src/pki';
import { emptyRegistry, writeRegistryFile } from '../../src/registry';
import { installCliCapture } from './cli-harness';

describe('vigil config check --files', () => {
  const vigil = installCliCapture();
  let dir = '';
  // CI points VIGIL_MQTT_URL / VIGIL_KAFKA_BROKERS at its plaintext brokers; they would override this test's config.
  const saved: Record<string, string | undefined> = {};
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-config-files-'));
    for (const k of Object.keys(process.env).filter((k) => k.startsWith('VIGIL_') && !k.startsWith('VIGIL_BENCH_'))) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
    rmSync(dir, { recursive: true, force: true });
  });

  it('checks every file a gateway reads at start, as it reads them, naming each problem and no secret', async () => {
    mkdirSync(join(dir, 'keys'));
    mkdirSync(join(dir, 'tls'));
    await writeKeyFile(join(dir, 'keys', 'ingest.key.json'), { type: 'ingest', keys: generateIngestKeys('ingest-1') });
    await writeKeyFile(join(dir, 'keys', 'telemetry.key.json'), { type: 'stream', key: generateStreamKey('telemetry-1') });
    writeRegistryFile(join(dir, 'registry.yaml'), emptyRegistry());
    const ca = await createCa({ days: 1 });
    const gw = await issueCertificate(ca, { role: 'gateway', name: 'gw-1', days: 1 });
    writeFileSync(join(dir, 'tls', 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'tls', 'gateway.crt'), gw.certPem);
    writeFileSync(join(dir, 'tls', 'gateway.key'), gw.keyPem, { mode: 0o644 });
    writeFileSync(join(dir, 'tls', 'kafka.pass'), 'kafka-secret-pw\n', { mode: 0o600 });
    writeFileSync(
      join(dir, 'vigil.yaml'),
      stringify({
        mqtt: { url: 'mqtts://broker:8883', tls: { caFile: 'tls/ca.crt', certFile: 'tls/gateway.crt', keyFile: 'tls/gateway.key' } },
        kafka: { ssl: { caFile: 'tls/ca.crt' }, sasl: { username: 'gw-1', passwordFile: 'tls/kafka.pass' } },
        gateway: { registryFile: 'registry.yaml', ingestKeyFile: 'keys/ingest.key.json', streamKeyFile: 'keys/missing.key.json' },
      }),
    );
    const bad = await vigil('config', 'check', '--files', 'gateway', '-c', join(dir, 'vigil.yaml'));
    expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 2, stderr: '' });
    expect(bad.stdout).toMatch(/^FAILED {2}mqtt\.tls: .*VIGIL_E_KEY_FILE_PERMISSIONS/m);
    expect(bad.stdout).toMatch(/^FAILED {2}gateway\.streamKeyFile: .*VIGIL_E_KEY_FILE_READ/m);
    expect(bad.stdout).toMatch(/^ok {6}kafka\.sasl: Kafka password$/m);
    expect(bad.stdout).toMatch(/^ok {6}gateway\.registryFile/m);
    expect(bad.stdout).toContain('4 ok, 2 failed');
    expect(bad.stdout).not.toContain('kafka-secret-pw');
    chmodSync(join(dir, 'tls', 'gateway.key'), 0o600);
    await writeKeyFile(join(dir, 'keys', 'missing.key.json'), { type: 'stream', key: generateStreamKey('telemetry-2') });
    const good = await vigil('config', 'check', '--files', 'gateway', '-c', join(dir, 'vigil.yaml'));
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('6 ok, 0 failed');
    const role = await vigil('config', 'check', '--files', 'admin', '-c', join(dir, 'vigil.yaml'));
    expect(role.code).toBe(2);
  });
});
