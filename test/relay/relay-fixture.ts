import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusMessage, OutgoingMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type ClassificationLabel, type DerivedRecord, type DerivedValue } from '../../src/codec';
import { generateSigningKey, generateStreamKey, StreamKeyring, writeKeyFile, type SigningKey, type StreamDataKey } from '../../src/crypto';
import { parseRelayPolicy, type RelayPolicy, type RelayStreamKeys } from '../../src/relay';
import { startKafka, type KafkaService } from '../../scripts/services';

/** Theatre and relay keys of the vitals stream, and a policy relaying it to command. */
export interface RelayFixture {
  readonly theatreKey: StreamDataKey;
  readonly olderTheatreKey: StreamDataKey;
  readonly relayKey: StreamDataKey;
  /** The relay's own Ed25519 key: it signs the release summaries. */
  readonly signingKey: SigningKey;
  readonly keys: Map<string, RelayStreamKeys>;
  readonly policy: RelayPolicy;
  readonly codec: RecordCodec;
}

export const CEILING = 'SECRET//REL TO FRA, GBR';
/** Releasable to the destination: SECRET, releasable to FRA, GBR and more. */
export const RELEASABLE = makeLabel('SECRET', ['FRA', 'GBR', 'USA']);
/** Releasable to GBR only: not to the whole destination. */
export const GBR_ONLY = makeLabel('SECRET', ['GBR', 'USA']);
/** Above the ceiling's level. */
export const TOP = makeLabel('TOP_SECRET', ['FRA', 'GBR']);

export function policyDoc(stream: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 1,
    name: 'north-to-command',
    destination: { name: 'command-fra-gbr', ceiling: CEILING },
    streams: [{ source: 'derived.vitals', destination: 'theatre.north.derived.vitals', sourceKeyFile: 'theatre.key.json', relayKeyFile: 'relay.key.json', ...stream }],
  };
}

export function relayFixture(stream: Record<string, unknown> = {}): RelayFixture {
  const theatreKey = generateStreamKey('derived.vitals-2');
  const olderTheatreKey = generateStreamKey('derived.vitals-1');
  const relayKey = generateStreamKey('relay.north.vitals-1');
  const policy = parseRelayPolicy(policyDoc(stream));
  return {
    theatreKey,
    olderTheatreKey,
    relayKey,
    signingKey: generateSigningKey('relay.north-to-command'),
    policy,
    keys: new Map([['derived.vitals', { source: new StreamKeyring([theatreKey, olderTheatreKey]), relay: relayKey }]]),
    codec: new RecordCodec(),
  };
}

/** Writes the fixture's key files into a new folder (mode 0600) and returns it; the signing key where `relay.signingKeyFile` looks by default (keys/relay-signing.key.json). */
export async function writeFixtureKeys(f: RelayFixture): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-relay-keys-'));
  await writeKeyFile(join(dir, 'theatre.key.json'), { type: 'stream', key: f.theatreKey, older: [f.olderTheatreKey] });
  await writeKeyFile(join(dir, 'relay.key.json'), { type: 'stream', key: f.relayKey });
  mkdirSync(join(dir, 'keys'));
  await writeKeyFile(join(dir, 'keys', 'relay-signing.key.json'), { type: 'signing', key: f.signingKey });
  return dir;
}

export function vitalsRecord(key: string, windowStartMs: number, label: ClassificationLabel, values: Record<string, DerivedValue> = { readings: 4, heartRateMeanBpm: 71.5 }, revision = 0): DerivedRecord {
  const point = values.alarm !== undefined;
  return {
    type: 'derived',
    pipeline: 'vitals',
    windowStartMs,
    windowEndMs: point ? windowStartMs : windowStartMs + 10_000,
    key,
    values,
    revision,
    label,
    provenance: [{ deviceId: key.split('/')[0] as string, firstSeq: 1n, lastSeq: 4n }],
  };
}

/** A record sealed as the vitals worker publishes it. */
export function sealedMessage(f: RelayFixture, r: DerivedRecord, key: StreamDataKey = f.theatreKey): OutgoingMessage {
  const sealed = f.codec.seal(r, key);
  return { key: `${r.key}|${r.windowStartMs}|${r.windowEndMs}`, value: Buffer.from(sealed.value), headers: { [RECORD_KEY_ID_HEADER]: sealed.keyId } };
}

/** The same, as the bus would hand it to a consumer. */
export function busMessage(m: OutgoingMessage, offset = 0): BusMessage {
  const headers: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = Buffer.from(v);
  return { topic: 'derived.vitals', partition: 0, offset: String(offset), key: m.key === undefined || m.key === null ? null : Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value), headers, timestamp: 0 };
}

/**
 * The `n`-th record of a steady `derived.vitals` stream shaped as the vitals pipeline
 * publishes it (pipelines/vitals.ts), for load tests: per soldier one 10 s statistics window
 * (routine); every 20th record an alert instead, alternately raised (`alarm: true`, flash)
 * and cleared (routine). Labels: 1 in 10 above the ceiling, 1 in 10 releasable to GBR only,
 * the rest releasable. Every record has its own relay id.
 */
export function vitalsStreamRecord(n: number, soldiers = 200): DerivedRecord {
  const label = n % 10 === 3 ? TOP : n % 10 === 6 ? GBR_ONLY : RELEASABLE;
  const soldier = `sol-${String(n % soldiers).padStart(3, '0')}`;
  const at = T_STREAM + Math.floor(n / soldiers) * 10_000;
  const provenance = [{ deviceId: soldier, firstSeq: BigInt(n * 10 + 1), lastSeq: BigInt(n * 10 + 10) }];
  if (n % 20 === 7) {
    const raised = n % 40 === 7;
    const t = T_STREAM + n * 50;
    return { type: 'derived', pipeline: 'vitals', key: `${soldier}/hr-high/${raised ? 'raised' : 'cleared'}`, windowStartMs: t, windowEndMs: t, revision: 0, label, provenance, values: { condition: 'hr-high', state: raised ? 'raised' : 'cleared', alarm: raised, heartRateBpm: raised ? 168 + (n % 30) : 112, sinceMs: t - 15_000 } };
  }
  const hr = 60 + (n % 50) + (n % 7) / 10;
  return {
    type: 'derived',
    pipeline: 'vitals',
    key: soldier,
    windowStartMs: at,
    windowEndMs: at + 10_000,
    revision: 0,
    label,
    provenance,
    values: { readings: 10, heartRateSamples: 10, heartRateMeanBpm: hr, heartRateMaxBpm: Math.round(hr + 9), spo2Samples: 9, spo2MinPct: 93 + (n % 6) },
  };
}

const T_STREAM = Date.UTC(2026, 11, 5, 12, 0, 0);

/** A link between the relay and command: a TCP proxy or link emulator that command advertises. */
export interface RelayLink {
  readonly port: number;
  setTarget(port: number): void;
  close(): Promise<void>;
}

/** The two clusters, the link and a scratch folder of one relay test (each set by `beforeAll`). */
export interface TwoKafkas<L extends RelayLink> {
  theatre: KafkaService | undefined;
  command: KafkaService | undefined;
  link: L | undefined;
  dir: string;
}

/**
 * Registers the `beforeAll`/`afterAll` of a relay test between two real Kafkas: theatre, and
 * command advertising the port of the link `startLink` opens (so every connection to command
 * goes through it), and a scratch folder; all stopped and removed afterwards.
 */
export function twoKafkasOverLink<L extends RelayLink>(startLink: () => Promise<L>, dirPrefix: string): TwoKafkas<L> {
  const env: TwoKafkas<L> = { theatre: undefined, command: undefined, link: undefined, dir: '' };
  beforeAll(async () => {
    const link = await startLink();
    env.link = link;
    [env.theatre, env.command] = await Promise.all([startKafka(), startKafka({ advertisedPort: link.port })]);
    link.setTarget(env.command.port);
    env.dir = mkdtempSync(join(tmpdir(), dirPrefix));
  }, 180_000);
  afterAll(async () => {
    await Promise.all([env.theatre?.stop(), env.command?.stop()]);
    await env.link?.close();
    if (env.dir !== '') rmSync(env.dir, { recursive: true, force: true });
  }, 60_000);
  return env;
}
