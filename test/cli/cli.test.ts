import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { installCliCapture } from './cli-harness';
import { buildFrameBySpec } from '../codec/spec-builder';
import { FrameSealer } from '../../src/codec';
import { boxSharedKey, getCryptoBackend, readDeviceKeyFile, readIngestKeyFile } from '../../src/crypto';
import { readRegistryFile } from '../../src/registry';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const vigil = installCliCapture();

describe('vigil CLI', () => {
  it('generates keys, manages the registry, and inspects a frame end to end', async () => {
    const ingestFile = join(dir, 'ingest.key.json');
    const devFile = join(dir, 'uav-7.key.json');
    const dev2File = join(dir, 'uav-7.e2.key.json');
    const reg = join(dir, 'registry.yaml');

    const ing = await vigil('keys', 'gen', 'ingest', 'ingest-1', '-o', ingestFile);
    expect(ing.code).toBe(0);
    expect(JSON.parse(ing.stdout)).toMatchObject({ type: 'ingest', keyId: 'ingest-1', boxPublicKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) });
    expect(statSync(ingestFile).mode & 0o777).toBe(0o600);
    expect((await vigil('keys', 'gen', 'device', 'uav-7', '-o', devFile)).code).toBe(0);
    expect((await vigil('keys', 'gen', 'device', 'uav-7', '--epoch', '2', '-o', dev2File)).code).toBe(0);
    expect((await vigil('keys', 'gen', 'stream', 'telemetry.position-1', '-o', join(dir, 's.key.json'))).code).toBe(0);

    const refused = await vigil('keys', 'gen', 'device', 'uav-7', '-o', devFile);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/VIGIL_E_KEY_FILE_WRITE/);

    const add = await vigil('device', 'add', '-r', reg, '-k', devFile, '--theatre', 'north', '--unit', 'recon-3', '--class', 'uav', '--priority', 'flash', '--ceiling', 'SECRET', '--kinds', 'position,power', '--require-signature');
    expect(add.code).toBe(0);
    const dup = await vigil('device', 'add', '-r', reg, '-k', devFile, '--theatre', 'north', '--unit', 'recon-3');
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/already in the registry/);
    const badKind = await vigil('device', 'add', '-r', reg, '-k', devFile, '--theatre', 'n', '--unit', 'u', '--kinds', 'sonar');
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(/VIGIL_E_CLI_USAGE: .*"sonar" is not a reading kind; allowed: position, vitals/);

    const list = await vigil('device', 'list', '-r', reg);
    expect(list.stdout).toMatch(/^device\s+status\s+class/);
    expect(list.stdout).toMatch(/uav-7\s+active\s+uav\s+flash\s+north\/recon-3\s+SECRET\s+1\s+signed/);

    // A signed frame sealed the way a sensor would; inspect opens it with the registry's public keys.
    const dk = await readDeviceKeyFile(devFile);
    const ik = await readIngestKeyFile(ingestFile);
    const frame = new FrameSealer().seal(
      { deviceId: 'uav-7', epoch: 1, seq: 42n, eventTimeMs: Date.UTC(2026, 10, 28), readings: [{ kind: 'power', offsetMs: 0, batteryPct: 77, voltageV: 23.9 }] },
      boxSharedKey(ik.box.publicKey, dk.box.secretKey),
      { signer: getCryptoBackend().createSigner(dk.sign.seed) },
    );
    const hexFile = join(dir, 'frame.hex');
    writeFileSync(hexFile, Buffer.from(frame).toString('hex'));
    // Judged as a gateway would have judged it when it was sealed (now it is too old to admit).
    const insp = await vigil('frame', 'inspect', hexFile, '--ingest-key', ingestFile, '--registry', reg, '--at', '2026-11-28T00:00:01Z');
    expect(insp.code).toBe(0);
    const report = JSON.parse(insp.stdout);
    expect(report.header).toMatchObject({ version: 1, deviceId: 'uav-7', epoch: 1, seq: '42', eventTime: '2026-11-28T00:00:00.000Z' });
    expect(report.signed).toBe(true);
    expect(report.body.signatureVerified).toBe(true);
    expect(report.body.readings).toEqual([{ kind: 'power', offsetMs: 0, batteryPct: 77, voltageV: 23.9 }]);

    // A changed ciphertext byte (just before the 64-byte signature): the body no longer opens, and inspect says why.
    const tampered = Buffer.from(frame);
    const at = tampered.length - 64 - 2 - 4; // signature: bin8 header (2 bytes) + 64 bytes
    tampered[at] = (tampered[at] as number) ^ 1;
    const t2 = await vigil('frame', 'inspect', tampered.toString('hex'), '--ingest-key', ingestFile, '--device-key', devFile);
    expect(t2.code).toBe(1);
    expect(JSON.parse(t2.stdout).body.code).toMatch(/^VIGIL_E_(FRAME_AUTH|FRAME_SIGNATURE)$/);

    const rot = await vigil('device', 'rotate', 'uav-7', '-r', reg, '-k', dev2File);
    expect(rot.code).toBe(0);
    expect(readRegistryFile(reg).devices[0]?.epoch).toBe(2);
    const rotWrong = await vigil('device', 'rotate', 'uav-8', '-r', reg, '-k', dev2File);
    expect(rotWrong.stderr).toMatch(/belongs to "uav-7", not "uav-8"/);

    expect((await vigil('device', 'revoke', 'uav-7', '-r', reg)).code).toBe(0);
    expect(readRegistryFile(reg).devices[0]?.status).toBe('revoked');
    const unknown = await vigil('device', 'revoke', 'ghost', '-r', reg);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/VIGIL_E_DEVICE_UNKNOWN: device "ghost" is not in the registry/);
  });

  it('inspect shows the operator holding the keys the reading refused, which the message never quotes', async () => {
    const ingestFile = join(dir, 'ingest.key.json');
    const devFile = join(dir, 'vit-2.key.json');
    expect((await vigil('keys', 'gen', 'ingest', 'ingest-1', '-o', ingestFile)).code).toBe(0);
    expect((await vigil('keys', 'gen', 'device', 'vit-2', '-o', devFile)).code).toBe(0);
    const dk = await readDeviceKeyFile(devFile);
    const ik = await readIngestKeyFile(ingestFile);
    const frame = buildFrameBySpec({
      deviceId: 'vit-2', epoch: 1, seq: 1n, eventTimeMs: Date.UTC(2026, 10, 28), nonce: new Uint8Array(24),
      sharedKey: boxSharedKey(ik.box.publicKey, dk.box.secretKey), body: encode([[5, 0, 50, 24], [2, 0, 301.25, null, null, null]]),
    });
    const r = await vigil('frame', 'inspect', Buffer.from(frame).toString('hex'), '--ingest-key', ingestFile, '--device-key', devFile);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).body).toEqual({
      code: 'VIGIL_E_READING_INVALID', error: 'reading 1: heartRateBpm is out of range 0..300', index: 1, field: 'heartRateBpm', reading: [2, 0, 301.25, null, null, null],
    });
  });

  it('refuses bad command lines with VIGIL_E_CLI_USAGE and exit 2; help and --version exit 0', async () => {
    for (const args of [['tap', 'telemetry.position', '--limit', 'abc'], ['nosuch'], ['keys', 'gen', '--epoch', '-1'], ['device', 'add', '--rate', 'abc']]) {
      const r = await vigil(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^vigil: VIGIL_E_CLI_USAGE: /);
    }
    expect((await vigil('--version')).code).toBe(0);
    expect((await vigil('config', '--help')).code).toBe(0);
  });

  it('ends quietly when its reader goes away (vigil config options | head -1)', () => {
    const r = spawnSync('bash', ['-c', 'node bin/vigil.js config options | head -1'], { cwd: join(__dirname, '..', '..'), encoding: 'utf8' });
    expect(r.stdout).toMatch(/^log\.level /);
    expect(r.stderr).toBe('');
  });

  it('reports a missing required option without exiting the process', async () => {
    const r = await vigil('keys', 'gen', 'device', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/VIGIL_E_CLI_USAGE: required option '-o, --out <file>' not specified/);
  });

  it('says clearly when a frame argument is neither a file nor hex', async () => {
    const r = await vigil('frame', 'inspect', 'not-hex-at-all');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/neither a file nor hex bytes/);
  });

  it('reads a frame file only up to the largest frame: a file that never ends is refused, not read for ever', async () => {
    const r = await vigil('frame', 'inspect', '/dev/zero');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/dev\/zero holds more than 131072 bytes: not a frame \(a frame is at most 32768 bytes/);
  });
});
