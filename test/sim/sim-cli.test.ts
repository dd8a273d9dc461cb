import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCliCapture } from '../cli/cli-harness';
import { readRegistryFile } from '../../src/registry';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-sim-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const vigil = installCliCapture();

describe('vigil sim', () => {
  it('provisions a fleet directory, idempotently', async () => {
    const first = await vigil('sim', 'provision', '--dir', dir, '--vehicles', '2', '--soldiers', '3', '--ugs', '1', '--uavs', '1', '--seed', '9', '--unit', 'recon-3');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ devices: 7, created: 7, reused: 0, ingestKeyId: 'sim-ingest', ingestPublicKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) });
    const registry = readRegistryFile(join(dir, 'registry.yaml'));
    expect(registry.devices.map((d) => `${d.id}:${d.class}:${d.unit}`)).toEqual([
      'veh-001:vehicle:recon-3', 'veh-002:vehicle:recon-3', 'sol-001:soldier:recon-3', 'sol-002:soldier:recon-3', 'sol-003:soldier:recon-3', 'ugs-001:ugs:recon-3', 'uav-001:uav:recon-3',
    ]);
    expect(statSync(join(dir, 'keys', 'sol-002.key.json')).mode & 0o777).toBe(0o600);

    const again = await vigil('sim', 'provision', '--dir', dir, '--vehicles', '2', '--soldiers', '3', '--ugs', '1', '--uavs', '1', '--seed', '9', '--unit', 'recon-3', '--no-scenarios');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ devices: 7, created: 0, reused: 7, ingestPublicKey: summary.ingestPublicKey });
  });

  it('explains what is wrong: bad counts, an unprovisioned directory', async () => {
    const bad = await vigil('sim', 'provision', '--dir', dir, '--vehicles', 'many');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--vehicles.*an integer in 0\.\.100000/);
    const badTheatre = await vigil('sim', 'provision', '--dir', dir, '--theatre', 'North Sea');
    expect(badTheatre.code).toBe(2);
    expect(badTheatre.stderr).toMatch(/VIGIL_E_CONFIG_INVALID: fleet config: theatre/);
    const run = await vigil('sim', 'run', '--dir', join(dir, 'nothing'), '--mqtt-url', 'mqtt://127.0.0.1:1');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/VIGIL_E_CONFIG_READ: .*provision the fleet first/);
    const noUrl = await vigil('sim', 'run', '--dir', dir);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/--mqtt-url/);
  });
});
