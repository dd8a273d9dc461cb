/**
 * MQTT 5 reason codes (MQTT 5.0 §2.4) as names for error messages, and which CONNACK
 * refusals are worth retrying unchanged.
 */
const NAMES: Readonly<Record<number, string>> = {
  0x00: 'Success',
  0x01: 'Granted QoS 1',
  0x02: 'Granted QoS 2',
  0x04: 'Disconnect with Will Message',
  0x80: 'Unspecified error',
  0x81: 'Malformed Packet',
  0x82: 'Protocol Error',
  0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version',
  0x85: 'Client Identifier not valid',
  0x86: 'Bad User Name or Password',
  0x87: 'Not authorized',
  0x88: 'Server unavailable',
  0x89: 'Server busy',
  0x8a: 'Banned',
  0x8b: 'Server shutting down',
  0x8c: 'Bad authentication method',
  0x8d: 'Keep Alive timeout',
  0x8e: 'Session taken over',
  0x8f: 'Topic Filter invalid',
  0x90: 'Topic Name invalid',
  0x93: 'Receive Maximum exceeded',
  0x94: 'Topic Alias invalid',
  0x95: 'Packet too large',
  0x96: 'Message rate too high',
  0x97: 'Quota exceeded',
  0x98: 'Administrative action',
  0x99: 'Payload format invalid',
  0x9a: 'Retain not supported',
  0x9b: 'QoS not supported',
  0x9c: 'Use another server',
  0x9d: 'Server moved',
  0x9e: 'Shared Subscriptions not supported',
  0x9f: 'Connection rate exceeded',
  0xa0: 'Maximum connect time',
  0xa1: 'Subscription Identifiers not supported',
  0xa2: 'Wildcard Subscriptions not supported',
};

/** The spec's name of an MQTT 5 reason code, e.g. `0x87` → `'Not authorized'`. */
export function reasonName(code: number): string {
  return NAMES[code] ?? `reason code 0x${code.toString(16)}`;
}

/**
 * CONNACK refusals caused by the broker's momentary state (busy, unavailable, rate or
 * quota limits, being moved): connecting again later may succeed. Every other refusal
 * (bad credentials, not authorised, banned, bad client id, unsupported protocol) needs a
 * configuration change first, so reconnecting would only hammer the broker.
 */
const RETRIABLE_CONNACK = new Set([0x80, 0x83, 0x88, 0x89, 0x8b, 0x97, 0x9c, 0x9d, 0x9f]);

export function isRetriableConnackCode(code: number): boolean {
  return RETRIABLE_CONNACK.has(code);
}

/** Reason codes this client sends in its own DISCONNECT. */
export const DISCONNECT_REASON = {
  normal: 0x00,
  malformedPacket: 0x81,
  protocolError: 0x82,
  keepAliveTimeout: 0x8d,
  receiveMaximumExceeded: 0x93,
  packetTooLarge: 0x95,
} as const;
