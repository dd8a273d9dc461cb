import { Command, InvalidArgumentError } from 'commander';
import { readTelemetry } from '../audit';
import { KafkaBus, type BusMessage } from '../bus';
import { RECORD_KEY_ID_HEADER } from '../codec';
import { loadConfig } from '../config';
import { generateDeviceKeys, generateIngestKeys, generateSigningKey, generateStreamKey, readKeyFile, StreamKeyring, writeFileAtomically, writeKeyFile, type StreamDataKey } from '../crypto';
import { VigilError } from '../errors';
import { b64, examples, forceOption, printJson } from './output';
import { configRelative, kafkaSecurity } from './tls-files';

/** The next key id of a ring: a trailing number counted up (`telemetry-1` → `telemetry-2`), else `-2` appended; never one the ring has. */
export function nextKeyId(current: string, taken: ReadonlySet<string>): string {
  const m = /^(.*?)(\d+)$/.exec(current);
  const [stem, n] = m === null ? [`${current}-`, 1] : [m[1] as string, Number(m[2])];
  for (let i = n + 1; ; i++) {
    const id = `${stem}${i}`;
    if (!taken.has(id) && id.length <= 64) return id;
    if (id.length > 64) throw new VigilError('VIGIL_E_KEY_INVALID', `cannot derive a new key id from ${current}; give one with --key-id`, { details: { keyId: current } });
  }
}

async function readRingFile(file: string): Promise<{ current: StreamDataKey; older: StreamDataKey[] }> {
  const f = await readKeyFile(file);
  if (f.type !== 'stream') throw new VigilError('VIGIL_E_KEY_FILE_INVALID', `key file ${file} holds a ${f.type} key; only stream keys are rotated this way (devices: a new key epoch)`, { details: { path: file, type: f.type } });
  return { current: f.key, older: [...(f.older ?? [])] };
}

export function parseEpoch(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 0xffffffff) throw new InvalidArgumentError('an integer in 0..4294967295');
  return n;
}

/** `vigil keys gen device|ingest|stream|signing`: new key files (mode 0600) and their public halves on stdout. */
export function keysCommand(): Command {
  const keys = new Command('keys').description('generate key files').addHelpText('after', examples('vigil keys gen ingest ingest-1 -o keys/ingest.key.json', 'vigil keys rotate stream keys/telemetry.key.json'));
  const gen = keys.command('gen').description('generate a new key file; never overwrites one unless --force').addHelpText('after', examples('vigil keys gen device uav-0042 -o keys/uav-0042.key.json', 'vigil keys gen stream telemetry-1 -o keys/telemetry.key.json'));
  gen
    .command('device <deviceId>')
    .description("a device's X25519 + Ed25519 key pairs at a key epoch; prints the public halves for the registry")
    .addHelpText('after', examples('vigil keys gen device uav-0042 -o keys/uav-0042.key.json', 'vigil keys gen device uav-0042 --epoch 2 -o keys/uav-0042.e2.key.json'))
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('-e, --epoch <n>', 'key epoch (rotate = next epoch)', parseEpoch, 1)
    .option('--force', 'overwrite an existing key file')
    .action(async (deviceId: string, o: { out: string; epoch: number; force?: boolean }) => {
      const k = generateDeviceKeys(deviceId, o.epoch);
      await writeKeyFile(o.out, { type: 'device', keys: k }, forceOption(o.force));
      printJson({ type: 'device', file: o.out, deviceId, epoch: k.epoch, boxPublicKey: b64(k.box.publicKey), signPublicKey: b64(k.sign.publicKey) });
    });
  gen
    .command('ingest <keyId>')
    .description("the gateways' ingest X25519 key pair; devices seal frames to its public half")
    .addHelpText('after', examples('vigil keys gen ingest ingest-1 -o keys/ingest.key.json'))
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('--force', 'overwrite an existing key file')
    .action(async (keyId: string, o: { out: string; force?: boolean }) => {
      const k = generateIngestKeys(keyId);
      await writeKeyFile(o.out, { type: 'ingest', keys: k }, forceOption(o.force));
      printJson({ type: 'ingest', file: o.out, keyId, boxPublicKey: b64(k.box.publicKey) });
    });
  gen
    .command('stream <keyId>')
    .description('a stream data key (secretbox) that seals the records of one stream in Kafka')
    .addHelpText('after', examples('vigil keys gen stream telemetry-1 -o keys/telemetry.key.json', 'vigil keys gen stream derived.vitals-1 -o keys/derived.vitals.key.json'))
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('--force', 'overwrite an existing key file')
    .action(async (keyId: string, o: { out: string; force?: boolean }) => {
      const k = generateStreamKey(keyId);
      await writeKeyFile(o.out, { type: 'stream', key: k }, forceOption(o.force));
      printJson({ type: 'stream', file: o.out, keyId });
    });
  gen
    .command('signing <keyId>')
    .description("a process's own Ed25519 signing key: the relay signs its release summaries with it (relay.signingKeyFile); prints the public half, which verifiers use")
    .addHelpText('after', examples('vigil keys gen signing relay.north-to-command -o keys/relay-signing.key.json --public-out keys/relay-signing.pub'))
    .requiredOption('-o, --out <file>', 'key file to write (mode 0600)')
    .option('--public-out <file>', 'also write the public key (base64, one line, mode 0644) for verifiers: vigil relay verify-audit --public-key <file>')
    .option('--force', 'overwrite an existing key file')
    .action(async (keyId: string, o: { out: string; publicOut?: string; force?: boolean }) => {
      const k = generateSigningKey(keyId);
      await writeKeyFile(o.out, { type: 'signing', key: k }, forceOption(o.force));
      if (o.publicOut !== undefined) await writeFileAtomically(o.publicOut, `${b64(k.sign.publicKey)}\n`, { ...forceOption(o.force), mode: 0o644 });
      printJson({ type: 'signing', file: o.out, keyId, signPublicKey: b64(k.sign.publicKey), ...(o.publicOut === undefined ? {} : { publicFile: o.publicOut }) });
    });
  keys
    .command('rotate')
    .description('rotate a key without stopping anyone')
    .addHelpText('after', examples('vigil keys rotate stream keys/telemetry.key.json'))
    .command('stream <file>')
    .description('make a new current key in a stream key file, keeping the old ones to read what they sealed: gateways and workers reading the file switch within a second (or on SIGHUP), records carry their key id, so every holder of the ring reads old and new records')
    .addHelpText('after', examples('vigil keys rotate stream keys/telemetry.key.json', 'vigil keys rotate stream keys/derived.vitals.key.json --key-id derived.vitals-2026'))
    .option('--key-id <id>', 'id of the new key (default: the current id with its number counted up)')
    .action(async (file: string, o: { keyId?: string }) => {
      const ring = await readRingFile(file);
      const taken = new Set([ring.current.keyId, ...ring.older.map((k) => k.keyId)]);
      const keyId = o.keyId ?? nextKeyId(ring.current.keyId, taken);
      if (taken.has(keyId)) throw new VigilError('VIGIL_E_CLI_USAGE', `--key-id ${keyId}: the ring already has a key with that id`, { details: { option: 'key-id' } });
      const older = [ring.current, ...ring.older];
      await writeKeyFile(file, { type: 'stream', key: generateStreamKey(keyId), older }, { overwrite: true });
      printJson({ type: 'stream', file, current: keyId, older: older.map((k) => k.keyId) });
    });
  keys
    .command('retire')
    .description('drop an old key from a ring once no retained record needs it')
    .addHelpText('after', examples('vigil keys retire stream keys/derived.vitals.key.json derived.vitals-1 -t derived.vitals -c vigil.yaml'))
    .command('stream <file> <keyId>')
    .description('remove an older key from a stream key file, after checking that no record under it is left in the given topics (read from their oldest record to their end); refuses while any is, saying where')
    .addHelpText('after', examples('vigil keys retire stream keys/derived.vitals.key.json derived.vitals-1 -t derived.vitals -c vigil.yaml', 'vigil keys retire stream keys/telemetry.key.json telemetry-1 -t telemetry.position telemetry.vitals -c vigil.yaml'))
    .requiredOption('-t, --topic <name...>', 'topics sealed with this stream key, full names (e.g. telemetry.position telemetry.vitals …, or derived.vitals)')
    .option('-c, --config <file>', 'YAML or JSON config file for kafka.brokers and how to reach them (default: $VIGIL_CONFIG)')
    .option('--force', 'remove the key even though records under it remain (they become unreadable for everyone)')
    .action(async (file: string, keyId: string, o: { topic: string[]; config?: string; force?: boolean }) => {
      const ring = await readRingFile(file);
      if (ring.current.keyId === keyId) throw new VigilError('VIGIL_E_CLI_USAGE', `${keyId} is the current key of ${file}: rotate first (vigil keys rotate stream ${file})`, { details: { argument: 'keyId' } });
      if (!ring.older.some((k) => k.keyId === keyId)) throw new VigilError('VIGIL_E_CLI_USAGE', `${file} holds no older key ${keyId}; it holds ${[ring.current.keyId, ...ring.older.map((k) => k.keyId)].join(', ')}`, { details: { argument: 'keyId' } });
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const bus = new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, configRelative(o.config ?? process.env.VIGIL_CONFIG)), clientId: 'vigil-keys-retire', logLevel: 'nothing', retries: 2, maxRetryTimeMs: 2000 });
      const under = new Map<string, { count: number; oldestMs: number }>();
      try {
        // Headers only: an empty keyring opens nothing, every record is reported with its key id.
        const count = (m: BusMessage): void => {
          if (m.headers[RECORD_KEY_ID_HEADER]?.toString('utf8') !== keyId) return;
          const t = under.get(m.topic) ?? { count: 0, oldestMs: Infinity };
          t.count++;
          t.oldestMs = Math.min(t.oldestMs, Number(m.timestamp ?? Infinity));
          under.set(m.topic, t);
        };
        await readTelemetry({ bus, keyring: new StreamKeyring(), topics: o.topic }, { record: count, unreadable: count, tombstone: () => undefined });
      } finally {
        await bus.close();
      }
      const remaining = [...under].map(([topic, t]) => ({ topic, records: t.count, oldest: Number.isFinite(t.oldestMs) ? new Date(t.oldestMs).toISOString() : null }));
      if (remaining.length > 0 && o.force !== true) {
        throw new VigilError('VIGIL_E_KEY_IN_USE', `key ${keyId} still seals ${remaining.map((r) => `${r.records} record(s) in ${r.topic} (oldest ${r.oldest ?? 'unknown'})`).join(', ')}; keep it until retention removes them, or --force`, { details: { keyId, remaining } });
      }
      await writeKeyFile(file, { type: 'stream', key: ring.current, older: ring.older.filter((k) => k.keyId !== keyId) }, { overwrite: true });
      printJson({ type: 'stream', file, retired: keyId, current: ring.current.keyId, older: ring.older.filter((k) => k.keyId !== keyId).map((k) => k.keyId), remaining });
    });
  return keys;
}
