import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { generate, parser as createParser, type IConnackPacket, type IDisconnectPacket, type ISubackPacket, type Packet, type Parser } from 'mqtt-packet';
import { VigilError } from '../../errors';
import { AckSequencer } from './ack-sequencer';
import type { ResolvedMqttIngestOptions } from './options';
import { encodePubacks } from './puback-batch';
import { encodePublishQos0 } from './publish-qos0';
import { DISCONNECT_REASON, isRetriableConnackCode, reasonName } from './reason-codes';
import { mqttTlsError } from '../../errors';
import type { IngestMessage, MqttConnectInfo, MqttIngestCounters } from './types';

const PINGREQ = Buffer.from([0xc0, 0x00]);
const SUBSCRIBE_ID = 1;
/** How long a graceful close waits for the broker to close the socket after our DISCONNECT. */
const DISCONNECT_GRACE_MS = 2000;
/**
 * Packet ids are 16-bit and unique among a connection's unacknowledged messages, so no broker
 * can have more than this in flight to us; the ack ring is this large so that a broker that
 * overshoots Receive Maximum (Mosquitto 2.0.11 does after PUBACKs,
 * eclipse-mosquitto/mosquitto#2301) never overflows it. 192 KiB per connection.
 */
const MAX_PACKET_IDS = 65535;

/** What an `IngestConnection` reports to the client that owns it. */
export interface ConnectionHooks {
  /** The socket is closed; `error` is undefined after a graceful disconnect. */
  closed(conn: IngestConnection, error: VigilError | undefined, unacked: number): void;
  /** `onMessage` threw; the message stays unacknowledged. */
  handlerFailed(error: VigilError): void;
}

/**
 * A message as delivered by one connection. It remembers that connection and its sequence
 * number there, which is what lets `ack()` route it, and lets a stale `ack()` (after a
 * reconnect, where packet ids start over) be recognised and ignored.
 */
export class InboundMessage implements IngestMessage {
  constructor(
    readonly topic: string,
    readonly payload: Buffer,
    readonly qos: 0 | 1,
    readonly packetId: number,
    readonly dup: boolean,
    readonly retain: boolean,
    readonly receivedAt: number,
    readonly connection: IngestConnection | undefined,
    readonly seq: number,
  ) {}
}

type Phase = 'connecting' | 'subscribing' | 'ready' | 'closing' | 'closed';

function lost(cause: string, message: string, extra: Record<string, unknown> = {}, err?: unknown): VigilError {
  return new VigilError('VIGIL_E_MQTT_CONNECTION_LOST', message, { details: { cause, ...extra }, cause: err });
}

function protocol(message: string, reasonCode: number, err?: unknown): VigilError {
  return new VigilError('VIGIL_E_MQTT_PROTOCOL', `MQTT protocol error from the broker: ${message}; connection closed`, {
    details: { reasonCode, reason: reasonName(reasonCode) },
    cause: err,
  });
}

/**
 * One TCP (or TLS) connection to the broker, from CONNECT to close: handshake, subscribe,
 * keep-alive, intake of PUBLISHes and in-order PUBACKs. It never reconnects; the client
 * builds a new one. Everything it does after its socket closed is a no-op, which is what
 * makes acknowledgements for a previous connection harmless.
 *
 * Pipelining: every PUBLISH goes to `onMessage` the moment the parser yields it; nothing
 * waits for an acknowledgement. Acknowledgements go through the `AckSequencer`, and the
 * PUBACKs they release are written in one batch per event-loop turn (`setImmediate`), so a
 * group commit of 500 frames costs one 2,000-byte write, not 500 writes.
 */
export class IngestConnection {
  private readonly socket: Socket;
  private readonly parser: Parser;
  private readonly sequencer: AckSequencer;
  private readonly ready: Uint16Array;
  private phase: Phase = 'connecting';
  private error: VigilError | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private pingOutstanding = false;
  private receivedSincePing = false;
  /** The owner asked to stop reading. */
  private paused = false;
  /** We stopped reading because Receive Maximum messages are unacknowledged. */
  private flowPaused = false;
  private chunkTime = 0;
  private keepaliveSeconds: number;
  private clientId: string;
  private settle: { resolve: (info: MqttConnectInfo) => void; reject: (err: VigilError) => void } | undefined;
  private drainWaiter: (() => void) | undefined;
  readonly opened: Promise<MqttConnectInfo>;

  constructor(
    private readonly options: ResolvedMqttIngestOptions,
    private readonly counters: MqttIngestCounters,
    private readonly hooks: ConnectionHooks,
  ) {
    this.keepaliveSeconds = options.keepaliveSeconds;
    this.clientId = options.clientId;
    this.sequencer = new AckSequencer(MAX_PACKET_IDS);
    this.ready = new Uint16Array(MAX_PACKET_IDS);
    this.opened = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // The client reports failures through its own events; this keeps an unobserved
    // `opened` from becoming an unhandled rejection.
    this.opened.catch(() => undefined);

    this.parser = createParser({ protocolVersion: options.protocolVersion });
    this.parser.on('packet', (p: Packet) => this.onPacket(p));
    this.parser.on('error', (err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      this.fail(protocol(`malformed packet (${msg})`, DISCONNECT_REASON.malformedPacket, err), DISCONNECT_REASON.malformedPacket);
    });

    const { host, port } = options;
    if (options.secure) {
      // SNI carries names only (RFC 6066): an IP address is checked against the certificate's IP SANs without it.
      const servername = options.tls?.servername ?? (isIP(host) === 0 ? host : undefined);
      this.socket = tlsConnect({ ...options.tls, host, port, ...(servername === undefined ? {} : { servername }) }, () => this.sendConnect());
    } else {
      this.socket = netConnect({ host, port }, () => this.sendConnect());
    }
    // Small packets (PUBACK batches, PINGREQ) must not wait for Nagle's algorithm.
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(mqttTlsError(err, host, port) ?? lost('socket', `MQTT connection to ${host}:${port} failed: ${err.message}`, { host, port }, err)));
    this.socket.on('close', () => this.onClose());
    this.connectTimer = setTimeout(() => {
      this.fail(lost('connect-timeout', `MQTT broker ${host}:${port} did not complete CONNECT/SUBSCRIBE within ${options.connectTimeoutMs} ms`, { host, port }));
    }, options.connectTimeoutMs);
  }

  /** Received QoS1 messages whose PUBACK has not been written yet. */
  get inflight(): number {
    return this.sequencer.pending;
  }

  get isReady(): boolean {
    return this.phase === 'ready';
  }

  /** Acknowledges message `seq` of this connection (see `AckSequencer.ack`). */
  ack(seq: number): void {
    if (this.phase === 'closed' || !this.sequencer.isUnacked(seq)) {
      this.counters.staleAcks++;
      return;
    }
    if (this.sequencer.ack(seq) && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Writes a QoS 0 PUBLISH; false before the CONNACK, after the end, or when more than
   * `maxBufferedBytes` wait in the socket. Allowed while the SUBSCRIBE is outstanding: the
   * session is up from the CONNACK on, and a broker that resumes our session sends what it
   * queued for us before the SUBACK, so after a long absence the SUBACK can take seconds
   * (the receipts for those frames must not wait for it, or be dropped).
   */
  publish(topic: string, payload: Uint8Array, maxBufferedBytes: number): boolean {
    if ((this.phase !== 'ready' && this.phase !== 'subscribing') || this.socket.writableLength > maxBufferedBytes) return false;
    // Publishes of one tick (a receipt flush sends one per device) leave in one write.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(encodePublishQos0(topic, payload, this.options.protocolVersion));
    return true;
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /** Stops reading from the socket (TCP backpressure reaches the broker). */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.receivedSincePing = true; // a paused socket could not read the PINGRESP
    if (!this.flowPaused) this.socket.resume();
  }

  /**
   * Graceful end: stop reading, give outstanding acknowledgements up to `drainTimeoutMs` to
   * arrive and be flushed, send DISCONNECT (Normal), and resolve once the socket is closed.
   * Whatever is still unacknowledged then stays with the broker for redelivery.
   */
  async disconnect(drainTimeoutMs: number): Promise<void> {
    if (this.phase === 'closed') return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    if (this.phase !== 'ready' && this.phase !== 'subscribing') {
      this.socket.destroy();
      return closed;
    }
    this.pause();
    if (drainTimeoutMs > 0 && this.sequencer.pending > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, drainTimeoutMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.drainWaiter = done;
      });
      this.drainWaiter = undefined;
    }
    // The socket may have dropped while we waited for the drain.
    if ((this.phase as Phase) !== 'closed') {
      this.flush();
      this.endWith(DISCONNECT_REASON.normal);
    }
    return closed;
  }

  /** Kills the connection at once (no DISCONNECT). */
  destroy(): void {
    this.socket.destroy();
  }

  private sendConnect(): void {
    const o = this.options;
    this.socket.write(
      generate(
        {
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: o.protocolVersion,
          clientId: o.clientId,
          clean: o.cleanStart,
          keepalive: o.keepaliveSeconds,
          username: o.username,
          password: o.password,
          ...(o.protocolVersion === 5
            ? {
                properties: {
                  sessionExpiryInterval: o.sessionExpirySeconds,
                  receiveMaximum: o.receiveMaximum,
                  maximumPacketSize: o.maximumPacketSize,
                  // No topic aliases: every PUBLISH carries its topic, so no alias state can go
                  // wrong across reconnects, and a message never depends on an earlier one.
                  topicAliasMaximum: 0,
                },
              }
            : {}),
        },
        { protocolVersion: o.protocolVersion },
      ),
    );
  }

  /**
   * Frames packets itself: a complete PUBLISH without properties (what a broker forwards from
   * devices) is read in place (`readPublish`: its payload a view of the socket chunk, no
   * packet object, no buffer list); every other complete packet goes to mqtt-packet's parser
   * whole, so the parser never holds part of a packet and stays in step. A packet cut by the
   * chunk boundary is carried to the next chunk (chunks kept, joined once it is complete).
   */
  private onData(chunk: Buffer): void {
    this.counters.bytes += chunk.length;
    this.receivedSincePing = true;
    // One clock read per chunk, not per message.
    this.chunkTime = Date.now();
    let buf = chunk;
    if (this.carry !== undefined) {
      this.carry.push(chunk);
      this.carryBytes += chunk.length;
      if (this.carryBytes < this.carryNeed) return;
      buf = Buffer.concat(this.carry, this.carryBytes);
      this.carry = undefined;
    }
    let o = 0;
    let need = 0; // bytes the packet cut at the end of `buf` needs in all; 0: its header is cut
    while (o < buf.length && this.phase !== 'closed') {
      // Fixed header: the type byte, then the remaining length (1-4 bytes, 7 bits each).
      let remaining = 0;
      let i = o + 1;
      let complete = false;
      for (let mul = 1; i < buf.length && i <= o + 4; i++, mul *= 128) {
        const b = buf[i] as number;
        remaining += (b & 0x7f) * mul;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
      }
      if (!complete) {
        if (i > o + 4) return this.fail(protocol('a remaining length longer than 4 bytes', DISCONNECT_REASON.malformedPacket), DISCONNECT_REASON.malformedPacket);
        break; // the header itself is cut: carry it
      }
      // Without this a peer announcing a 256 MiB packet would make us buffer 256 MiB.
      if (remaining > this.options.maximumPacketSize) {
        return this.fail(protocol(`a packet larger than Maximum Packet Size (${this.options.maximumPacketSize} bytes)`, DISCONNECT_REASON.packetTooLarge), DISCONNECT_REASON.packetTooLarge);
      }
      const end = i + remaining;
      if (end > buf.length) {
        need = end - o;
        break;
      }
      if (!this.readPublish(buf, o, i, end)) {
        try {
          this.parser.parse(buf.subarray(o, end));
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          return this.fail(protocol(`unparseable bytes (${msg})`, DISCONNECT_REASON.malformedPacket, err), DISCONNECT_REASON.malformedPacket);
        }
      }
      o = end;
    }
    if (o < buf.length && this.phase !== 'closed') {
      const rest = buf.subarray(o);
      this.carry = [rest];
      this.carryBytes = rest.length;
      this.carryNeed = need > 0 ? need : rest.length + 1; // a cut header: any more bytes may complete it
    }
  }

  /** Bytes of a packet cut by a chunk boundary, and how many the packet needs (at least). */
  private carry: Buffer[] | undefined;
  private carryBytes = 0;
  private carryNeed = 0;

  /**
   * Reads the packet `buf[o, end)` (body from `body`) if it is a PUBLISH this can read in place:
   * QoS 0 or 1, a topic, and (MQTT 5) no properties. False for anything else, which the
   * caller gives to mqtt-packet (and so to the same checks as before).
   */
  private readPublish(buf: Buffer, o: number, body: number, end: number): boolean {
    const b0 = buf[o] as number;
    if (b0 >> 4 !== 3) return false;
    const qos = ((b0 >> 1) & 3) as 0 | 1 | 2 | 3;
    if (qos > 1 || this.phase === 'connecting' || this.phase === 'closing') return false;
    let p = body;
    if (p + 2 > end) return false;
    const topicLength = buf.readUInt16BE(p);
    p += 2;
    if (topicLength === 0 || p + topicLength > end) return false;
    const topicAt = p;
    p += topicLength;
    let packetId = 0;
    if (qos === 1) {
      if (p + 2 > end) return false;
      packetId = buf.readUInt16BE(p);
      p += 2;
    }
    if (this.options.protocolVersion === 5) {
      if (p >= end || buf[p] !== 0) return false;
      p++;
    }
    this.onPublish(buf.toString('utf8', topicAt, topicAt + topicLength), buf.subarray(p, end), qos as 0 | 1, packetId, (b0 & 0x08) !== 0, (b0 & 0x01) !== 0);
    return true;
  }

  private onPacket(p: Packet): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    switch (p.cmd) {
      case 'publish':
        if (this.phase === 'connecting') return this.unexpected(p.cmd);
        if (p.qos === 2) {
          this.fail(protocol('a QoS 2 PUBLISH on a QoS 1 subscription', DISCONNECT_REASON.protocolError), DISCONNECT_REASON.protocolError);
          return;
        }
        return this.onPublish(p.topic, typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload, p.qos, p.messageId ?? 0, p.dup, p.retain);
      case 'pingresp':
        this.pingOutstanding = false;
        return;
      case 'connack':
        return this.onConnack(p);
      case 'suback':
        return this.onSuback(p);
      case 'disconnect':
        return this.onServerDisconnect(p);
      default:
        return this.unexpected(p.cmd);
    }
  }

  private unexpected(cmd: string): void {
    this.fail(protocol(`unexpected ${cmd.toUpperCase()} packet in phase ${this.phase}`, DISCONNECT_REASON.protocolError), DISCONNECT_REASON.protocolError);
  }

  private onConnack(p: IConnackPacket): void {
    if (this.phase !== 'connecting') return this.unexpected('connack');
    if (this.options.protocolVersion === 4) {
      const rc = p.returnCode ?? 0;
      if (rc !== 0) {
        // 3.1.1 return codes: 1 protocol, 2 client id, 3 server unavailable, 4 credentials, 5 not authorised.
        this.fail(
          new VigilError('VIGIL_E_MQTT_CONNECT_REFUSED', `MQTT 3.1.1 broker refused the connection of client "${this.options.clientId}" (return code ${rc})`, {
            details: { returnCode: rc, clientId: this.options.clientId },
            retriable: rc === 3,
          }),
        );
        return;
      }
    }
    const code = p.reasonCode ?? 0;
    if (code >= 0x80) {
      const retriable = isRetriableConnackCode(code);
      const why = p.properties?.reasonString ? ` (${p.properties.reasonString})` : '';
      this.fail(
        new VigilError('VIGIL_E_MQTT_CONNECT_REFUSED', `MQTT broker refused the connection of client "${this.options.clientId}": ${reasonName(code)}${why}`, {
          details: { reasonCode: code, reason: reasonName(code), clientId: this.options.clientId },
          retriable,
        }),
      );
      return;
    }
    const props = p.properties ?? {};
    if (props.serverKeepAlive !== undefined) this.keepaliveSeconds = props.serverKeepAlive;
    if (props.assignedClientIdentifier !== undefined) this.clientId = props.assignedClientIdentifier;
    if (props.sharedSubscriptionAvailable === false) {
      const shared = this.options.subscriptions.find((f) => f.startsWith('$share/'));
      if (shared !== undefined) return this.refuseSubscription(shared, 0x9e);
    }
    this.sessionPresent = p.sessionPresent;
    this.phase = 'subscribing';
    this.socket.write(
      generate(
        {
          cmd: 'subscribe',
          messageId: SUBSCRIBE_ID,
          subscriptions: this.options.subscriptions.map((topic) => ({ topic, qos: 1 as const })),
        },
        { protocolVersion: this.options.protocolVersion },
      ),
    );
  }

  private sessionPresent = false;

  private onSuback(p: ISubackPacket): void {
    if (this.phase !== 'subscribing' || p.messageId !== SUBSCRIBE_ID) return this.unexpected('suback');
    const granted = p.granted as number[];
    for (let i = 0; i < this.options.subscriptions.length; i++) {
      const code = granted[i];
      // Granted QoS 0 would silently turn at-least-once into at-most-once.
      if (typeof code !== 'number' || code >= 0x80 || code < 1) return this.refuseSubscription(this.options.subscriptions[i] as string, code ?? 0x80);
    }
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.phase = 'ready';
    if (this.keepaliveSeconds > 0) {
      this.keepaliveTimer = setInterval(() => this.keepaliveTick(), this.keepaliveSeconds * 1000);
      this.keepaliveTimer.unref();
    }
    this.settle?.resolve({ sessionPresent: this.sessionPresent, keepaliveSeconds: this.keepaliveSeconds, clientId: this.clientId });
    this.settle = undefined;
  }

  private refuseSubscription(filter: string, code: number): void {
    const what = code < 0x80 ? `granted QoS ${code} where QoS 1 is required` : reasonName(code);
    this.fail(
      new VigilError('VIGIL_E_MQTT_SUBSCRIBE_REFUSED', `MQTT broker refused the subscription "${filter}": ${what}`, {
        details: { filter, reasonCode: code, reason: reasonName(code) },
      }),
    );
  }

  private onServerDisconnect(p: IDisconnectPacket): void {
    const code = p.reasonCode ?? 0;
    const why = p.properties?.reasonString ? ` (${p.properties.reasonString})` : '';
    // The broker closes the socket itself; answering with a DISCONNECT is not allowed.
    this.fail(
      lost('server-disconnect', `MQTT broker disconnected us: ${reasonName(code)}${why}`, {
        reasonCode: code,
        reason: reasonName(code),
        serverReference: p.properties?.serverReference,
      }),
    );
  }

  private onPublish(topic: string, payload: Buffer, qos: 0 | 1, messageId: number, dup: boolean, retain: boolean): void {
    // We advertise Topic Alias Maximum 0, so an empty topic can only be a broken alias.
    if (typeof topic !== 'string' || topic.length === 0) {
      this.fail(protocol('a PUBLISH without a topic name', DISCONNECT_REASON.protocolError), DISCONNECT_REASON.protocolError);
      return;
    }
    let seq = -1;
    let packetId = 0;
    if (qos === 1) {
      packetId = messageId;
      if (packetId < 1) {
        this.fail(protocol('a QoS 1 PUBLISH without a packet id', DISCONNECT_REASON.protocolError), DISCONNECT_REASON.protocolError);
        return;
      }
      const limit = this.options.receiveMaximum;
      if (this.sequencer.pending >= limit) {
        if (this.options.strictReceiveMaximum || this.sequencer.pending >= MAX_PACKET_IDS) {
          this.fail(protocol(`more than Receive Maximum (${limit}) unacknowledged QoS 1 messages`, DISCONNECT_REASON.receiveMaximumExceeded), DISCONNECT_REASON.receiveMaximumExceeded);
          return;
        }
        this.counters.receiveMaximumExceeded++;
      }
      seq = this.sequencer.push(packetId);
      // Our side of flow control: stop reading at Receive Maximum, so a broker that does
      // not keep to it cannot push more than one socket chunk past it.
      if (this.sequencer.pending >= limit && !this.flowPaused) {
        this.flowPaused = true;
        this.socket.pause();
      }
    }
    const msg = new InboundMessage(topic, payload, qos, packetId, dup, retain, this.chunkTime, qos === 1 ? this : undefined, seq);
    this.counters.messages++;
    if (dup) this.counters.redelivered++;
    try {
      this.options.onMessage(msg);
    } catch (err) {
      this.hooks.handlerFailed(
        new VigilError('VIGIL_E_INTERNAL', `MQTT ingest onMessage handler threw on topic "${topic}"; the message stays unacknowledged`, {
          details: { topic, packetId },
          cause: err,
        }),
      );
    }
  }

  /** Writes every PUBACK the acknowledged prefix allows, as one buffer. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.phase === 'closed') return;
    const n = this.sequencer.takeReady(this.ready);
    if (n > 0) {
      this.socket.write(encodePubacks(this.ready, n));
      this.counters.acks += n;
      this.counters.ackWrites++;
      if (this.flowPaused && this.sequencer.pending < this.options.receiveMaximum && this.phase !== 'closing') {
        this.flowPaused = false;
        this.receivedSincePing = true;
        if (!this.paused) this.socket.resume();
      }
    }
    if (this.drainWaiter !== undefined && this.sequencer.pending === 0) this.drainWaiter();
  };

  private keepaliveTick(): void {
    // Any byte from the broker proves the link alive (a PINGRESP may sit behind a burst of
    // PUBLISHes); a paused socket cannot read, so it cannot judge.
    if (this.pingOutstanding && !this.receivedSincePing && !this.paused && !this.flowPaused) {
      const s = this.keepaliveSeconds;
      this.fail(lost('keepalive', `MQTT broker sent nothing for ${2 * s} s (no PINGRESP to a PINGREQ within the ${s} s keep-alive): dead peer`), DISCONNECT_REASON.keepAliveTimeout);
      return;
    }
    this.pingOutstanding = true;
    this.receivedSincePing = false;
    this.socket.write(PINGREQ);
  }

  /**
   * Ends the connection because of `error`. With a reason code the broker gets a DISCONNECT
   * saying why (MQTT 5 asks for one on protocol errors); otherwise the socket is dropped.
   */
  private fail(error: VigilError, reasonCode?: number): void {
    if (this.phase === 'closing' || this.phase === 'closed') return;
    this.error = error;
    if (error.code === 'VIGIL_E_MQTT_PROTOCOL') this.counters.protocolErrors++;
    this.settle?.reject(error);
    this.settle = undefined;
    if (reasonCode !== undefined && this.socket.writable) this.endWith(reasonCode);
    else {
      this.phase = 'closing';
      this.socket.destroy();
    }
  }

  private endWith(reasonCode: number): void {
    this.phase = 'closing';
    this.socket.end(
      this.options.protocolVersion === 5 ? generate({ cmd: 'disconnect', reasonCode }, { protocolVersion: 5 }) : generate({ cmd: 'disconnect' }, { protocolVersion: 4 }),
    );
    // Read (and ignore) what still comes, or a paused socket would never see the broker's
    // FIN and never close.
    this.socket.resume();
    this.graceTimer = setTimeout(() => this.socket.destroy(), DISCONNECT_GRACE_MS);
    this.graceTimer.unref();
  }

  private onClose(): void {
    if (this.phase === 'closed') return;
    const wasGraceful = this.phase === 'closing' && this.error === undefined;
    this.phase = 'closed';
    clearTimeout(this.connectTimer);
    clearInterval(this.keepaliveTimer);
    clearTimeout(this.graceTimer);
    this.drainWaiter?.();
    const error = wasGraceful ? undefined : (this.error ?? lost('closed', `MQTT broker ${this.options.host}:${this.options.port} closed the connection`));
    if (!wasGraceful) this.settle?.reject(error as VigilError);
    this.settle = undefined;
    // Unacknowledged messages are deliberately not acknowledged: the broker redelivers them.
    const unacked = this.sequencer.clear();
    this.hooks.closed(this, error, unacked);
  }
}
