import { Command, InvalidArgumentError } from 'commander';
import { generateDeviceKeys, generateIngestKeys, generateStreamKey, writeKeyFile } from '../crypto';
import { b64, printJson } from './output';

export function parseEpoch(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 0xffffffff) throw new InvalidArgumentError('an integer in 0..4294967295');
  return n;
}

/** `vigil keys gen device|ingest|stream`: new key files (mode 0600) and their public halves on stdout. */
export function keysCommand(): Command {
  const keys = new Command('keys').description('generate key files');
  const gen = keys.command('gen').description('generate a new key file; never overwrites one unless --force');
  gen
    .command('device <deviceId>')
    .description("a device's X25519 + Ed25519 key pairs at a key epoch; prints the public halves for the registry")
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('-e, --epoch <n>', 'key epoch (rotate = next epoch)', parseEpoch, 1)
    .option('--force', 'overwrite an existing key file')
    .action(async (deviceId: string, o: { out: string; epoch: number; force?: boolean }) => {
      const k = generateDeviceKeys(deviceId, o.epoch);
      await writeKeyFile(o.out, { type: 'device', keys: k }, { overwrite: o.force === true });
      printJson({ type: 'device', file: o.out, deviceId, epoch: k.epoch, boxPublicKey: b64(k.box.publicKey), signPublicKey: b64(k.sign.publicKey) });
    });
  gen
    .command('ingest <keyId>')
    .description("the gateways' ingest X25519 key pair; devices seal frames to its public half")
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('--force', 'overwrite an existing key file')
    .action(async (keyId: string, o: { out: string; force?: boolean }) => {
      const k = generateIngestKeys(keyId);
      await writeKeyFile(o.out, { type: 'ingest', keys: k }, { overwrite: o.force === true });
      printJson({ type: 'ingest', file: o.out, keyId, boxPublicKey: b64(k.box.publicKey) });
    });
  gen
    .command('stream <keyId>')
    .description('a stream data key (secretbox) that seals the records of one stream in Kafka')
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('--force', 'overwrite an existing key file')
    .action(async (keyId: string, o: { out: string; force?: boolean }) => {
      const k = generateStreamKey(keyId);
      await writeKeyFile(o.out, { type: 'stream', key: k }, { overwrite: o.force === true });
      printJson({ type: 'stream', file: o.out, keyId });
    });
  return keys;
}
