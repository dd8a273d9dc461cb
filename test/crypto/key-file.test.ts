import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateDeviceKeys,
  generateIngestKeys,
  generateStreamKey,
  generateSigningKey,
  readSigningKeyFile,
  readDeviceKeyFile,
  readIngestKeyFile,
  readKeyFile,
  readStreamKeyFile,
  writeKeyFile,
  devicePublicKeys,
} from '../../src/crypto';
import { isVigilError, type VigilErrorCode } from '../../src/errors';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<VigilErrorCode | 'no error'> {
  try {
    await p;
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

describe('key files', () => {
  it('writes device keys as JSON/base64 with mode 0600 and reads them back', async () => {
    const keys = generateDeviceKeys('uav-0042', 7);
    const path = join(dir, 'uav.key.json');
    await writeKeyFile(path, { type: 'device', keys });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json).toMatchObject({ vigil: 'vigil-key-file', version: 1, type: 'device', deviceId: 'uav-0042', epoch: 7 });
    expect(Buffer.from(json.box.secretKey, 'base64')).toEqual(Buffer.from(keys.box.secretKey));
    const back = await readDeviceKeyFile(path);
    expect(back).toEqual(keys);
    expect(devicePublicKeys(back)).toEqual({ deviceId: 'uav-0042', epoch: 7, boxPublicKey: keys.box.publicKey, signPublicKey: keys.sign.publicKey });
  });

  it('round-trips ingest and stream keys', async () => {
    const ingest = generateIngestKeys('ingest-1', 'tweetnacl');
    const stream = generateStreamKey('derived.alerts.k2');
    await writeKeyFile(join(dir, 'i.json'), { type: 'ingest', keys: ingest });
    await writeKeyFile(join(dir, 's.json'), { type: 'stream', key: stream });
    expect(await readIngestKeyFile(join(dir, 'i.json'))).toEqual(ingest);
    expect(await readStreamKeyFile(join(dir, 's.json'))).toEqual(stream);
    expect(await codeOf(readDeviceKeyFile(join(dir, 's.json')))).toBe('VIGIL_E_KEY_FILE_INVALID');
  });

  it.each([0o640, 0o604, 0o644, 0o660, 0o601, 0o620])('refuses a key file with mode %s', async (mode) => {
    const path = join(dir, 'k.json');
    await writeKeyFile(path, { type: 'stream', key: generateStreamKey('k') });
    await chmod(path, mode);
    expect(await codeOf(readKeyFile(path))).toBe('VIGIL_E_KEY_FILE_PERMISSIONS');
    await chmod(path, 0o400);
    expect((await readKeyFile(path)).type).toBe('stream');
  });

  it('round-trips a signing key (mode 0600), refuses one whose public key does not match its seed or that others can read', async () => {
    const k = generateSigningKey('relay.north');
    const file = join(dir, 'relay-signing.key.json');
    await writeKeyFile(file, { type: 'signing', key: k });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const back = await readSigningKeyFile(file);
    expect(back.keyId).toBe('relay.north');
    expect(Buffer.from(back.sign.seed)).toEqual(Buffer.from(k.sign.seed));
    expect(Buffer.from(back.sign.publicKey)).toEqual(Buffer.from(k.sign.publicKey));
    expect(await codeOf(readStreamKeyFile(file))).toBe('VIGIL_E_KEY_FILE_INVALID');
    const doc = JSON.parse(await readFile(file, 'utf8')) as { sign: { publicKey: string } };
    doc.sign.publicKey = Buffer.from(generateSigningKey('x').sign.publicKey).toString('base64');
    await writeFile(join(dir, 'bad.json'), JSON.stringify(doc), { mode: 0o600 });
    expect(await codeOf(readSigningKeyFile(join(dir, 'bad.json')))).toBe('VIGIL_E_KEY_FILE_INVALID');
    await chmod(file, 0o640);
    expect(await codeOf(readSigningKeyFile(file))).toBe('VIGIL_E_KEY_FILE_PERMISSIONS');
  });

  it('never overwrites unless asked, and leaves no temporary files', async () => {
    const path = join(dir, 'k.json');
    const first = generateStreamKey('k1');
    await writeKeyFile(path, { type: 'stream', key: first });
    expect(await codeOf(writeKeyFile(path, { type: 'stream', key: generateStreamKey('k2') }))).toBe('VIGIL_E_KEY_FILE_WRITE');
    expect(await readStreamKeyFile(path)).toEqual(first);
    const second = generateStreamKey('k2');
    await writeKeyFile(path, { type: 'stream', key: second }, { overwrite: true });
    expect(await readStreamKeyFile(path)).toEqual(second);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual(['k.json']);
  });

  it('reports unreadable and invalid files with their own codes, never quoting key bytes', async () => {
    expect(await codeOf(readKeyFile(join(dir, 'missing.json')))).toBe('VIGIL_E_KEY_FILE_READ');
    const keys = generateDeviceKeys('d1', 1);
    const good = JSON.parse(JSON.stringify({ vigil: 'vigil-key-file', version: 1, type: 'device', deviceId: 'd1', epoch: 1, box: { publicKey: Buffer.from(keys.box.publicKey).toString('base64'), secretKey: Buffer.from(keys.box.secretKey).toString('base64') }, sign: { publicKey: Buffer.from(keys.sign.publicKey).toString('base64'), seed: Buffer.from(keys.sign.seed).toString('base64') } }));
    const other = generateDeviceKeys('d1', 1);
    const variants: Record<string, unknown>[] = [
      { ...good, version: 2 },
      { ...good, vigil: 'other' },
      { ...good, type: 'pgp' },
      { ...good, deviceId: 'bad id' },
      { ...good, epoch: -1 },
      { ...good, box: { ...good.box, secretKey: 'not base64!' } },
      { ...good, box: { ...good.box, secretKey: Buffer.alloc(31).toString('base64') } },
      { ...good, box: { ...good.box, publicKey: Buffer.from(other.box.publicKey).toString('base64') } },
      { ...good, sign: { ...good.sign, publicKey: Buffer.from(other.sign.publicKey).toString('base64') } },
    ];
    const path = join(dir, 'bad.json');
    for (const v of [...variants, 'not json', [1, 2]]) {
      await writeFile(path, typeof v === 'string' ? v : JSON.stringify(v), { mode: 0o600 });
      try {
        await readKeyFile(path);
        throw new Error('expected rejection');
      } catch (err) {
        expect(isVigilError(err, 'VIGIL_E_KEY_FILE_INVALID')).toBe(true);
        const msg = (err as Error).message;
        expect(msg).not.toContain(good.box.secretKey);
        expect(msg).not.toContain(good.sign.seed);
      }
    }
    await writeFile(path, JSON.stringify(good), { mode: 0o600 });
    expect((await readKeyFile(path)).type).toBe('device');
  });
});
