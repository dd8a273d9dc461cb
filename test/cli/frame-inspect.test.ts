import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCliCapture } from './cli-harness';
import { FrameSealer, type Reading } from '../../src/codec';
import { boxSharedKey, getCryptoBackend, readDeviceKeyFile, readIngestKeyFile } from '../../src/crypto';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-inspect-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const vigil = installCliCapture();

/** Keys for an ingest key and device `uav-9`, and a sealer of its frames (signed or not). */
async function setUp(): Promise<{ ingest: string; device: string; seal: (o: { signed: boolean; seq?: bigint; eventTimeMs?: number; readings?: Reading[] }) => string }> {
  const ingest = join(dir, 'ingest.key.json');
  const device = join(dir, 'uav-9.key.json');
  expect((await vigil('keys', 'gen', 'ingest', 'ingest-1', '-o', ingest)).code).toBe(0);
  expect((await vigil('keys', 'gen', 'device', 'uav-9', '-o', device)).code).toBe(0);
  const dk = await readDeviceKeyFile(device);
  const ik = await readIngestKeyFile(ingest);
  const shared = boxSharedKey(ik.box.publicKey, dk.box.secretKey);
  const seal = (o: { signed: boolean; seq?: bigint; eventTimeMs?: number; readings?: Reading[] }): string =>
    Buffer.from(
      new FrameSealer().seal(
        { deviceId: 'uav-9', epoch: 1, seq: o.seq ?? 1n, eventTimeMs: o.eventTimeMs ?? Date.now(), readings: o.readings ?? [{ kind: 'power', offsetMs: 0, batteryPct: 50, voltageV: 24 }] },
        shared,
        o.signed ? { signer: getCryptoBackend().createSigner(dk.sign.seed) } : {},
      ),
    ).toString('hex');
  return { ingest, device, seal };
}

describe('vigil frame inspect says what the gateway would (the admission chain itself)', () => {
  it('refuses an unsigned frame of a device that requires signatures, with VIGIL_E_FRAME_SIGNATURE and exit 1', async () => {
    const { ingest, device, seal } = await setUp();
    const reg = join(dir, 'registry.yaml');
    expect((await vigil('device', 'add', '-r', reg, '-k', device, '--theatre', 'north', '--unit', 'recon-3', '--require-signature')).code).toBe(0);

    const unsigned = await vigil('frame', 'inspect', seal({ signed: false }), '--ingest-key', ingest, '--registry', reg);
    expect(unsigned.code).toBe(1);
    expect(JSON.parse(unsigned.stdout).body).toEqual({ code: 'VIGIL_E_FRAME_SIGNATURE', error: 'frame from uav-9: signature required but absent' });

    const signed = await vigil('frame', 'inspect', seal({ signed: true }), '--ingest-key', ingest, '--registry', reg);
    expect(signed.code).toBe(0);
    expect(JSON.parse(signed.stdout).body).toEqual({ readings: [{ kind: 'power', offsetMs: 0, batteryPct: 50, voltageV: 24 }], signatureVerified: true });
  });

  it('refuses a frame of a device the registry lacks with VIGIL_E_DEVICE_UNKNOWN and exit 1', async () => {
    const { ingest, seal } = await setUp();
    const other = join(dir, 'other.key.json');
    const reg = join(dir, 'registry.yaml');
    expect((await vigil('keys', 'gen', 'device', 'ugs-1', '-o', other)).code).toBe(0);
    expect((await vigil('device', 'add', '-r', reg, '-k', other, '--theatre', 'north', '--unit', 'recon-3')).code).toBe(0);

    const r = await vigil('frame', 'inspect', seal({ signed: true }), '--ingest-key', ingest, '--registry', reg);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.body).toEqual({ code: 'VIGIL_E_DEVICE_UNKNOWN', error: 'device uav-9 is not in the registry' });
    expect(report.header.deviceId).toBe('uav-9');
  });

  it('applies the registry rules after opening (kinds) and the clock bounds, at --at when given', async () => {
    const { ingest, device, seal } = await setUp();
    const reg = join(dir, 'registry.yaml');
    expect((await vigil('device', 'add', '-r', reg, '-k', device, '--theatre', 'north', '--unit', 'recon-3', '--kinds', 'position')).code).toBe(0);
    const kind = await vigil('frame', 'inspect', seal({ signed: false }), '--ingest-key', ingest, '--registry', reg);
    expect(kind.code).toBe(1);
    const body = JSON.parse(kind.stdout).body;
    expect(body.code).toBe('VIGIL_E_KIND_NOT_ALLOWED');
    // The operator holding the keys sees what the device sent (the gateway's message never quotes it).
    expect(body.decodedBody).toEqual([[5, 0, 50, 24]]);

    const old = seal({ signed: false, eventTimeMs: Date.UTC(2026, 0, 1), readings: [{ kind: 'position', offsetMs: 0, lat: 51, lon: 9, altM: null, speedMps: null, headingDeg: null, accuracyM: null }] });
    const now = await vigil('frame', 'inspect', old, '--ingest-key', ingest, '--registry', reg);
    expect(now.code).toBe(1);
    expect(JSON.parse(now.stdout).body).toMatchObject({ code: 'VIGIL_E_CLOCK_SKEW', error: expect.stringMatching(/behind gateway time; at most 86400 s allowed/) });
    const then = await vigil('frame', 'inspect', old, '--ingest-key', ingest, '--registry', reg, '--at', '2026-01-01T00:01:00Z');
    expect(then.code).toBe(0);
    expect(JSON.parse(then.stdout).body.readings).toHaveLength(1);
  });

  it('needs the device public key to open a body: --registry or --device-key, not both (VIGIL_E_CLI_USAGE, exit 2)', async () => {
    const { ingest, device, seal } = await setUp();
    const frame = seal({ signed: false });
    const none = await vigil('frame', 'inspect', frame, '--ingest-key', ingest);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^vigil: VIGIL_E_CLI_USAGE: --ingest-key opens the body with the device public key: give --registry/);
    const both = await vigil('frame', 'inspect', frame, '--ingest-key', ingest, '--registry', join(dir, 'r.yaml'), '--device-key', device);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/VIGIL_E_CLI_USAGE: give --registry .* or --device-key .*, not both/);
    const bad = await vigil('frame', 'inspect', frame, '--at', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/VIGIL_E_CLI_USAGE: option '--at <time>' argument 'yesterday' is invalid/);
  });
});
