import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { CLASSIFICATION_LEVELS, READING_KINDS, type ClassificationLevel, type ReadingKind } from '../codec';
import { devicePublicKeys, readDeviceKeyFile } from '../crypto';
import { VigilError } from '../errors';
import { addDevice, emptyRegistry, readRegistryFile, revokeDevice, rotateDevice, writeRegistryFile, type NewDevice, type PriorityClass } from '../registry';
import { out, printJson, examples } from './output';

function kinds(value: string): ReadingKind[] {
  const list = value.split(',').map((s) => s.trim());
  for (const k of list) if (!(READING_KINDS as readonly string[]).includes(k)) throw new InvalidArgumentError(`"${k}" is not a reading kind; allowed: ${READING_KINDS.join(', ')}`);
  return list as ReadingKind[];
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number');
  return n;
}

const registryOption = (): Option => new Option('-r, --registry <file>', 'registry file (YAML or JSON); gateways reload it within a second').makeOptionMandatory();

/** `vigil device add|revoke|rotate|list`: edits the registry file atomically. */
export function deviceCommand(): Command {
  const device = new Command('device').description('manage the device registry file').addHelpText('after', examples('vigil device add -r registry.yaml -k keys/uav-0042.key.json --theatre north --unit recon-3 --class uav', 'vigil device list -r registry.yaml'));
  device
    .command('add')
    .description("register a device from its key file (only the public halves are stored)")
    .addHelpText('after', examples('vigil device add -r registry.yaml -k keys/uav-0042.key.json --theatre north --unit recon-3 --class uav', 'vigil device add -r registry.yaml -k keys/ugs-7.key.json --theatre north --unit recon-3 --class ugs --kinds ugs,power --rate 2 --require-signature'))
    .addOption(registryOption())
    .requiredOption('-k, --key <file>', 'the device key file from `vigil keys gen device`')
    .requiredOption('--theatre <name>', 'theatre (MQTT topic level)')
    .requiredOption('--unit <name>', 'unit (MQTT topic level)')
    .option('--class <name>', 'device class, e.g. uav, vehicle, soldier, ugs', 'generic')
    .addOption(new Option('--priority <p>', 'spool priority class').choices(['flash', 'immediate', 'routine']).default('routine'))
    .addOption(new Option('--ceiling <level>', 'classification ceiling').choices([...CLASSIFICATION_LEVELS]).default('UNCLASSIFIED'))
    .option('--releasability <codes>', 'comma-separated releasability codes, e.g. GBR,USA', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean), [])
    .option('--kinds <list>', `allowed reading kinds (default all: ${READING_KINDS.join(',')})`, kinds)
    .option('--rate <fps>', 'frames per second allowed', positive, 100)
    .option('--burst <n>', 'burst allowance, frames', positive, 200)
    .option('--require-signature', 'frames must be Ed25519-signed')
    .action(
      async (o: {
        registry: string; key: string; theatre: string; unit: string; class: string; priority: PriorityClass; ceiling: ClassificationLevel;
        releasability: string[]; kinds?: ReadingKind[]; rate: number; burst: number; requireSignature?: boolean;
      }) => {
        const keys = devicePublicKeys(await readDeviceKeyFile(o.key));
        const doc = existsSync(o.registry) ? readRegistryFile(o.registry) : emptyRegistry();
        const fields: NewDevice = {
          theatre: o.theatre, unit: o.unit, class: o.class, priority: o.priority, ceiling: o.ceiling, releasability: o.releasability,
          rate: { perSecond: o.rate, burst: Math.round(o.burst) }, requireSignature: o.requireSignature === true,
          ...(o.kinds ? { kinds: o.kinds } : {}),
        };
        writeRegistryFile(o.registry, addDevice(doc, keys, fields));
        printJson({ added: keys.deviceId, epoch: keys.epoch, registry: o.registry });
      },
    );
  device
    .command('revoke <deviceId>')
    .description('revoke a device: gateways refuse its frames from the next reload on')
    .addHelpText('after', examples('vigil device revoke uav-0042 -r registry.yaml'))
    .addOption(registryOption())
    .action((deviceId: string, o: { registry: string }) => {
      writeRegistryFile(o.registry, revokeDevice(readRegistryFile(o.registry), deviceId));
      printJson({ revoked: deviceId, registry: o.registry });
    });
  device
    .command('rotate <deviceId>')
    .description('move a device to the epoch of a new key file (`vigil keys gen device <id> --epoch N+1`)')
    .addHelpText('after', examples('vigil keys gen device uav-0042 --epoch 2 -o keys/uav-0042.e2.key.json', 'vigil device rotate uav-0042 -r registry.yaml -k keys/uav-0042.e2.key.json'))
    .addOption(registryOption())
    .requiredOption('-k, --key <file>', 'the new device key file')
    .action(async (deviceId: string, o: { registry: string; key: string }) => {
      const keys = devicePublicKeys(await readDeviceKeyFile(o.key));
      if (keys.deviceId !== deviceId) {
        throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `key file ${o.key} belongs to "${keys.deviceId}", not "${deviceId}"`, { details: { path: o.key } });
      }
      writeRegistryFile(o.registry, rotateDevice(readRegistryFile(o.registry), keys));
      printJson({ rotated: deviceId, epoch: keys.epoch, registry: o.registry });
    });
  device
    .command('list')
    .description('list the registered devices')
    .addHelpText('after', examples('vigil device list -r registry.yaml', 'vigil device list -r registry.yaml --json'))
    .addOption(registryOption())
    .option('--json', 'print JSON instead of a table')
    .action((o: { registry: string; json?: boolean }) => {
      const doc = readRegistryFile(o.registry);
      if (o.json) return printJson(doc.devices.map(({ keys: _keys, ...d }) => d));
      const rows = doc.devices.map((d) => [d.id, d.status, d.class, d.priority, `${d.theatre}/${d.unit}`, d.ceiling, String(d.epoch), d.requireSignature ? 'signed' : '']);
      const head = ['device', 'status', 'class', 'priority', 'theatre/unit', 'ceiling', 'epoch', 'sig'];
      const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
      for (const r of [head, ...rows]) out.write(r.map((c, i) => c.padEnd(w[i] as number)).join('  ').trimEnd() + '\n');
    });
  return device;
}
