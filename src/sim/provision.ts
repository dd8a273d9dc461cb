import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  devicePublicKeys, generateDeviceKeys, generateIngestKeys, readDeviceKeyFile, readIngestKeyFile, writeKeyFile,
  type CryptoBackendOption, type DeviceKeys, type IngestKeys,
} from '../crypto';
import { VigilError } from '../errors';
import { addDevice, emptyRegistry, readRegistryFile, writeRegistryFile, type RegistryDocument } from '../registry';
import { ARCHETYPE_PROFILES } from './archetype-profiles';
import { Fleet } from './fleet';
import { resolveFleetConfig, type FleetConfig, type FleetConfigInput } from './fleet-config';
import { planFleet } from './fleet-plan';
import { mapLimit } from './map-limit';

/** File names inside a provisioned directory. */
export const SIM_FILES = { manifest: 'fleet.json', registry: 'registry.yaml', ingestKey: 'ingest.key.json', keysDir: 'keys' } as const;

export interface ProvisionFleetOptions {
  /** Directory to provision (created if missing). */
  readonly dir: string;
  /** The fleet, or its configuration. */
  readonly fleet: Fleet | FleetConfigInput | FleetConfig;
  /** Key id of the ingest key (default `sim-ingest`); only used when the ingest key file is created. */
  readonly ingestKeyId?: string;
  readonly backend?: CryptoBackendOption;
}

/** What `fleet.json` holds: everything `vigil sim run` needs except the device secrets (in their key files). */
export interface SimManifest {
  readonly format: 1;
  readonly config: FleetConfig;
  readonly ingestKeyId: string;
  /** Base64 X25519 public half of the ingest key: what devices seal to. */
  readonly ingestPublicKey: string;
}

export interface ProvisionedFleet {
  readonly dir: string;
  readonly manifestFile: string;
  readonly registryFile: string;
  readonly ingestKeyFile: string;
  readonly ingestKeyId: string;
  /** Base64 X25519 public half of the ingest key. */
  readonly ingestPublicKey: string;
  /** Key file of every device, by device id. */
  readonly deviceKeyFiles: Readonly<Record<string, string>>;
  /** Devices whose keys were generated now. */
  readonly created: readonly string[];
  /** Devices whose existing key files were reused. */
  readonly reused: readonly string[];
  readonly config: FleetConfig;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
/** Key files are fsynced one by one; a few at a time keeps a 10 000-device fleet quick without flooding the disk. */
const FILE_CONCURRENCY = 16;

/**
 * Provisions a simulated fleet in `dir`: an ingest key file, one device key file per device
 * (mode 0600), a registry that lists every device with its archetype's class, priority,
 * ceiling, kinds, rate and signature rule (`ARCHETYPE_PROFILES`), and `fleet.json`.
 *
 * Idempotent: existing key files are reused (never overwritten) and devices already in the
 * registry are kept, so running it again, or with more devices, changes only what is
 * missing. The registry file is rewritten only when a device was added.
 *
 * @throws VigilError `VIGIL_E_REGISTRY_INVALID` when the registry lists a fleet device under
 *   other keys than its key file; key file errors (`VIGIL_E_KEY_FILE_*`) as `readKeyFile`.
 *
 * @example
 * const p = await provisionFleet({ dir: 'sim', fleet: { vehicles: 8, soldiers: 12, ugs: 6, uavs: 2, seed: 7 } });
 * // gateway: --ingest-key sim/ingest.key.json --registry sim/registry.yaml
 */
export async function provisionFleet(options: ProvisionFleetOptions): Promise<ProvisionedFleet> {
  const config = options.fleet instanceof Fleet ? options.fleet.config : resolveFleetConfig(options.fleet);
  const dir = options.dir;
  const keysDir = join(dir, SIM_FILES.keysDir);
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  const backend = options.backend ?? 'auto';

  const ingestKeyFile = join(dir, SIM_FILES.ingestKey);
  let ingest: IngestKeys;
  if (existsSync(ingestKeyFile)) {
    ingest = await readIngestKeyFile(ingestKeyFile, { backend });
  } else {
    ingest = generateIngestKeys(options.ingestKeyId ?? 'sim-ingest', backend);
    await writeKeyFile(ingestKeyFile, { type: 'ingest', keys: ingest });
  }

  const devices = planFleet(config);
  const created: string[] = [];
  const reused: string[] = [];
  const deviceKeyFiles: Record<string, string> = {};
  const keys = await mapLimit(devices, FILE_CONCURRENCY, async (d): Promise<DeviceKeys> => {
    const file = join(keysDir, `${d.deviceId}.key.json`);
    deviceKeyFiles[d.deviceId] = file;
    if (existsSync(file)) {
      const k = await readDeviceKeyFile(file, { backend });
      if (k.deviceId !== d.deviceId) {
        throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `key file ${file} belongs to "${k.deviceId}", not "${d.deviceId}"`, { details: { path: file } });
      }
      reused.push(d.deviceId);
      return k;
    }
    const k = generateDeviceKeys(d.deviceId, 1, backend);
    await writeKeyFile(file, { type: 'device', keys: k });
    created.push(d.deviceId);
    return k;
  });

  const registryFile = join(dir, SIM_FILES.registry);
  const existed = existsSync(registryFile);
  let doc: RegistryDocument = existed ? readRegistryFile(registryFile) : emptyRegistry();
  const listed = new Map(doc.devices.map((d) => [d.id, d]));
  let changed = !existed;
  devices.forEach((d, i) => {
    const k = keys[i] as DeviceKeys;
    const entry = listed.get(d.deviceId);
    if (entry !== undefined) {
      const pub = entry.keys[String(entry.epoch)];
      if (entry.epoch !== k.epoch || pub?.box !== b64(k.box.publicKey) || pub.sign !== b64(k.sign.publicKey)) {
        throw new VigilError('VIGIL_E_REGISTRY_INVALID', `${registryFile}: device "${d.deviceId}" is registered with other keys than ${deviceKeyFiles[d.deviceId]}; rotate it (vigil device rotate) or remove the stale file`, {
          details: { source: registryFile, deviceId: d.deviceId },
        });
      }
      return;
    }
    const p = ARCHETYPE_PROFILES[d.archetype];
    doc = addDevice(doc, devicePublicKeys(k), {
      theatre: d.theatre, unit: d.unit, class: p.deviceClass, priority: p.priority, ceiling: p.ceiling,
      kinds: [...p.kinds], rate: { ...p.rate }, requireSignature: p.requireSignature, note: `vigil sim ${d.archetype} #${d.index + 1}`,
    });
    changed = true;
  });
  if (changed) writeRegistryFile(registryFile, doc);

  const manifest: SimManifest = { format: 1, config, ingestKeyId: ingest.keyId, ingestPublicKey: b64(ingest.box.publicKey) };
  const manifestFile = join(dir, SIM_FILES.manifest);
  const tmp = `${manifestFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, manifestFile);

  return { dir, manifestFile, registryFile, ingestKeyFile, ingestKeyId: ingest.keyId, ingestPublicKey: manifest.ingestPublicKey, deviceKeyFiles, created: created.sort(), reused: reused.sort(), config };
}

/** A provisioned directory loaded for running: its configuration, the ingest public key and every device's keys. */
export interface LoadedFleet {
  readonly manifest: SimManifest;
  readonly keys: ReadonlyMap<string, DeviceKeys>;
}

/**
 * Reads what `provisionFleet` wrote (the manifest and the device key files; not the ingest
 * secret key, which belongs to the gateways).
 *
 * @throws VigilError `VIGIL_E_CONFIG_READ` when `dir` was not provisioned; `VIGIL_E_CONFIG_INVALID`
 *   for a bad manifest; key file errors as `readKeyFile`.
 */
export async function loadProvisionedFleet(dir: string, options: { backend?: CryptoBackendOption } = {}): Promise<LoadedFleet> {
  const manifestFile = join(dir, SIM_FILES.manifest);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestFile, 'utf8'));
  } catch (cause) {
    throw new VigilError('VIGIL_E_CONFIG_READ', `cannot read ${manifestFile} (${(cause as Error).message}); provision the fleet first: vigil sim provision --dir ${dir}`, {
      cause, details: { path: manifestFile },
    });
  }
  const m = raw as Partial<SimManifest> | null;
  if (m === null || typeof m !== 'object' || m.format !== 1 || typeof m.ingestKeyId !== 'string' || typeof m.ingestPublicKey !== 'string' || Buffer.from(m.ingestPublicKey, 'base64').length !== 32) {
    throw new VigilError('VIGIL_E_CONFIG_INVALID', `${manifestFile}: not a format 1 simulator manifest with an ingest public key`, { details: { key: 'fleet.json' } });
  }
  const config = resolveFleetConfig(m.config as FleetConfigInput, manifestFile);
  const keys = new Map<string, DeviceKeys>();
  const devices = planFleet(config);
  const loaded = await mapLimit(devices, FILE_CONCURRENCY, (d) => readDeviceKeyFile(join(dir, SIM_FILES.keysDir, `${d.deviceId}.key.json`), options));
  devices.forEach((d, i) => keys.set(d.deviceId, loaded[i] as DeviceKeys));
  return { manifest: { format: 1, config, ingestKeyId: m.ingestKeyId, ingestPublicKey: m.ingestPublicKey }, keys };
}
