import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextKeyId } from '../../src/cli/keys-command';
import { generateStreamKey, parseKeyFile, readStreamKeyFile, readStreamKeyRing, writeKeyFile } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { installCliCapture } from './cli-harness';

describe('stream key rings (vigil keys rotate stream)', () => {
  const vigil = installCliCapture();
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-ring-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('rotates: a new current key, the old ones kept to read what they sealed, mode 0600; a plain key file is a ring of one', async () => {
    const file = join(dir, 'telemetry.key.json');
    const first = generateStreamKey('telemetry-1');
    await writeKeyFile(file, { type: 'stream', key: first });
    expect((await readStreamKeyRing(file)).all.map((k) => k.keyId)).toEqual(['telemetry-1']);
    const r1 = await vigil('keys', 'rotate', 'stream', file);
    expect(r1.code).toBe(0);
    expect(JSON.parse(r1.stdout)).toEqual({ type: 'stream', file, current: 'telemetry-2', older: ['telemetry-1'] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await vigil('keys', 'rotate', 'stream', file, '--key-id', 'tel-2027');
    const ring = await readStreamKeyRing(file);
    expect(ring.current.keyId).toBe('tel-2027');
    expect(ring.all.map((k) => k.keyId)).toEqual(['tel-2027', 'telemetry-2', 'telemetry-1']);
    expect(Buffer.from(ring.all[2]?.key ?? []).equals(Buffer.from(first.key))).toBe(true);
    // Every reader of a single key (the tap, older tools) gets the current one.
    expect((await readStreamKeyFile(file)).keyId).toBe('tel-2027');
    const taken = await vigil('keys', 'rotate', 'stream', file, '--key-id', 'telemetry-1');
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain('already has a key with that id');
  });

  it('retire refuses the current key and a key the ring does not hold, before touching Kafka', async () => {
    const file = join(dir, 'derived.vitals.key.json');
    await writeKeyFile(file, { type: 'stream', key: generateStreamKey('vitals-1') });
    await vigil('keys', 'rotate', 'stream', file);
    const current = await vigil('keys', 'retire', 'stream', file, 'vitals-2', '--topic', 'derived.vitals');
    expect(current.code).toBe(2);
    expect(current.stderr).toContain('is the current key');
    const unknown = await vigil('keys', 'retire', 'stream', file, 'vitals-9', '--topic', 'derived.vitals');
    expect(unknown.stderr).toContain('holds no older key vitals-9; it holds vitals-2, vitals-1');
  });

  it('refuses a ring whose key ids repeat, or a malformed older key, naming the field', () => {
    const k = generateStreamKey('a-1');
    const b64 = Buffer.from(k.key).toString('base64');
    const doc = (older: unknown): string => JSON.stringify({ vigil: 'vigil-key-file', version: 1, type: 'stream', keyId: 'a-1', key: b64, older });
    const err = (text: string): string => {
      try {
        parseKeyFile(text, 'ring.json');
      } catch (e) {
        return isVigilError(e) ? e.message : String(e);
      }
      return 'accepted';
    };
    expect(err(doc([{ keyId: 'a-1', key: b64 }]))).toContain('must differ');
    expect(err(doc([{ keyId: 'a-0', key: 'short' }]))).toContain('older[0].key');
    expect(err(doc('x'))).toContain('field "older"');
    expect(err(doc([{ keyId: 'a-0', key: b64 }]))).toBe('accepted');
  });

  it('counts the key id up, or appends one', () => {
    expect(nextKeyId('telemetry-1', new Set())).toBe('telemetry-2');
    expect(nextKeyId('telemetry-9', new Set(['telemetry-10']))).toBe('telemetry-11');
    expect(nextKeyId('derived.vitals', new Set())).toBe('derived.vitals-2');
  });
});
