import { spawn } from 'node:child_process';
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

/** The environment of a spawned CLI without the VIGIL_* variables CI sets for its brokers. */
function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
}

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
    expect(refused.stderr).toBe(`vigil: VIGIL_E_KEY_FILE_WRITE: cannot write ${devFile}: it already exists (pass --force to replace it)\n`);
    expect((await vigil('keys', 'gen', 'device', 'uav-7', '-o', join(dir, 'spare.key.json'))).code).toBe(0);
    expect((await vigil('keys', 'gen', 'device', 'uav-7', '-o', join(dir, 'spare.key.json'), '--force')).code).toBe(0);
    expect((await vigil('pki', 'init', '--dir', join(dir, 'pki'))).code).toBe(0);
    const ca = await vigil('pki', 'init', '--dir', join(dir, 'pki'));
    expect(ca.code).toBe(2);
    expect(ca.stderr).toMatch(/^vigil: VIGIL_E_KEY_FILE_WRITE: cannot write .*ca\.key: it already exists \(pass --force to replace it\)$/m);

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
    const cases: [string[], RegExp][] = [
      // invalid option arguments (issue 14's four examples)
      [['tap', 'telemetry.position', '--limit', 'abc'], /option '-n, --limit <n>' argument 'abc' is invalid\. must be a non-negative integer/],
      [['device', 'add', '--rate', 'abc'], /option '--rate <fps>' argument 'abc' is invalid\. a positive number/],
      [['device', 'add', '-r', 'r.yaml', '-k', 'k.json', '--theatre', 'n', '--unit', 'u', '--kinds', 'position,lasers'], /option '--kinds <list>' argument 'position,lasers' is invalid\. "lasers" is not a reading kind/],
      [['keys', 'gen', 'device', 'x', '-o', 'x.json', '--epoch', '-1'], /option '-e, --epoch <n>' argument '-1' is invalid\. an integer in 0\.\.4294967295/],
      [['keys', 'gen', '--epoch', '-1'], /unknown option '--epoch'/],
      // unknown command and option, missing argument
      [['nosuch'], /unknown command 'nosuch'/],
      [['config', 'check', '--nope'], /unknown option '--nope'/],
      [['tap'], /missing required argument 'stream'/],
      [['device', 'revoke', '-r', 'r.yaml'], /missing required argument 'deviceId'/],
    ];
    for (const [args, message] of cases) {
      const r = await vigil(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^vigil: VIGIL_E_CLI_USAGE: /);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
    expect((await vigil('--version')).code).toBe(0);
    expect((await vigil('config', '--help')).code).toBe(0);
  });

  it.each([['config', 'options'], ['--help'], ['keys', 'gen', 'stream', '--help'], ['nosuch']].map((a) => [a.join(' '), a] as const))(
    'ends quietly when its reader goes away before it writes (vigil %s | head): no EPIPE stack trace',
    async (_name, args) => {
      // The built CLI, as a shell pipe runs it; the reader's end is closed before the CLI has started.
      const child = spawn(process.execPath, ['bin/vigil.js', ...args], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).not.toMatch(/EPIPE|Error:|\n\s+at /);
      expect(code).toBe(args[0] === 'nosuch' ? 2 : 0);
    },
  );

  it('refuses a YAML tag it does not know and a key given twice with VIGIL_E_CONFIG_READ, and no raw YAMLWarning on stderr', async () => {
    const tagged = join(dir, 'tagged.yaml');
    writeFileSync(tagged, 'log:\n  level: !!js/function "function () { return 1 }"\n');
    const child = spawn(process.execPath, ['bin/vigil.js', 'config', 'check', '-c', tagged], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toBe(`vigil: VIGIL_E_CONFIG_READ: config file ${tagged} is not valid YAML: the tag !!js/function is not allowed (line 2): a configuration holds plain values only\n`);

    const twice = join(dir, 'twice.json');
    writeFileSync(twice, '{\n  "gateway": { "id": "gw-1" },\n  "gateway": { "id": "gw-2" }\n}\n');
    const r = await vigil('config', 'check', '-c', twice);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`vigil: VIGIL_E_CONFIG_READ: config file ${twice} is not valid JSON: the key "gateway" is given twice (line 3)\n`);
  });

  it('reports a missing required option without exiting the process', async () => {
    const r = await vigil('keys', 'gen', 'device', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/VIGIL_E_CLI_USAGE: required option '-o, --out <file>' not specified/);
  });

  it('says clearly when a frame argument is neither a file nor hex', async () => {
    const r = await vigil('frame', 'inspect', 'not-hex-at-all');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vigil: VIGIL_E_CLI_USAGE: "not-hex-at-all" is neither a file nor hex bytes/);
  });

  it('reads a frame file only up to the largest frame: a file that never ends is refused, not read for ever', async () => {
    const r = await vigil('frame', 'inspect', '/dev/zero');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vigil: VIGIL_E_FRAME_TOO_LARGE: \/dev\/zero holds more than 131072 bytes: not a frame \(a frame is at most 32768 bytes/);
  });
});
