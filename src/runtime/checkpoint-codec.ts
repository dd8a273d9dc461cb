import { NONCE_BYTES, randomNonce, secretboxOpen, secretboxSeal, type StreamDataKey, type StreamKeyring } from '../crypto';
import { VigilError, isVigilError } from '../errors';
import type { JsonValue } from '../stream';

/** The version byte this build writes in front of a sealed checkpoint. */
export const CHECKPOINT_VERSION = 1;

/**
 * The state of one source partition's operator chain, saved together with the offset it
 * corresponds to: restoring both and reading on from `offset` reproduces exactly what an
 * uninterrupted run would have produced.
 */
export interface PartitionCheckpoint {
  readonly version: 1;
  readonly pipeline: string;
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read (decimal string, as the bus writes offsets). */
  readonly offset: string;
  readonly dedupe: JsonValue;
  readonly watermarks: JsonValue;
  /** Snapshots of the operators the pipeline registered with `ctx.stateful`, in order. */
  readonly operators: readonly JsonValue[];
  /** Combination of every input label so far (the default label of results), or null. */
  readonly label: JsonValue;
}

function corrupt(message: string, details: Record<string, unknown>, cause?: unknown): VigilError {
  return new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', message, { details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Seals a checkpoint (it holds aggregates of plaintext readings, which must not sit in
 * clear on Kafka disks): `0x01 ‖ nonce(24) ‖ secretbox(JSON)`, the key id in the
 * `vigil-key-id` header as for records.
 *
 * @example
 * const value = sealCheckpoint(cp, stateKey);
 * await producer.send(changelog, [{ key: `${cp.topic}:${cp.partition}`, value, headers: { 'vigil-key-id': stateKey.keyId } }]);
 */
export function sealCheckpoint(checkpoint: PartitionCheckpoint, key: StreamDataKey): Buffer {
  const plain = Buffer.from(JSON.stringify(checkpoint), 'utf8');
  const nonce = randomNonce();
  const box = secretboxSeal(plain, nonce, key.key);
  const out = Buffer.allocUnsafe(1 + NONCE_BYTES + box.length);
  out[0] = CHECKPOINT_VERSION;
  out.set(nonce, 1);
  out.set(box, 1 + NONCE_BYTES);
  return out;
}

/**
 * Opens a sealed checkpoint with the key its key id names, and checks it belongs to
 * `topic`/`partition` of `pipeline`.
 *
 * @throws VigilError `VIGIL_E_PIPELINE_CHECKPOINT` (unknown key, failed authentication, bad content)
 */
export function openCheckpoint(value: Buffer, keyId: string, keyring: StreamKeyring, expect: { pipeline: string; topic: string; partition: number }): PartitionCheckpoint {
  const where = { pipeline: expect.pipeline, topic: expect.topic, partition: expect.partition, keyId };
  let key: StreamDataKey;
  try {
    key = keyring.get(keyId);
  } catch (err) {
    throw corrupt(`checkpoint of ${expect.topic}[${expect.partition}] is sealed under key ${JSON.stringify(keyId)}, which the keyring does not hold`, where, isVigilError(err) ? err : undefined);
  }
  if (value.length < 1 + NONCE_BYTES + 16 || value[0] !== CHECKPOINT_VERSION) throw corrupt(`checkpoint of ${expect.topic}[${expect.partition}] is not a version ${CHECKPOINT_VERSION} sealed checkpoint`, where);
  const plain = secretboxOpen(value.subarray(1 + NONCE_BYTES), value.subarray(1, 1 + NONCE_BYTES), key.key);
  if (plain === null) throw corrupt(`checkpoint of ${expect.topic}[${expect.partition}] failed authentication (wrong key or changed bytes)`, where);
  let cp: PartitionCheckpoint;
  try {
    cp = JSON.parse(Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength).toString('utf8')) as PartitionCheckpoint;
  } catch (err) {
    throw corrupt(`checkpoint of ${expect.topic}[${expect.partition}] is not valid JSON`, where, err);
  }
  if (
    typeof cp !== 'object' ||
    cp === null ||
    cp.version !== 1 ||
    cp.pipeline !== expect.pipeline ||
    cp.topic !== expect.topic ||
    cp.partition !== expect.partition ||
    typeof cp.offset !== 'string' ||
    !/^(0|[1-9][0-9]*)$/.test(cp.offset) ||
    !Array.isArray(cp.operators)
  ) {
    throw corrupt(`checkpoint of ${expect.topic}[${expect.partition}] does not belong to this pipeline and partition, or is malformed`, where);
  }
  return cp;
}
