import type { Socket } from 'node:net';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { generate, parser as createParser, type IConnackPacket, type Packet } from 'mqtt-packet';

/** As long as aedes waits for a CONNECT (its `connectTimeout` default). */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * aedes 0.51 speaks MQTT 3.1.1 only and answers an MQTT 5 CONNECT with CONNACK 132
 * (unsupported protocol version); aedes 1.x is ESM-only, which jest on Node 20 cannot load.
 * Devices are told to use MQTT 5, so the demo's broker puts this translator in front of
 * aedes: a connection whose CONNECT says protocol level 5 is parsed as MQTT 5, each packet
 * is handed to aedes as its MQTT 3.1.1 equivalent and aedes' answers go back as MQTT 5;
 * any other connection is handed to aedes untouched (the demo's gateway connects with 3.1.1).
 *
 * What MQTT 5 adds beyond 3.1.1 is not carried, and the CONNACK says so where the protocol
 * lets a server say it: no topic aliases (Topic Alias Maximum 0), no subscription
 * identifiers, no shared subscriptions. Properties of a PUBLISH (user properties, message
 * expiry, content type, response topic) are dropped; a session lives as aedes keeps 3.1.1
 * sessions, whatever Session Expiry the client asked; an AUTH packet closes the connection.
 * Vigil's devices use none of these: QoS 1 publishes with PUBACK, and a subscription to their
 * receipt topic.
 */
export function handleWithMqtt5Front(socket: Socket, handle: (stream: Duplex) => void): void {
  let head = Buffer.alloc(0);
  // Until aedes has the socket, a reset or a client that never finishes its CONNECT is ours to end.
  const onError = (): void => void socket.destroy();
  const timer = setTimeout(onError, CONNECT_TIMEOUT_MS);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const level = connectProtocolLevel(head);
    if (level === undefined) return; // not enough bytes yet
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.pause();
    if (level === 5) translate(socket, head, handle);
    else {
      socket.unshift(head);
      handle(socket);
    }
  };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.once('close', () => clearTimeout(timer));
}


/**
 * The protocol level byte of a CONNECT at the start of `buf` (fixed header, remaining length,
 * protocol name, level); undefined while too few bytes have arrived; -1 when `buf` does not
 * start with a CONNECT (aedes then refuses it the way it refuses any malformed stream).
 */
export function connectProtocolLevel(buf: Buffer): number | undefined {
  if (buf.length < 1) return undefined;
  if (buf[0] !== 0x10) return -1;
  let pos = 1;
  for (let i = 0; ; i++) {
    if (pos >= buf.length) return undefined;
    const byte = buf[pos++] as number;
    if ((byte & 0x80) === 0) break;
    if (i === 3) return -1;
  }
  if (pos + 2 > buf.length) return undefined;
  const nameLength = buf.readUInt16BE(pos);
  const levelAt = pos + 2 + nameLength;
  if (nameLength > 6) return -1;
  return levelAt < buf.length ? (buf[levelAt] as number) : undefined;
}

/** MQTT 3.1.1 CONNACK return codes as MQTT 5 reason codes (MQTT 5 §3.2.2.2, table of 3.1.1 equivalents). */
const CONNACK_REASON: Readonly<Record<number, number>> = { 0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };
/** What the CONNACK tells an MQTT 5 client this broker does not do. */
const FRONT_LIMITS: NonNullable<IConnackPacket['properties']> = { topicAliasMaximum: 0, subscriptionIdentifiersAvailable: false, sharedSubscriptionAvailable: false };

function translate(socket: Socket, head: Buffer, handle: (stream: Duplex) => void): void {
  // Without it Nagle's algorithm holds each small translated answer back for the client's
  // delayed ACK: one QoS 1 publisher measured 2,200 messages/s through the front, 16–20k with it
  // (3.1.1 straight to aedes: 10–30k on the same run).
  socket.setNoDelay(true);
  const fromClient = createParser({ protocolVersion: 5 });
  const fromBroker = createParser({ protocolVersion: 4 });
  const toBroker = new PassThrough();
  const brokerSide = Duplex.from({
    readable: toBroker,
    writable: new Writable({
      write(chunk: Buffer, _enc, done) {
        fromBroker.parse(chunk);
        done();
      },
    }),
  });
  // UNSUBACK carries one reason code per topic in MQTT 5 and none in 3.1.1.
  const unsubscribing = new Map<number, number>();
  let closed = false;
  const close = (reasonCode?: number): void => {
    if (closed) return;
    closed = true;
    if (reasonCode !== undefined && socket.writable) socket.write(generate({ cmd: 'disconnect', reasonCode }, { protocolVersion: 5 }));
    socket.end();
    brokerSide.destroy();
  };
  const toClient = (packet: Packet): void => {
    if (!closed) socket.write(generate(packet, { protocolVersion: 5 }));
  };

  fromClient.on('packet', (p: Packet) => {
    if (closed) return;
    const v4 = downgrade(p, unsubscribing);
    if (typeof v4 === 'number') close(v4);
    else toBroker.write(generate(v4, { protocolVersion: 4 }));
  });
  fromClient.on('error', () => close(0x81)); // malformed packet
  fromBroker.on('packet', (p: Packet) => {
    if (p.cmd === 'connack') {
      const reasonCode = CONNACK_REASON[p.returnCode ?? 0] ?? 0x80;
      toClient({ cmd: 'connack', sessionPresent: p.sessionPresent, reasonCode, ...(reasonCode === 0 ? { properties: FRONT_LIMITS } : {}) });
    } else if (p.cmd === 'unsuback') {
      const topics = unsubscribing.get(p.messageId ?? 0) ?? 1;
      unsubscribing.delete(p.messageId ?? 0);
      toClient({ cmd: 'unsuback', messageId: p.messageId, granted: new Array<number>(topics).fill(0) });
    } else toClient(p); // publish, puback…pubcomp, suback (3.1.1 grants are valid MQTT 5 reason codes), pingresp
  });
  fromBroker.on('error', () => close(0x83));
  toBroker.on('error', () => close());

  socket.on('data', (chunk: Buffer) => fromClient.parse(chunk));
  socket.on('error', () => close());
  socket.on('close', () => close());
  brokerSide.on('close', () => close());
  brokerSide.on('error', () => close());
  handle(brokerSide);
  fromClient.parse(head);
  socket.resume();
}

/** An MQTT 5 packet from a client as its 3.1.1 equivalent, or the reason code to disconnect with. */
function downgrade(p: Packet, unsubscribing: Map<number, number>): Packet | number {
  switch (p.cmd) {
    case 'connect': {
      if (p.properties?.authenticationMethod !== undefined) return 0x8c; // bad authentication method: no enhanced auth here
      const { properties: _props, will, ...rest } = p;
      const plainWill = will ? (({ properties: _wp, ...w }) => w)(will) : undefined;
      return { ...rest, protocolVersion: 4, ...(plainWill ? { will: plainWill } : {}) };
    }
    case 'publish': {
      if (p.properties?.topicAlias !== undefined) return 0x94; // the CONNACK allowed no topic alias
      const { properties: _props, ...rest } = p;
      return rest;
    }
    case 'subscribe':
      return { cmd: 'subscribe', messageId: p.messageId as number, subscriptions: p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })) };
    case 'unsubscribe':
      unsubscribing.set(p.messageId ?? 0, p.unsubscriptions.length);
      return { cmd: 'unsubscribe', messageId: p.messageId as number, unsubscriptions: p.unsubscriptions };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { cmd: p.cmd, messageId: p.messageId as number } as Packet;
    case 'pingreq':
      return p;
    case 'disconnect':
      return { cmd: 'disconnect' };
    default:
      return 0x82; // auth or a server-to-client packet from a client: protocol error
  }
}
