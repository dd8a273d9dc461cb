import { Command, InvalidArgumentError } from 'commander';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { FrameOpener, MAX_FRAME_BYTES } from '../codec';
import { loadConfig } from '../config';
import { devicePublicKeys, readDeviceKeyFile, readIngestKeyFile } from '../crypto';
import { judgeFrame } from '../edge/admission';
import { VigilError } from '../errors';
import { addDevice, emptyRegistry, MemoryRegistry, readRegistryFile, toDeviceEntry } from '../registry';
import { b64, printJson, examples } from './output';

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
    if (n > MAX_FRAME_FILE_BYTES) {
      throw new VigilError('VIGIL_E_FRAME_TOO_LARGE', `${path} holds more than ${MAX_FRAME_FILE_BYTES} bytes: not a frame (a frame is at most ${MAX_FRAME_BYTES} bytes, ${2 * MAX_FRAME_BYTES} as hex)`, { details: { path } });
    }
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
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new VigilError('VIGIL_E_CLI_USAGE', `"${arg.slice(0, 40)}" is neither a file nor hex bytes`, { details: { argument: 'frame' } });
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

/** The registry a judgement runs against: the file's, or one device from its key file with the registry's defaults. */
async function judgingRegistry(o: { deviceKey?: string; registry?: string }): Promise<{ registry: MemoryRegistry; rules: string }> {
  if (o.deviceKey !== undefined && o.registry !== undefined) {
    throw new VigilError('VIGIL_E_CLI_USAGE', 'give --registry (the rules a gateway applies) or --device-key (only its keys), not both', { details: { option: 'device-key' } });
  }
  if (o.registry !== undefined) return { registry: new MemoryRegistry(readRegistryFile(o.registry).devices.map(toDeviceEntry)), rules: `registry ${o.registry}` };
  if (o.deviceKey === undefined) {
    throw new VigilError('VIGIL_E_CLI_USAGE', '--ingest-key opens the body with the device public key: give --registry (or --device-key) too', { details: { option: 'registry' } });
  }
  const keys = devicePublicKeys(await readDeviceKeyFile(o.deviceKey));
  // Its keys only: the registry's defaults (no signature required, every kind, default rate).
  const doc = addDevice(emptyRegistry(), keys, { theatre: 'inspect', unit: 'inspect' });
  return { registry: new MemoryRegistry(doc.devices.map(toDeviceEntry)), rules: `device key ${o.deviceKey} with the registry defaults (no signature required, every kind)` };
}

function parseTime(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new InvalidArgumentError('an ISO 8601 time or milliseconds since the epoch');
  return ms;
}

/**
 * `vigil frame inspect`: for sensor integrators debugging their own implementation. Shows
 * the clear header, and with the ingest key and the registry (or the device's key file)
 * gives the gateway's own verdict (`judgeFrame`: the admission chain itself) and the
 * readings, or the exact reason the gateway would refuse the frame (exit 1).
 */
export function frameCommand(): Command {
  const frame = new Command('frame').description('work with wire-format frames').addHelpText('after', examples('vigil frame inspect frame.hex --ingest-key keys/ingest.key.json --registry registry.yaml'));
  frame
    .command('inspect <frame>')
    .description('decode a frame (a file of raw bytes or hex, or hex on the command line); with keys, say what a gateway would answer (exit 1 when it would refuse the frame)')
    .addHelpText('after', examples('vigil frame inspect frame.hex', 'vigil frame inspect frame.bin --ingest-key keys/ingest.key.json --registry registry.yaml', 'vigil frame inspect frame.hex --ingest-key keys/ingest.key.json --device-key uav-0042.key.json --at 2026-11-28T10:00:00Z'))
    .option('--ingest-key <file>', 'ingest key file, to open the body')
    .option('-r, --registry <file>', 'registry file: the device public keys and the rules a gateway applies (signature required, kinds, rate)')
    .option('--device-key <file>', "the device's key file instead of a registry (public halves used; the registry's defaults apply)")
    .option('-c, --config <file>', "a gateway's configuration: its clock-skew and frame-age bounds (default: the defaults)")
    .option('--at <time>', 'judge the frame as a gateway would at this time (ISO 8601 or ms since the epoch; default now), e.g. when it was captured', parseTime)
    .action(async (arg: string, o: { ingestKey?: string; deviceKey?: string; registry?: string; config?: string; at?: number }) => {
      const bytes = frameBytes(arg);
      const header = new FrameOpener().decode(bytes);
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
        const ingestKeys = await readIngestKeyFile(o.ingestKey);
        const { registry, rules } = await judgingRegistry(o);
        const gateway = loadConfig(o.config === undefined ? { env: {} } : { file: o.config }).gateway;
        const at = o.at;
        const j = judgeFrame(bytes, {
          registry, ingestKeys, maxClockSkewMs: gateway.maxClockSkewMs, maxFrameAgeMs: gateway.maxFrameAgeMs, ...(at === undefined ? {} : { clock: () => at }),
        });
        report.judgedWith = rules;
        if (j.result.ok) {
          report.body = { readings: j.readings, signatureVerified: header.signature !== null };
        } else {
          const { code, message } = j.result;
          report.body = { error: message, code, ...(code === 'VIGIL_E_READING_INVALID' ? refusedReading(j.body, j.details ?? {}) : j.body === undefined ? {} : { decodedBody: j.body }) };
          process.exitCode = 1;
        }
        report.devicePublicKey = b64(registry.get(header.deviceId)?.keys.get(header.epoch)?.boxPublicKey ?? new Uint8Array());
      }
      printJson(report);
    });
  return frame;
}
