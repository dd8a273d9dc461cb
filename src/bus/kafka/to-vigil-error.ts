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
/**
 * kafkajs rewraps a group coordinator that moved or is still loading (NOT_COORDINATOR,
 * COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE) in a plain error without its type
 * during a join: known by the broker's words.
 */
const COORDINATOR_MOVING = /not the correct coordinator|coordinator is loading|coordinator is not available/i;
const TOPIC_TYPES = new Set(['UNKNOWN_TOPIC_OR_PARTITION']);
const GROUP_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);
const DENIED_TYPES: ReadonlyMap<string, string> = new Map([
  ['TOPIC_AUTHORIZATION_FAILED', 'topic'],
  ['GROUP_AUTHORIZATION_FAILED', 'consumer group'],
  ['CLUSTER_AUTHORIZATION_FAILED', 'cluster'],
  ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'transactional id'],
  ['DELEGATION_TOKEN_AUTHORIZATION_FAILED', 'delegation token'],
]);
const AUTH_TYPES = new Set(['SASL_AUTHENTICATION_FAILED', 'UNSUPPORTED_SASL_MECHANISM', 'ILLEGAL_SASL_STATE']);
/** Node/OpenSSL's words for a certificate or handshake failure (kafkajs passes the socket error's message on). */
const TLS_FAILURE = /certificate|self[- ]signed|unable to (verify|get local issuer)|CERT_|ERR_TLS|ERR_SSL|SSL routines|wrong version number|alert (handshake|bad|unknown)|Hostname\/IP does not match|altnames|before secure TLS connection was established/i;

/** The innermost kafkajs error: retries wrap the one that tells what went wrong. */
function root(err: KafkaJSLikeError): KafkaJSLikeError {
  let e = err;
  for (let i = 0; i < 5; i++) {
    // An aggregate (e.g. createTopics, one error per topic): the first tells what went wrong.
    const first = e.name === 'KafkaJSAggregateError' && Array.isArray((e as { errors?: unknown }).errors) ? ((e as { errors: unknown[] }).errors[0] as KafkaJSLikeError | undefined) : undefined;
    // Retries exhausted, or a consumer's crash (KafkaJSNonRetriableError): the cause tells what failed.
    const inner = (first ?? e.originalError ?? (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSNonRetriableError' ? e.cause : undefined)) as KafkaJSLikeError | undefined;
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
  if (name === 'KafkaJSSASLAuthenticationError' || (type !== undefined && AUTH_TYPES.has(type))) {
    return new VigilError('VIGIL_E_BUS_AUTH', `${what}: Kafka refused the credentials (${reason})`, { details: d, cause: err });
  }
  if (TLS_FAILURE.test(reason) || (typeof (r as { code?: unknown }).code === 'string' && TLS_FAILURE.test((r as { code: string }).code))) {
    return new VigilError('VIGIL_E_BUS_TLS', `${what}: TLS with the broker failed (${reason})`, { details: d, cause: err });
  }
  // kafkajs reports a produce the ACLs refuse as a plain error ("Not authorized to access topics: […]").
  const denied = (type === undefined ? undefined : DENIED_TYPES.get(type)) ?? (/Not authori[sz]ed to access (topics|group)|authorization failed/i.test(reason) ? (/group/i.test(reason) ? 'consumer group' : 'topic') : undefined);
  if (denied !== undefined) {
    return new VigilError('VIGIL_E_BUS_DENIED', `${what}: Kafka's ACLs do not allow it (${denied} authorisation failed: ${type})`, { details: d, cause: err });
  }
  if (type !== undefined && TOPIC_TYPES.has(type)) {
    return new VigilError('VIGIL_E_BUS_TOPIC_UNKNOWN', `${what}: topic or partition does not exist (${reason})`, { details: d, cause: err });
  }
  if (type !== undefined && GROUP_TYPES.has(type)) {
    return new VigilError('VIGIL_E_BUS_NOT_ASSIGNED', `${what}: the group rebalanced (${type})`, { details: d, cause: err });
  }
  if (name === 'KafkaJSGroupCoordinatorNotFound' && typeof details.groupId === 'string') {
    // kafkajs drops the broker's answer here: a group the ACLs refuse looks like a missing coordinator.
    return new VigilError(
      'VIGIL_E_BUS_UNAVAILABLE',
      `${what}: Kafka named no coordinator for group "${details.groupId}": the cluster may still be starting, or (on a cluster with ACLs) this user may not use the group (vigil kafka grant gives each role its groups)`,
      { details: d, cause: err },
    );
  }
  if ((name !== undefined && UNAVAILABLE_NAMES.has(name)) || (type !== undefined && UNAVAILABLE_TYPES.has(type)) || /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|ECONNRESET/.test(reason) || COORDINATOR_MOVING.test(reason)) {
    return new VigilError('VIGIL_E_BUS_UNAVAILABLE', `${what}: Kafka is unavailable (${reason})`, { details: d, cause: err });
  }
  return new VigilError('VIGIL_E_BUS_REQUEST', `${what}: ${reason}`, { details: d, cause: err, retriable: r.retriable === true });
}

/** Whether a VigilError says the broker could not be reached (for the connection state). */
export function isUnavailable(err: unknown): boolean {
  return isVigilError(err, 'VIGIL_E_BUS_UNAVAILABLE');
}
