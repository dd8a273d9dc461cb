import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VigilError } from '../errors';
import type { CryptoBackend, CryptoBackendOption } from './backend';
import { BOX_PUBLIC_KEY_BYTES, BOX_SECRET_KEY_BYTES, SECRETBOX_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGN_SEED_BYTES } from './constants';
import { assertEpoch, assertKeyId, boxKeyPairFromSecretKey, signKeyPairFromSeed, type DeviceKeys, type IngestKeys, type SigningKey, type StreamDataKey } from './keys';
import { resolveCryptoBackend } from './select-backend';

/** The contents of a key file: one device's keys, a gateway ingest key, a stream data key, or a process's signing key. */
export type KeyFile =
  | { readonly type: 'device'; readonly keys: DeviceKeys }
  | { readonly type: 'ingest'; readonly keys: IngestKeys }
  | { readonly type: 'signing'; readonly key: SigningKey }
  | { readonly type: 'stream'; readonly key: StreamDataKey; readonly older?: readonly StreamDataKey[] };

export interface WriteKeyFileOptions {
  /** Replace an existing file. Default false: key files are never clobbered by accident. */
  readonly overwrite?: boolean;
  /** How the caller replaces an existing file, for the refusal's message (default "pass overwrite"; the CLI: "pass --force"). */
  readonly overwriteHint?: string;
}

export interface ReadKeyFileOptions {
  /** Backend used to check that public keys match their secret halves. Default `auto`. */
  readonly backend?: CryptoBackend | CryptoBackendOption;
}

const MAGIC = 'vigil-key-file';
const VERSION = 1;
const MAX_FILE_BYTES = 64 * 1024;
/** Any permission bit for group or others makes a secret key file unacceptable (as ssh does). */
const GROUP_OTHER_BITS = 0o077;

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

function toJson(file: KeyFile): Record<string, unknown> {
  const head = { vigil: MAGIC, version: VERSION, type: file.type };
  switch (file.type) {
    case 'device':
      assertKeyId(file.keys.deviceId, 'device id');
      assertEpoch(file.keys.epoch);
      return {
        ...head,
        deviceId: file.keys.deviceId,
        epoch: file.keys.epoch,
        box: { publicKey: b64(file.keys.box.publicKey), secretKey: b64(file.keys.box.secretKey) },
        sign: { publicKey: b64(file.keys.sign.publicKey), seed: b64(file.keys.sign.seed) },
      };
    case 'ingest':
      assertKeyId(file.keys.keyId, 'ingest key id');
      return { ...head, keyId: file.keys.keyId, box: { publicKey: b64(file.keys.box.publicKey), secretKey: b64(file.keys.box.secretKey) } };
    case 'signing':
      assertKeyId(file.key.keyId, 'signing key id');
      return { ...head, keyId: file.key.keyId, sign: { publicKey: b64(file.key.sign.publicKey), seed: b64(file.key.sign.seed) } };
    case 'stream': {
      assertKeyId(file.key.keyId, 'stream key id');
      const older = file.older ?? [];
      for (const k of older) assertKeyId(k.keyId, 'stream key id');
      // A key ring: the current key seals, the older ones (newest first) still open what they sealed.
      return { ...head, keyId: file.key.keyId, key: b64(file.key.key), ...(older.length === 0 ? {} : { older: older.map((k) => ({ keyId: k.keyId, key: b64(k.key) })) }) };
    }
  }
}

/**
 * Writes a key file as JSON (keys in base64) with mode 0600, atomically: a temporary file
 * is written, fsynced and then linked (or, with `overwrite`, renamed) into place, so a crash
 * never leaves a half-written key and a concurrent reader never sees one.
 *
 * @throws VigilError `VIGIL_E_KEY_FILE_WRITE` when the file exists (without `overwrite`) or
 *   cannot be written; `VIGIL_E_KEY_INVALID` for malformed ids.
 */
export async function writeKeyFile(path: string, file: KeyFile, options: WriteKeyFileOptions = {}): Promise<void> {
  await writeFileAtomically(path, JSON.stringify(toJson(file), null, 2) + '\n', { ...options, mode: 0o600 });
}

/**
 * Writes a whole file at once (a temporary file, synced, then linked or renamed into place),
 * so that nobody ever reads half of it; never replaces an existing file unless `overwrite`.
 * `mode` 0600 for anything secret (whatever the umask), 0644 for public files such as
 * certificates.
 *
 * @throws VigilError `VIGIL_E_KEY_FILE_WRITE` naming the file (it exists, a folder is missing…)
 */
export async function writeFileAtomically(path: string, body: string, options: WriteKeyFileOptions & { readonly mode: number }): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', options.mode);
    try {
      // The umask can only clear bits, but be explicit: the mode whatever the umask.
      await fh.chmod(options.mode);
      await fh.writeFile(body, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (options.overwrite === true) await rename(tmp, path);
    else await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'EEXIST' ? `it already exists (${options.overwriteHint ?? 'pass overwrite'} to replace it)` : code === 'ENOENT' ? 'its folder does not exist' : `${code ?? 'error'}`;
    throw new VigilError('VIGIL_E_KEY_FILE_WRITE', `cannot write ${path}: ${reason}`, { details: { path, errno: code }, cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Reads and checks a key file: refuses it when group or others have any access to it
 * (`VIGIL_E_KEY_FILE_PERMISSIONS`), when it is not a valid key file or its public keys do not
 * match its secret keys (`VIGIL_E_KEY_FILE_INVALID`), or when it cannot be read
 * (`VIGIL_E_KEY_FILE_READ`). The permission check uses the open descriptor, so the file that
 * is checked is the file that is read.
 */
export async function readKeyFile(path: string, options: ReadKeyFileOptions = {}): Promise<KeyFile> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new VigilError('VIGIL_E_KEY_FILE_READ', `key file ${path} is not a regular file`, { details: { path } });
      if (process.platform !== 'win32' && (st.mode & GROUP_OTHER_BITS) !== 0) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
        throw new VigilError('VIGIL_E_KEY_FILE_PERMISSIONS', `key file ${path} has mode ${mode}; it must not be accessible by group or others (chmod 600)`, {
          details: { path, mode },
        });
      }
      if (st.size > MAX_FILE_BYTES) throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `key file ${path} is too large to be a key file`, { details: { path } });
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof VigilError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new VigilError('VIGIL_E_KEY_FILE_READ', `cannot read key file ${path}: ${code ?? 'error'}`, { details: { path, errno: code }, cause: err });
  }
  return parseKeyFile(text, path, options);
}

/** Reads a key file that must hold device keys. */
export async function readDeviceKeyFile(path: string, options?: ReadKeyFileOptions): Promise<DeviceKeys> {
  return expectType(await readKeyFile(path, options), 'device', path).keys;
}

/** Reads a key file that must hold an ingest key. */
export async function readIngestKeyFile(path: string, options?: ReadKeyFileOptions): Promise<IngestKeys> {
  return expectType(await readKeyFile(path, options), 'ingest', path).keys;
}

/** Reads a key file that must hold a stream data key. */
export async function readStreamKeyFile(path: string, options?: ReadKeyFileOptions): Promise<StreamDataKey> {
  return expectType(await readKeyFile(path, options), 'stream', path).key;
}

/** Reads a key file that must hold a signing key (a process's own Ed25519 key, e.g. the relay's audit signer). */
export async function readSigningKeyFile(path: string, options?: ReadKeyFileOptions): Promise<SigningKey> {
  return expectType(await readKeyFile(path, options), 'signing', path).key;
}

/** A stream's key ring: the current key (sealing) and every key that opens its records, current first. */
export interface StreamKeyRing {
  readonly current: StreamDataKey;
  readonly all: readonly StreamDataKey[];
}

/**
 * Reads a stream key file as a ring: its key is the current one (new records are sealed
 * with it), `older` keys still open what they sealed (`vigil keys rotate` / `retire`). A file
 * without `older` is a ring of one.
 */
export async function readStreamKeyRing(path: string, options?: ReadKeyFileOptions): Promise<StreamKeyRing> {
  const f = expectType(await readKeyFile(path, options), 'stream', path);
  return { current: f.key, all: [f.key, ...(f.older ?? [])] };
}

function expectType<T extends KeyFile['type']>(file: KeyFile, type: T, path: string): Extract<KeyFile, { type: T }> {
  if (file.type !== type) {
    throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `key file ${path} holds a ${file.type} key, expected ${type}`, { details: { path, type: file.type } });
  }
  return file as Extract<KeyFile, { type: T }>;
}

/**
 * Parses key file JSON (already read). Messages name the offending field, never key bytes.
 */
export function parseKeyFile(text: string, path = '<memory>', options: ReadKeyFileOptions = {}): KeyFile {
  const bad = (what: string): VigilError => new VigilError('VIGIL_E_KEY_FILE_INVALID', `key file ${path}: ${what}`, { details: { path } });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
  const o = doc as Record<string, unknown>;
  if (o.vigil !== MAGIC) throw bad(`field "vigil" must be "${MAGIC}"`);
  if (o.version !== VERSION) throw bad(`unsupported version ${JSON.stringify(o.version)}; this build reads version ${VERSION}`);
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`field "${field}" must be an object`);
    return v as Record<string, unknown>;
  };
  const bytes = (v: unknown, field: string, length: number): Uint8Array => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw bad(`field "${field}" must be base64`);
    const buf = Buffer.from(v, 'base64');
    if (buf.length !== length || buf.toString('base64') !== v) throw bad(`field "${field}" must be ${length} bytes of canonical base64`);
    return new Uint8Array(buf);
  };
  const id = (v: unknown, field: string): string => {
    try {
      assertKeyId(v, field);
    } catch {
      throw bad(`field "${field}" must be 1-64 characters of [A-Za-z0-9._:-]`);
    }
    return v;
  };
  const backend = resolveCryptoBackend(options.backend);
  const boxPair = (v: unknown): { publicKey: Uint8Array; secretKey: Uint8Array } => {
    const box = obj(v, 'box');
    const pair = boxKeyPairFromSecretKey(bytes(box.secretKey, 'box.secretKey', BOX_SECRET_KEY_BYTES), backend);
    if (!equal(pair.publicKey, bytes(box.publicKey, 'box.publicKey', BOX_PUBLIC_KEY_BYTES))) throw bad('box.publicKey does not match box.secretKey');
    return pair;
  };
  const signPair = (v: unknown): { publicKey: Uint8Array; seed: Uint8Array } => {
    const s = obj(v, 'sign');
    const pair = signKeyPairFromSeed(bytes(s.seed, 'sign.seed', SIGN_SEED_BYTES), backend);
    if (!equal(pair.publicKey, bytes(s.publicKey, 'sign.publicKey', SIGN_PUBLIC_KEY_BYTES))) throw bad('sign.publicKey does not match sign.seed');
    return pair;
  };
  switch (o.type) {
    case 'device': {
      const deviceId = id(o.deviceId, 'deviceId');
      if (typeof o.epoch !== 'number' || !Number.isInteger(o.epoch) || o.epoch < 0 || o.epoch > 0xffffffff) throw bad('field "epoch" must be an integer in 0..4294967295');
      const box = boxPair(o.box);
      return { type: 'device', keys: { deviceId, epoch: o.epoch, box, sign: signPair(o.sign) } };
    }
    case 'ingest':
      return { type: 'ingest', keys: { keyId: id(o.keyId, 'keyId'), box: boxPair(o.box) } };
    case 'signing':
      return { type: 'signing', key: { keyId: id(o.keyId, 'keyId'), sign: signPair(o.sign) } };
    case 'stream': {
      const key = { keyId: id(o.keyId, 'keyId'), key: bytes(o.key, 'key', SECRETBOX_KEY_BYTES) };
      if (o.older === undefined) return { type: 'stream', key };
      if (!Array.isArray(o.older) || o.older.length > 64) throw bad('field "older" must be a list of at most 64 older keys');
      const older = o.older.map((k: unknown, i: number) => {
        const e = obj(k, `older[${i}]`);
        return { keyId: id(e.keyId, `older[${i}].keyId`), key: bytes(e.key, `older[${i}].key`, SECRETBOX_KEY_BYTES) };
      });
      const ids = new Set([key.keyId, ...older.map((k) => k.keyId)]);
      if (ids.size !== older.length + 1) throw bad('key ids of the ring (keyId and older[].keyId) must differ');
      return { type: 'stream', key, older };
    }
    default:
      throw bad('field "type" must be one of device, ingest, stream, signing');
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= (a[i] as number) ^ (b[i] as number);
  return acc === 0;
}
