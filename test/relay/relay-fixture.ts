import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusMessage, OutgoingMessage } from '../../src/bus';
import { makeLabel, RECORD_KEY_ID_HEADER, RecordCodec, type ClassificationLabel, type DerivedRecord, type DerivedValue } from '../../src/codec';
import { generateSigningKey, generateStreamKey, StreamKeyring, writeKeyFile, type SigningKey, type StreamDataKey } from '../../src/crypto';
import { parseRelayPolicy, type RelayPolicy, type RelayStreamKeys } from '../../src/relay';

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
