import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDeviceKeys, readDeviceKeyFile, readIngestKeyFile, writeKeyFile } from '../../src/crypto';
import { readRegistryFile } from '../../src/registry';
import { ARCHETYPE_PROFILES, createFleet, loadProvisionedFleet, provisionFleet, SIM_FILES } from '../../src/sim';

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');

describe('provisionFleet', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sim-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes 0600 key files and a registry the registry reader accepts, with matching public keys and archetype profiles', async () => {
    const fleet = createFleet({ seed: 5, vehicles: 2, soldiers: 2, ugs: 1, uavs: 1, theatre: 'east', unit: 'bde-2' }, { startMs: Date.UTC(2026, 0, 1) });
    const p = await provisionFleet({ dir, fleet, ingestKeyId: 'ingest-test' });
    expect(p.created).toEqual(['sol-001', 'sol-002', 'uav-001', 'ugs-001', 'veh-001', 'veh-002']);
    expect(p.reused).toEqual([]);
    expect(statSync(p.ingestKeyFile).mode & 0o777).toBe(0o600);
    const ingest = await readIngestKeyFile(p.ingestKeyFile);
    expect(ingest.keyId).toBe('ingest-test');
    expect(p.ingestPublicKey).toBe(b64(ingest.box.publicKey));

    const doc = readRegistryFile(p.registryFile);
    expect(doc.devices.map((d) => d.id)).toEqual(fleet.devices.map((d) => d.deviceId));
    for (const d of fleet.devices) {
      const file = p.deviceKeyFiles[d.deviceId] as string;
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const keys = await readDeviceKeyFile(file);
      const entry = doc.devices.find((x) => x.id === d.deviceId);
      const profile = ARCHETYPE_PROFILES[d.archetype];
      expect(entry).toMatchObject({
        status: 'active', class: profile.deviceClass, priority: profile.priority, ceiling: profile.ceiling, kinds: profile.kinds,
        requireSignature: profile.requireSignature, theatre: 'east', unit: 'bde-2', epoch: 1,
        keys: { '1': { box: b64(keys.box.publicKey), sign: b64(keys.sign.publicKey) } },
      });
    }
    expect(doc.devices.find((d) => d.id === 'ugs-001')).toMatchObject({ priority: 'flash', requireSignature: true });

    const manifest = JSON.parse(readFileSync(p.manifestFile, 'utf8')) as { config: unknown; ingestPublicKey: string };
    expect(manifest.config).toEqual(fleet.config);
    expect(readFileSync(p.manifestFile, 'utf8')).not.toMatch(/secret/i);
  });

  it('is idempotent: a second run reuses every key and leaves the registry untouched; more devices are added', async () => {
    const first = await provisionFleet({ dir, fleet: { vehicles: 1, soldiers: 1, ugs: 1, uavs: 0 } });
    const registryBefore = readFileSync(first.registryFile, 'utf8');
    const mtime = statSync(first.registryFile).mtimeMs;
    const keyBefore = readFileSync(first.deviceKeyFiles['veh-001'] as string, 'utf8');
    const second = await provisionFleet({ dir, fleet: { vehicles: 1, soldiers: 1, ugs: 1, uavs: 0 } });
    expect(second.created).toEqual([]);
    expect(second.reused).toEqual(['sol-001', 'ugs-001', 'veh-001']);
    expect(second.ingestPublicKey).toBe(first.ingestPublicKey);
    expect(readFileSync(first.registryFile, 'utf8')).toBe(registryBefore);
    expect(statSync(first.registryFile).mtimeMs).toBe(mtime);
    expect(readFileSync(second.deviceKeyFiles['veh-001'] as string, 'utf8')).toBe(keyBefore);

    const third = await provisionFleet({ dir, fleet: { vehicles: 2, soldiers: 1, ugs: 1, uavs: 0 } });
    expect(third.created).toEqual(['veh-002']);
    expect(readRegistryFile(third.registryFile).devices.map((d) => d.id)).toEqual(['veh-001', 'sol-001', 'ugs-001', 'veh-002']);

    const loaded = await loadProvisionedFleet(dir);
    expect(loaded.manifest.config.vehicles).toBe(2);
    expect(loaded.manifest.ingestPublicKey).toBe(first.ingestPublicKey);
    expect([...loaded.keys.keys()]).toEqual(['veh-001', 'veh-002', 'sol-001', 'ugs-001']);
  });

  it('refuses a registry that lists a fleet device under other keys, and a directory that was never provisioned', async () => {
    const p = await provisionFleet({ dir, fleet: { vehicles: 1, soldiers: 0, ugs: 0, uavs: 0 } });
    rmSync(p.deviceKeyFiles['veh-001'] as string);
    await writeKeyFile(p.deviceKeyFiles['veh-001'] as string, { type: 'device', keys: generateDeviceKeys('veh-001', 1) });
    await expect(provisionFleet({ dir, fleet: { vehicles: 1, soldiers: 0, ugs: 0, uavs: 0 } })).rejects.toMatchObject({
      code: 'VIGIL_E_REGISTRY_INVALID',
      message: expect.stringMatching(/"veh-001" is registered with other keys/),
    });
    const empty = mkdtempSync(join(tmpdir(), 'vigil-sim-empty-'));
    try {
      await expect(loadProvisionedFleet(empty)).rejects.toMatchObject({ code: 'VIGIL_E_CONFIG_READ', message: expect.stringMatching(/vigil sim provision/) });
      writeFileSync(join(empty, SIM_FILES.manifest), JSON.stringify({ format: 2 }));
      await expect(loadProvisionedFleet(empty)).rejects.toMatchObject({ code: 'VIGIL_E_CONFIG_INVALID' });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
