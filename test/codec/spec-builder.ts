/**
 * Builds frames from docs/wire-format.md alone, with generic tools only — tweetnacl's
 * `nacl.box` (not our backends), node:crypto SHA-512, hand-written msgpack — the way another
 * team would. The golden test checks it produces our sealer's exact bytes; the frame tests use
 * it to craft frames our sealer refuses to make (bad bodies, other integer encodings).
 */
import { createHash, sign as edSign, createPrivateKey } from 'node:crypto';
import nacl from 'tweetnacl';

export interface SpecFrameInput {
  readonly deviceId: string;
  readonly epoch: number;
  readonly seq: bigint;
  readonly eventTimeMs: number;
  readonly nonce: Uint8Array;
  /** crypto_box_beforenm(ingest public, device secret) — or pass the pair below instead. */
  readonly sharedKey?: Uint8Array;
  readonly boxKeys?: { readonly ingestPublicKey: Uint8Array; readonly deviceSecretKey: Uint8Array };
  /** The body plaintext: msgpack array of readings (any bytes, to test the gateway). */
  readonly body: Uint8Array;
  /** Ed25519 seed to sign with (frame becomes an array of 8). */
  readonly signSeed?: Uint8Array;
  /** How to write epoch and event time: shortest form (default), always uint32/uint64, or always int64. */
  readonly intFormat?: 'smallest' | 'uint32' | 'int64';
}

function u(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}

function int(n: number, format: SpecFrameInput['intFormat']): number[] {
  if (format === 'int64') return [0xd3, ...u(n, 8)];
  if (format === 'uint32' && n <= 0xffffffff) return [0xce, ...u(n, 4)];
  if (n <= 0x7f) return [n];
  if (n <= 0xff) return [0xcc, n];
  if (n <= 0xffff) return [0xcd, ...u(n, 2)];
  if (n <= 0xffffffff) return [0xce, ...u(n, 4)];
  return [0xcf, ...u(n, 8)];
}

function bin(b: Uint8Array): number[] {
  const n = b.length;
  const head = n <= 0xff ? [0xc4, n] : n <= 0xffff ? [0xc5, ...u(n, 2)] : [0xc6, ...u(n, 4)];
  return [...head, ...b];
}

export function buildFrameBySpec(f: SpecFrameInput): Uint8Array {
  const id = Buffer.from(f.deviceId, 'ascii');
  const seq = new Uint8Array(8);
  new DataView(seq.buffer).setBigUint64(0, f.seq, false);
  // §2: the clear header H = array marker, version, device id, epoch, seq, event time, nonce.
  const header = Uint8Array.from([
    f.signSeed === undefined ? 0x97 : 0x98,
    0x01,
    ...(id.length <= 31 ? [0xa0 | id.length] : [0xd9, id.length]),
    ...id,
    ...int(f.epoch, f.intFormat),
    ...bin(seq),
    ...int(f.eventTimeMs, f.intFormat),
    ...bin(f.nonce),
  ]);
  // §3: box nonce = SHA-512(H)[0..24).
  const boxNonce = createHash('sha512').update(header).digest().subarray(0, 24);
  const ct = f.sharedKey !== undefined ? nacl.secretbox(f.body, boxNonce, f.sharedKey) : nacl.box(f.body, boxNonce, f.boxKeys!.ingestPublicKey, f.boxKeys!.deviceSecretKey);
  const signedPart = Uint8Array.from([...header, ...bin(ct)]);
  if (f.signSeed === undefined) return signedPart;
  // §4: Ed25519 over "vigil.frame.v1.sig" ‖ frame bytes up to the end of the ciphertext element.
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), f.signSeed]);
  const sig = edSign(null, Buffer.concat([Buffer.from('vigil.frame.v1.sig', 'ascii'), signedPart]), createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
  return Uint8Array.from([...signedPart, ...bin(sig)]);
}
