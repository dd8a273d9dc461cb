import { VigilError, isVigilError } from '../../errors';

interface KafkaJSLikeError {
  name?: string;
  type?: string;
  message?: string;
  retriable?: boolean;
  originalError?: unknown;
  cause?: unknown;
}

const UNAVAILABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSTimeout',
]);
const UNAVAILABLE_TYPES = new Set(['LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS', 'NOT_COORDINATOR', 'NOT_ENOUGH_REPLICAS', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION']);
const TOPIC_TYPES = new Set(['UNKNOWN_TOPIC_OR_PARTITION']);
const GROUP_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);

/** The innermost kafkajs error: retries wrap the one that tells what went wrong. */
function root(err: KafkaJSLikeError): KafkaJSLikeError {
  let e = err;
  for (let i = 0; i < 5; i++) {
    const inner = (e.originalError ?? (e.name === 'KafkaJSNumberOfRetriesExceeded' ? e.cause : undefined)) as KafkaJSLikeError | undefined;
    if (inner === undefined || inner === null || typeof inner !== 'object') break;
    e = inner;
  }
  return e;
}

/**
 * Turns a kafkajs error into a `VigilError` with a bus code, keeping it as `cause`, so
 * callers decide on `code` / `retriable` and never see kafkajs types.
 *
 * @example
 * try { await producer.sendBatch(b); } catch (err) { throw toVigilError(err, 'send to telemetry.position'); }
 */
export function toVigilError(err: unknown, what: string, details: Readonly<Record<string, unknown>> = {}): VigilError {
  if (isVigilError(err)) return err;
  const e = (err !== null && typeof err === 'object' ? err : { message: String(err) }) as KafkaJSLikeError;
  const r = root(e);
  const type = r.type ?? e.type;
  const name = r.name ?? e.name;
  const reason = r.message ?? e.message ?? 'unknown error';
  const d = { ...details, ...(type === undefined ? {} : { type }), ...(name === undefined ? {} : { kafkaError: name }) };
  if (type !== undefined && TOPIC_TYPES.has(type)) {
    return new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `${what}: topic or partition does not exist (${reason})`, { details: d, cause: err });
  }
  if (type !== undefined && GROUP_TYPES.has(type)) {
    return new VigilError('VIGIL_E_BUS_NOT_ASSIGNED', `${what}: the group rebalanced (${type})`, { details: d, cause: err });
  }
  if ((name !== undefined && UNAVAILABLE_NAMES.has(name)) || (type !== undefined && UNAVAILABLE_TYPES.has(type)) || /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ECONNRESET/.test(reason)) {
    return new VigilError('VIGIL_E_BUS_UNAVAILABLE', `${what}: Kafka is unavailable (${reason})`, { details: d, cause: err });
  }
  return new VigilError('VIGIL_E_BUS_REQUEST', `${what}: ${reason}`, { details: d, cause: err, retriable: r.retriable === true });
}

/** Whether a VigilError says the broker could not be reached (for the connection state). */
export function isUnavailable(err: unknown): boolean {
  return isVigilError(err, 'VIGIL_E_BUS_UNAVAILABLE');
}
