/**
 * The closed list of Vigil error codes. Every `VigilError` carries one of these.
 *
 * Adding a code: add it here with its `retriable` flag and a one-line meaning, then
 * document it in `docs/errors.md` (a test keeps the two in step).
 *
 * `retriable` says whether trying the same operation again, unchanged, may succeed
 * (a broker that is down may come back; a malformed frame stays malformed). Retry
 * logic reads only this flag.
 */
export const ERROR_CODES = {
  // configuration
  VIGIL_E_CONFIG_INVALID: { retriable: false, meaning: 'A configuration value is missing, of the wrong type or outside what is allowed.' },
  VIGIL_E_CONFIG_UNKNOWN_KEY: { retriable: false, meaning: 'A configuration file or VIGIL_* variable names a key that does not exist.' },
  VIGIL_E_CONFIG_READ: { retriable: false, meaning: 'The configuration file cannot be read or parsed as YAML/JSON.' },
  VIGIL_E_CLI_USAGE: { retriable: false, meaning: 'A command line names an unknown command or option, or an option value the command refuses.' },
  // services and transport
  VIGIL_E_SERVICE_START: { retriable: true, meaning: 'A service the process needs (Kafka, Mosquitto, an HTTP listener) failed to start.' },
  VIGIL_E_PORT_IN_USE: { retriable: false, meaning: 'A listening port is already taken by another process.' },
  // replay protection
  VIGIL_E_REPLAY_STORE_CORRUPT: { retriable: false, meaning: 'The on-disk replay store cannot be read back (bad snapshot, other window size).' },
  VIGIL_E_REPLAY_STORE_CLOSED: { retriable: false, meaning: 'The replay store was used after close().' },
  // device SDK
  VIGIL_E_DEVICE_CLOSED: { retriable: false, meaning: 'A reading was sent to a device client after close().' },
  // device registry
  VIGIL_E_REGISTRY_INVALID: { retriable: false, meaning: 'A registry file or edit is invalid: unreadable, bad YAML/JSON, a bad field, a duplicate device or a missing epoch key.' },
  // wire format: frames (codec)
  VIGIL_E_FRAME_MALFORMED: { retriable: false, meaning: 'A frame is not a well-formed Vigil frame: bad msgpack, wrong layout, or a header field of the wrong type or range.' },
  VIGIL_E_FRAME_TOO_LARGE: { retriable: false, meaning: 'A frame is larger than the maximum frame size, or would be once sealed.' },
  VIGIL_E_FRAME_VERSION: { retriable: false, meaning: 'A frame declares a format version this build does not support.' },
  VIGIL_E_FRAME_AUTH: { retriable: false, meaning: 'A frame failed authentication (Poly1305 MAC): wrong key, or a header or ciphertext byte was changed.' },
  VIGIL_E_FRAME_SIGNATURE: { retriable: false, meaning: 'A frame signature is missing where required, or does not verify under the device signing key.' },
  VIGIL_E_RECEIPT_INVALID: { retriable: false, meaning: 'A durable receipt is malformed, addressed to another device, or fails authentication under the device\'s shared key; the device ignores it.' },
  VIGIL_E_READING_INVALID: { retriable: false, meaning: 'A reading has an unknown kind, a field of the wrong type, a value out of range, or a batch has the wrong size.' },
  // wire format: sealed records (codec)
  VIGIL_E_RECORD_INVALID: { retriable: false, meaning: 'A sealed record or its plaintext is malformed or has a field of the wrong type or range.' },
  VIGIL_E_RECORD_VERSION: { retriable: false, meaning: 'A sealed record declares a format version this build does not support.' },
  VIGIL_E_RECORD_AUTH: { retriable: false, meaning: 'A sealed record, or a rejection record\'s MAC, failed authentication: wrong stream key for the key id, the record was changed, or (rejection records) it carries no MAC.' },
  VIGIL_E_LABEL_INVALID: { retriable: false, meaning: 'A classification label has an unknown level or a malformed, unsorted or duplicated releasability list.' },
  // keys and crypto
  VIGIL_E_KEY_INVALID: { retriable: false, meaning: 'Key material has the wrong length or is unusable: a device public key of small order, non-canonical or off the curve (refused when a device is added or rotated and when a registry is loaded), or an X25519 shared key that would be zero.' },
  VIGIL_E_KEY_UNKNOWN: { retriable: false, meaning: 'No key is known for the key id a record names.' },
  VIGIL_E_KEY_FILE_READ: { retriable: false, meaning: 'A key file cannot be opened or read.' },
  VIGIL_E_KEY_FILE_WRITE: { retriable: false, meaning: 'A key file cannot be written (or exists and overwriting was not asked for).' },
  VIGIL_E_KEY_FILE_INVALID: { retriable: false, meaning: 'A key file is not valid JSON of a known key file type, or its keys are malformed or do not match.' },
  VIGIL_E_KEY_FILE_PERMISSIONS: { retriable: false, meaning: 'A key file holding secret keys is accessible by group or others; it must be mode 0600.' },
  VIGIL_E_CRYPTO_BACKEND: { retriable: false, meaning: 'The requested crypto backend (sodium-native) is not available in this installation.' },
  // admission (gateway); declared here so the rejection reasons form one closed list
  VIGIL_E_DEVICE_UNKNOWN: { retriable: false, meaning: 'A frame names a device the registry does not know.' },
  VIGIL_E_DEVICE_REVOKED: { retriable: false, meaning: 'A frame comes from a device the registry marks as revoked.' },
  VIGIL_E_KEY_EPOCH_STALE: { retriable: false, meaning: 'A frame uses a key epoch older than the device current epoch (or one not yet issued).' },
  VIGIL_E_REPLAY: { retriable: false, meaning: 'A frame repeats a sequence number already admitted for its device.' },
  VIGIL_E_SEQ_TOO_OLD: { retriable: false, meaning: 'A frame sequence number is below the device replay window.' },
  VIGIL_E_CLOCK_SKEW: { retriable: false, meaning: 'A frame event time is further from gateway time than the allowed clock skew.' },
  VIGIL_E_RATE_LIMITED: { retriable: true, meaning: 'A device exceeded its frame rate limit (measured in frame event time); the frame was not admitted.' },
  VIGIL_E_TOPIC_MISMATCH: { retriable: false, meaning: 'A frame arrived on an MQTT topic that is not its device\'s telemetry topic (theatre, unit or device differ from the registry).' },
  VIGIL_E_KIND_NOT_ALLOWED: { retriable: false, meaning: 'A frame carries a reading kind the registry does not allow for its device.' },
  VIGIL_E_INTERNAL: { retriable: false, meaning: 'A bug in Vigil: an unexpected exception, turned into an error instead of a crash.' },
  // stream operators
  VIGIL_E_STREAM_OPTIONS: { retriable: false, meaning: 'A stream operator was built with options that are missing, of the wrong type or out of range.' },
  VIGIL_E_STREAM_STATE: { retriable: false, meaning: 'A stream operator cannot restore a snapshot (wrong operator, version or settings) or was subscribed twice at once.' },
  // store-and-forward spool (edge gateway)
  VIGIL_E_SPOOL_FULL: { retriable: true, meaning: 'The spool byte budget cannot take an append without shedding flash entries (or entries of a higher class than the append); nothing was added.' },
  VIGIL_E_SPOOL_OPTIONS: { retriable: false, meaning: 'A spool was opened, or a drain batch asked for, with options that are missing, of the wrong type or out of range.' },
  VIGIL_E_SPOOL_ENTRY_INVALID: { retriable: false, meaning: 'A spool entry is malformed (missing device id, topic or value, unknown priority) or larger than the spool can ever hold.' },
  VIGIL_E_SPOOL_CLOSED: { retriable: false, meaning: 'An operation was attempted on a spool that is closed.' },
  VIGIL_E_SPOOL_BATCH: { retriable: false, meaning: 'A spool batch was acked or nacked twice, or handed to a spool that did not issue it.' },
  VIGIL_E_SPOOL_IO: { retriable: false, meaning: 'Reading, writing or syncing a spool file failed; the spool refuses all further work until reopened.' },
  // message bus (src/bus: Kafka and in-memory)
  VIGIL_E_BUS_UNAVAILABLE: { retriable: true, meaning: 'The message bus (Kafka) cannot be reached or did not answer within the configured time; nothing is known to have been written.' },
  VIGIL_E_BUS_CLOSED: { retriable: false, meaning: 'A bus, producer, consumer or admin client was used after close().' },
  VIGIL_E_BUS_OPTIONS: { retriable: false, meaning: 'A bus client was built or called with options or arguments that are missing, of the wrong type or out of range.' },
  VIGIL_E_BUS_TOPIC_UNKNOWN: { retriable: false, meaning: 'A topic (or partition) named in a produce, subscribe or seek does not exist on the bus.' },
  VIGIL_E_BUS_NOT_ASSIGNED: { retriable: false, meaning: 'A commit or seek names a partition this consumer does not own (any more): a rebalance moved it.' },
  VIGIL_E_BUS_AUTH: { retriable: false, meaning: 'Kafka refused the SASL credentials (unknown user, wrong password, a mechanism the brokers do not enable).' },
  VIGIL_E_BUS_TLS: { retriable: false, meaning: "The TLS handshake with a Kafka broker failed: its certificate is not signed by kafka.ssl.caFile, has expired or does not hold the broker's name, or the broker speaks no TLS on that port." },
  VIGIL_E_BUS_DENIED: { retriable: false, meaning: 'Kafka authorised the user but not this operation (its ACLs): the message names the operation and the topic or group.' },
  VIGIL_E_BUS_REQUEST: { retriable: false, meaning: 'The broker refused a request for another reason (message too large, not authorised, invalid config); retriable is taken from the broker error.' },
  // MQTT ingest connection (src/edge/mqtt)
  VIGIL_E_MQTT_OPTIONS: { retriable: false, meaning: 'An MQTT ingest client was built or called with options or arguments that are missing, of the wrong type or out of range.' },
  VIGIL_E_MQTT_CONNECT_REFUSED: { retriable: false, meaning: 'The MQTT broker refused the connection with a CONNACK reason code; retriable for busy/unavailable/rate limits, not for credentials or authorisation.' },
  VIGIL_E_MQTT_SUBSCRIBE_REFUSED: { retriable: false, meaning: 'The MQTT broker refused a subscription, or granted less than QoS1 (which would break at-least-once delivery).' },
  VIGIL_E_MQTT_CONNECTION_LOST: { retriable: true, meaning: 'The MQTT connection failed or dropped: socket error, connect timeout, keep-alive timeout, or the broker closed it (with a DISCONNECT reason code when it sent one).' },
  VIGIL_E_MQTT_PROTOCOL: { retriable: true, meaning: 'The MQTT broker sent a malformed or unexpected packet, broke Receive Maximum or sent a packet above Maximum Packet Size; the connection was closed.' },
  VIGIL_E_KEY_IN_USE: { retriable: false, meaning: 'vigil keys retire refused to drop a stream key: records sealed with it remain in the named topics (until retention removes them).' },
  VIGIL_E_PKI: { retriable: false, meaning: 'vigil pki cannot create or issue a certificate: an unknown role or algorithm, a bad name, validity or subject alternative name, or a CA certificate and key that are missing, expired, not a CA or not a pair.' },
  VIGIL_E_MQTT_TLS: { retriable: false, meaning: 'The TLS handshake with the MQTT broker failed on a certificate: the broker\'s (expired, wrong CA, wrong name) or ours (missing, expired, refused); the message names which.' },
  VIGIL_E_MQTT_CLOSED: { retriable: false, meaning: 'An MQTT ingest client was started after close(), or closed before it ever connected.' },
  // pipeline runtime (src/runtime)
  VIGIL_E_PIPELINE_OPTIONS: { retriable: false, meaning: 'A pipeline definition or the options of a pipeline worker are missing, of the wrong type or out of range.' },
  VIGIL_E_PIPELINE_CHECKPOINT: { retriable: false, meaning: 'A pipeline checkpoint in the changelog cannot be opened, parsed or restored (wrong key, corrupt, or written by a changed pipeline definition).' },
  VIGIL_E_STATE_STORE: { retriable: false, meaning: "A pipeline worker's local state store (stateDir) cannot be opened, read or written (disk full, permissions, corrupt); the changelog in Kafka stays the truth, so a worker on a healthy disk restores from it." },
  VIGIL_E_PIPELINE_CEILING: { retriable: false, meaning: 'A derived result carries a label above its stream ceiling (higher classification or narrower releasability); it was refused, counted and not published.' },
  VIGIL_E_PIPELINE_OUTPUT: { retriable: false, meaning: 'A derived result built by a pipeline cannot be published as a derived record (bad key, values or provenance).' },
  VIGIL_E_PIPELINE_FAILED: { retriable: false, meaning: 'A pipeline worker stopped because its consumer, producer or an operator failed; the cause carries the original error.' },
  // analyst access: tap CLI, WebSocket tap, live map (src/tap, src/serve)
  VIGIL_E_TAP_NO_KEY: { retriable: false, meaning: 'A tapped stream is sealed under a stream key id the analyst does not hold: need-to-know by cryptography; nothing of it is shown.' },
  VIGIL_E_TAP_OPTIONS: { retriable: false, meaning: 'A tap, tap catalog or WebSocket tap endpoint was built or called with options that are missing, of the wrong type or out of range.' },
  // delivery audit: vigil audit and the chaos checker (src/audit)
  VIGIL_E_AUDIT_ACKED_LOG: { retriable: false, meaning: 'An acked log (what devices were told is durable) cannot be read, or a line of it is not {"deviceId":"…","seq":"<decimal u64>"}; the message names file:line.' },
  VIGIL_E_AUDIT_OPTIONS: { retriable: false, meaning: 'An audit was asked for with options that are missing, of the wrong type or out of range (no stream key, a bad topic prefix).' },
  VIGIL_E_AUDIT_INCOMPLETE: { retriable: true, meaning: 'An audit could not read every telemetry partition up to the end offsets it took at its start (reading stalled or the bus failed); no partial result is given.' },
  // federation relay: vigil relay (src/relay)
  VIGIL_E_RELAY_POLICY: { retriable: false, meaning: 'A relay policy file is unreadable or invalid: a bad label, an unknown key or value, a stream listed twice, or a key file it names that cannot be read; the message names the policy entry.' },
  VIGIL_E_RELAY_OPTIONS: { retriable: false, meaning: 'A relay was built with options that are missing, of the wrong type or out of range.' },
  VIGIL_E_RELAY_AUDIT_SIGNATURE: { retriable: false, meaning: "A relay release summary in the audit topic is malformed, signed by another key than the one given, or its Ed25519 signature does not verify: it was altered or forged." },
  VIGIL_E_RELAY_AUDIT_GAP: { retriable: false, meaning: "The relay's release summaries do not form an unbroken chain: a sequence number is missing or repeated, or a summary does not name its predecessor's digest (one was deleted, replaced or reordered)." },
} as const satisfies Record<string, { retriable: boolean; meaning: string }>;

export type VigilErrorCode = keyof typeof ERROR_CODES;

export function isVigilErrorCode(code: string): code is VigilErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}
