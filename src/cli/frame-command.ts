import { Command } from 'commander';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { FrameOpener, MAX_FRAME_BYTES } from '../codec';
import { boxSharedKey, getCryptoBackend, readDeviceKeyFile, readIngestKeyFile } from '../crypto';
import { isVigilError } from '../errors';
import { readRegistryFile, toDeviceEntry } from '../registry';
import { b64, printJson } from './output';

/** Most bytes read from a frame file: a largest frame as hex text, with room for spacing. */
const MAX_FRAME_FILE_BYTES = 4 * MAX_FRAME_BYTES;

/**
 * A frame file's bytes, read only up to the limit: a device file or a pipe (`/dev/zero`,
 * `/dev/urandom`) never ends, and a frame cannot be longer anyway.
 */
function readFrameFile(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(MAX_FRAME_FILE_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > MAX_FRAME_FILE_BYTES) throw new Error(`${path} holds more than ${MAX_FRAME_FILE_BYTES} bytes: not a frame (a frame is at most ${MAX_FRAME_BYTES} bytes, ${2 * MAX_FRAME_BYTES} as hex)`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Frame bytes from a file (raw, or hex text) or a hex string on the command line. */
function frameBytes(arg: string): Uint8Array {
  if (existsSync(arg)) {
    const raw = readFrameFile(arg);
    const text = raw.toString('latin1').trim();
    return /^[0-9a-fA-F\s]+$/.test(text) ? new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex')) : new Uint8Array(raw);
  }
  const hex = arg.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new Error(`"${arg.slice(0, 40)}" is neither a file nor hex bytes`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/**
 * Validation messages never quote a value (they also go to `telemetry.rejected` in the
 * clear); the operator inspecting a frame with its keys sees the refused reading as sent.
 */
function refusedReading(body: unknown, details: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const index = details.index;
  if (typeof index === 'number' && Array.isArray(body) && index < body.length) return { index, field: details.field, reading: body[index] as unknown };
  return { decodedBody: body };
}

/**
 * `vigil frame inspect`: for sensor integrators debugging their own implementation. Shows
 * the clear header, and with the ingest key plus the device's public key (from its key file
 * or the registry) opens the body and shows the readings, or the exact reason it fails.
 */
export function frameCommand(): Command {
  const frame = new Command('frame').description('work with wire-format frames');
  frame
    .command('inspect <frame>')
    .description('decode a frame (a file of raw bytes or hex, or hex on the command line)')
    .option('--ingest-key <file>', 'ingest key file, to open the body')
    .option('--device-key <file>', "the device's key file (public halves used)")
    .option('-r, --registry <file>', 'registry file holding the device public keys')
    .action(async (arg: string, o: { ingestKey?: string; deviceKey?: string; registry?: string }) => {
      const opener = new FrameOpener();
      const bytes = frameBytes(arg);
      const header = opener.decode(bytes);
      const report: Record<string, unknown> = {
        bytes: bytes.length,
        header: {
          version: header.version, deviceId: header.deviceId, epoch: header.epoch, seq: header.seq.toString(),
          eventTime: new Date(header.eventTimeMs).toISOString(), eventTimeMs: header.eventTimeMs, nonce: Buffer.from(header.nonce).toString('hex'),
        },
        ciphertextBytes: header.ciphertext.length,
        signed: header.signature !== null,
      };
      if (o.ingestKey) {
        const ingest = await readIngestKeyFile(o.ingestKey);
        let boxPub: Uint8Array | undefined;
        let signPub: Uint8Array | undefined;
        if (o.deviceKey) {
          const k = await readDeviceKeyFile(o.deviceKey);
          [boxPub, signPub] = [k.box.publicKey, k.sign.publicKey];
        } else if (o.registry) {
          const d = readRegistryFile(o.registry).devices.find((x) => x.id === header.deviceId);
          const keys = d ? toDeviceEntry(d).keys.get(header.epoch) : undefined;
          [boxPub, signPub] = [keys?.boxPublicKey, keys?.signPublicKey];
        }
        if (!boxPub) {
          report.body = { error: `no public key for ${header.deviceId} at epoch ${header.epoch}; give --device-key or --registry` };
        } else {
          const shared = boxSharedKey(boxPub, ingest.box.secretKey);
          const openOptions = signPub ? { verifier: getCryptoBackend().createVerifier(signPub) } : {};
          try {
            const readings = opener.open(header, shared, openOptions);
            report.body = { readings, signatureVerified: header.signature !== null };
          } catch (err) {
            if (!isVigilError(err)) throw err;
            report.body = { error: err.message, code: err.code, ...(err.code === 'VIGIL_E_READING_INVALID' ? refusedReading(opener.openBody(header, shared, openOptions), err.details) : {}) };
            process.exitCode = 1;
          }
        }
        report.devicePublicKey = b64(boxPub ?? new Uint8Array());
      }
      printJson(report);
    });
  return frame;
}
