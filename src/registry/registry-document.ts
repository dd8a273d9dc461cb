import { readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname, basename, extname, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { CLASSIFICATION_LEVELS, DEVICE_ID_PATTERN, READING_KINDS } from '../codec';
import { assertDevicePublicKeys, BOX_PUBLIC_KEY_BYTES, SIGN_PUBLIC_KEY_BYTES } from '../crypto';
import { VigilError } from '../errors';
import type { DeviceEntry, EpochKeys } from './device-entry';

const b64Key = (bytes: number, what: string) =>
  z.string().refine((s) => /^[A-Za-z0-9+/]+={0,2}$/.test(s) && Buffer.from(s, 'base64').length === bytes, {
    message: `expected the base64 of a ${bytes}-byte ${what}`,
  });

const deviceSchema = z.strictObject({
  id: z.string().regex(DEVICE_ID_PATTERN, { message: 'expected 1-64 characters of [A-Za-z0-9._:-]' }),
  status: z.enum(['active', 'revoked']).default('active'),
  class: z.string().min(1).max(64).default('generic'),
  priority: z.enum(['flash', 'immediate', 'routine']).default('routine'),
  theatre: z.string().regex(/^[a-z0-9-]{1,32}$/, { message: 'expected 1-32 characters of [a-z0-9-] (an MQTT topic level)' }),
  unit: z.string().regex(/^[a-z0-9-]{1,32}$/, { message: 'expected 1-32 characters of [a-z0-9-] (an MQTT topic level)' }),
  ceiling: z.enum(CLASSIFICATION_LEVELS).default('UNCLASSIFIED'),
  releasability: z.array(z.string().regex(/^[A-Z0-9_-]{2,16}$/)).default([]),
  kinds: z.array(z.enum(READING_KINDS as [string, ...string[]])).min(1).default([...READING_KINDS]),
  rate: z
    .strictObject({ perSecond: z.number().positive().max(100000), burst: z.number().int().min(1).max(1000000) })
    .default({ perSecond: 100, burst: 200 }),
  requireSignature: z.boolean().default(false),
  epoch: z.number().int().min(0).max(0xffffffff),
  keys: z.record(
    z.string().regex(/^\d+$/, { message: 'epoch keys are named by the epoch number' }),
    z.strictObject({ box: b64Key(BOX_PUBLIC_KEY_BYTES, 'X25519 public key'), sign: b64Key(SIGN_PUBLIC_KEY_BYTES, 'Ed25519 public key') }),
  ),
  revokedAt: z.string().optional(),
  note: z.string().max(500).optional(),
});

export const registryDocumentSchema = z
  .strictObject({
    format: z.literal(1),
    devices: z.array(deviceSchema).default([]),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.devices.forEach((d, i) => {
      if (seen.has(d.id)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `device "${d.id}" is listed twice` });
      seen.add(d.id);
      if (!d.keys[String(d.epoch)]) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'keys'], message: `device "${d.id}" is at epoch ${d.epoch} but has no keys for it` });
      }
    });
  });

/** A registry file as written on disk (public keys in base64). */
export type RegistryDocument = z.output<typeof registryDocumentSchema>;
export type RegistryDevice = RegistryDocument['devices'][number];

/**
 * Validates a parsed registry document; errors name the device and field. Every epoch's
 * public keys must be usable (`VIGIL_E_KEY_INVALID` names the device, epoch and key): a
 * small-order or non-canonical key is refused when a device is added or rotated and when a
 * registry file is loaded, so it never reaches a gateway.
 */
export function parseRegistryDocument(raw: unknown, source: string): RegistryDocument {
  const r = registryDocumentSchema.safeParse(raw);
  if (r.success) {
    for (const d of r.data.devices) {
      for (const [epoch, k] of Object.entries(d.keys)) {
        assertDevicePublicKeys({ deviceId: d.id, epoch: Number(epoch), boxPublicKey: Buffer.from(k.box, 'base64'), signPublicKey: Buffer.from(k.sign, 'base64') }, `${source}: `);
      }
    }
    return r.data;
  }
  const lines = r.error.issues.map((i) => {
    const idx = i.path[1];
    const dev =
      i.path[0] === 'devices' && typeof idx === 'number' && raw && typeof raw === 'object'
        ? ((raw as { devices?: Array<{ id?: unknown }> }).devices?.[idx]?.id ?? `#${idx}`)
        : undefined;
    const field = i.path.slice(dev === undefined ? 0 : 2).join('.');
    return `${source}: ${dev === undefined ? '' : `device ${JSON.stringify(dev)} `}${field || '(top level)'}: ${i.message}`;
  });
  throw new VigilError('VIGIL_E_REGISTRY_INVALID', lines.join('\n'), { details: { source } });
}

/** Reads and validates a registry file (YAML, or JSON by extension). */
export function readRegistryFile(path: string): RegistryDocument {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new VigilError('VIGIL_E_REGISTRY_INVALID', `cannot read registry file ${path}: ${(cause as Error).message}`, { cause, details: { source: path } });
  }
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new VigilError('VIGIL_E_REGISTRY_INVALID', `registry file ${path} does not parse: ${(cause as Error).message}`, { cause, details: { source: path } });
  }
  return parseRegistryDocument(raw, path);
}

/** Writes a registry file atomically (temporary file, fsync, rename) so a watcher never sees half of it. */
export function writeRegistryFile(path: string, doc: RegistryDocument): void {
  const valid = parseRegistryDocument(doc, path);
  const text = extname(path).toLowerCase() === '.json' ? JSON.stringify(valid, null, 2) + '\n' : stringifyYaml(valid);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode: 0o644 });
  const fd = openSync(tmp, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, path);
}

/** Decodes one device of a document into the frozen form the gateway looks up. */
export function toDeviceEntry(d: RegistryDevice): DeviceEntry {
  const keys = new Map<number, EpochKeys>();
  for (const [epoch, k] of Object.entries(d.keys)) {
    keys.set(Number(epoch), Object.freeze({ boxPublicKey: new Uint8Array(Buffer.from(k.box, 'base64')), signPublicKey: new Uint8Array(Buffer.from(k.sign, 'base64')) }));
  }
  return Object.freeze({
    deviceId: d.id,
    status: d.status,
    deviceClass: d.class,
    priority: d.priority,
    theatre: d.theatre,
    unit: d.unit,
    ceiling: d.ceiling,
    releasability: Object.freeze([...d.releasability].sort()),
    allowedKinds: new Set(d.kinds) as DeviceEntry['allowedKinds'],
    rate: Object.freeze({ ...d.rate }),
    requireSignature: d.requireSignature,
    epoch: d.epoch,
    keys,
  });
}
