import type { Packet } from 'mqtt-packet';
import { MqttIngestClient, type IngestMessage, type MqttIngestOptions } from '../../../src/edge/mqtt';
import type { VigilError } from '../../../src/errors';
import { channels, type ConnectionEvent } from '../../../src/instrument/channels';
import { until } from '../../harness/until';
import { answerHandshake, FakeBroker, waitFor, type FakeSession } from './fake-broker';

// Protocol behaviour against a scripted fake broker on loopback (no real broker needed):
// malformed input, refusals, server DISCONNECT, keep-alive, Receive Maximum, ack ordering.

const brokers: FakeBroker[] = [];
const clients: MqttIngestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

async function broker(script: (s: FakeSession, p: Packet) => void): Promise<FakeBroker> {
  const b = await FakeBroker.start(script);
  brokers.push(b);
  return b;
}

function client(b: FakeBroker, extra: Partial<MqttIngestOptions> = {}): { c: MqttIngestClient; messages: IngestMessage[]; errors: VigilError[] } {
  const messages: IngestMessage[] = [];
  const errors: VigilError[] = [];
  const c = new MqttIngestClient({
    url: b.url,
    clientId: 'gw-test',
    subscriptions: ['$share/g/vigil/v1/+/+/+/telemetry'],
    onMessage: (m) => messages.push(m),
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 100,
    ...extra,
  });
  c.on('error', (e) => errors.push(e));
  clients.push(c);
  return { c, messages, errors };
}

function publish(s: FakeSession, messageId: number, qos: 0 | 1 = 1): void {
  s.send({ cmd: 'publish', topic: 'vigil/v1/t/u/d/telemetry', payload: Buffer.from([messageId & 0xff]), qos, dup: false, retain: false, messageId });
}

function pubacks(s: FakeSession): number[] {
  return s.received.filter((p) => p.cmd === 'puback').map((p) => p.messageId as number);
}

describe('MqttIngestClient protocol handling (fake broker)', () => {
  it('sends CONNECT with MQTT 5 session options and Receive Maximum, then SUBSCRIBEs at QoS1', async () => {
    const b = await broker(answerHandshake);
    const { c } = client(b, { receiveMaximum: 77, cleanStart: false, sessionExpirySeconds: 600, keepaliveSeconds: 15, username: 'u', password: 'p' });
    await c.start();
    const [connect, subscribe] = b.sessions[0]?.received ?? [];
    expect(connect).toMatchObject({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'gw-test',
      clean: false,
      keepalive: 15,
      username: 'u',
      properties: { receiveMaximum: 77, sessionExpiryInterval: 600, topicAliasMaximum: 0 },
    });
    expect(subscribe).toMatchObject({ cmd: 'subscribe', subscriptions: [{ topic: '$share/g/vigil/v1/+/+/+/telemetry', qos: 1 }] });
    expect(c.connected).toBe(true);
  });

  it('writes PUBACKs in receive order, batched, whatever order the owner acks in', async () => {
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') for (let id = 1; id <= 6; id++) publish(s, id);
    });
    const { c, messages } = client(b);
    await c.start();
    await waitFor(() => messages.length === 6, 5000, '6 messages');
    expect(c.inflight).toBe(6);
    const s = b.sessions[0] as FakeSession;
    for (const i of [5, 3, 1, 4]) c.ack(messages[i] as IngestMessage);
    await new Promise((r) => setTimeout(r, 50));
    expect(pubacks(s)).toEqual([]); // message 1 (index 0) holds everything back
    c.ack(messages[0] as IngestMessage);
    await waitFor(() => pubacks(s).length === 2, 5000, 'first PUBACKs');
    expect(pubacks(s)).toEqual([1, 2]);
    c.ack(messages[2] as IngestMessage);
    await waitFor(() => pubacks(s).length === 6, 5000, 'all PUBACKs');
    expect(pubacks(s)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(c.counters.acks).toBe(6);
    expect(c.counters.ackWrites).toBe(2);
    expect(c.inflight).toBe(0);
    c.ack(messages[0] as IngestMessage); // repeated: ignored
    expect(c.counters.staleAcks).toBe(1);
  });

  it('delivers QoS0 messages without expecting an ack', async () => {
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') publish(s, 0, 0);
    });
    const { c, messages } = client(b);
    await c.start();
    await waitFor(() => messages.length === 1);
    expect(messages[0]).toMatchObject({ qos: 0, packetId: 0, topic: 'vigil/v1/t/u/d/telemetry' });
    expect(c.inflight).toBe(0);
    c.ack(messages[0] as IngestMessage);
    expect(pubacks(b.sessions[0] as FakeSession)).toEqual([]);
  });

  it.each([
    ['reserved bits set in a PUBREL header', [0x60, 0x02, 0x00, 0x01]],
    ['both QoS bits set', [0x36, 0x03, 0x00, 0x01, 0x61]],
    ['an invalid property id', [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0xff, 0x00]],
    ['a reserved packet type 0', [0x00, 0x00]],
    ['a malformed remaining length', [0x30, 0xff, 0xff, 0xff, 0xff, 0x01]],
  ])('closes the connection on malformed input (%s), counts it, reconnects, never crashes', async (_what, bytes) => {
    let connects = 0;
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe' && ++connects === 1) s.raw(bytes);
    });
    const { c, errors } = client(b);
    await c.start();
    await waitFor(() => connects >= 2 && c.connected, 5000, 'reconnect after the protocol error');
    expect(c.counters.protocolErrors).toBe(1);
    expect(c.counters.reconnects).toBe(1);
    expect(errors[0]).toMatchObject({ code: 'VIGIL_E_MQTT_PROTOCOL', retriable: true });
    expect(errors[0]?.message).toMatch(/MQTT protocol error from the broker/);
  });

  it('refuses a packet larger than Maximum Packet Size without buffering it', async () => {
    let connects = 0;
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      // A PUBLISH announcing 10 MB and then streaming bytes.
      if (p.cmd === 'subscribe' && ++connects === 1) s.raw(Buffer.concat([Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04]), Buffer.alloc(300_000)]));
    });
    const { c, errors } = client(b, { maximumPacketSize: 100_000 });
    await c.start();
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'VIGIL_E_MQTT_PROTOCOL', details: { reasonCode: 0x95 } });
    await waitFor(() => b.sessions[0]?.received.some((p) => p.cmd === 'disconnect') ?? false, 5000, 'our DISCONNECT');
    expect(b.sessions[0]?.received.find((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x95 });
  });

  it('tolerates a broker overshooting Receive Maximum by default: counts it, delivers, acks in order', async () => {
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') for (let id = 1; id <= 5; id++) publish(s, id);
    });
    const { c, messages, errors } = client(b, { receiveMaximum: 3 });
    await c.start();
    await waitFor(() => messages.length === 5, 5000, 'the overshooting messages');
    expect(c.counters.receiveMaximumExceeded).toBe(2);
    for (const m of [...messages].reverse()) c.ack(m);
    await waitFor(() => pubacks(b.sessions[0] as FakeSession).length === 5, 5000, 'PUBACKs');
    expect(pubacks(b.sessions[0] as FakeSession)).toEqual([1, 2, 3, 4, 5]);
    expect(errors).toEqual([]);
  });

  it('with strictReceiveMaximum closes with DISCONNECT 0x93 when the broker exceeds Receive Maximum', async () => {
    let connects = 0;
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe' && ++connects === 1) for (let id = 1; id <= 4; id++) publish(s, id);
    });
    const { c, messages, errors } = client(b, { receiveMaximum: 3, strictReceiveMaximum: true });
    await c.start();
    await waitFor(() => errors.length > 0);
    expect(messages).toHaveLength(3);
    expect(errors[0]).toMatchObject({ code: 'VIGIL_E_MQTT_PROTOCOL', details: { reasonCode: 0x93 } });
    await waitFor(() => b.sessions[0]?.received.some((p) => p.cmd === 'disconnect') ?? false, 5000, 'our DISCONNECT');
    expect(b.sessions[0]?.received.find((p) => p.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x93 });
  });

  it('rejects start() with a non-retriable VIGIL_E_MQTT_CONNECT_REFUSED and does not retry', async () => {
    const b = await broker((s, p) => {
      if (p.cmd === 'connect') s.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0x87, properties: { reasonString: 'acl' } });
    });
    const { c } = client(b);
    const err = await c.start().then(
      () => undefined,
      (e: VigilError) => e,
    );
    expect(err).toMatchObject({ code: 'VIGIL_E_MQTT_CONNECT_REFUSED', retriable: false, details: { reasonCode: 0x87, reason: 'Not authorized' } });
    expect(err?.message).toContain('Not authorized (acl)');
    await new Promise((r) => setTimeout(r, 150));
    expect(b.sessions).toHaveLength(1);
    expect(c.state).toBe('failed');
  });

  it('retries a retriable CONNACK refusal (Server busy) with backoff', async () => {
    let connects = 0;
    const b = await broker((s, p) => {
      if (p.cmd === 'connect' && ++connects < 3) s.send({ cmd: 'connack', sessionPresent: false, reasonCode: 0x89 });
      else answerHandshake(s, p);
    });
    const { c, errors } = client(b);
    await c.start();
    expect(connects).toBe(3);
    expect(errors.map((e) => [e.code, e.retriable])).toEqual([
      ['VIGIL_E_MQTT_CONNECT_REFUSED', true],
      ['VIGIL_E_MQTT_CONNECT_REFUSED', true],
    ]);
    expect(c.counters.reconnects).toBe(2);
  });

  it('fails with VIGIL_E_MQTT_SUBSCRIBE_REFUSED when a filter is refused or granted QoS 0', async () => {
    for (const granted of [0x80, 0x00]) {
      const b = await broker((s, p) => {
        if (p.cmd === 'subscribe') s.send({ cmd: 'suback', messageId: p.messageId as number, granted: [granted] });
        else answerHandshake(s, p);
      });
      const { c } = client(b);
      await expect(c.start()).rejects.toMatchObject({ code: 'VIGIL_E_MQTT_SUBSCRIBE_REFUSED', details: { filter: '$share/g/vigil/v1/+/+/+/telemetry' } });
    }
  });

  it('reports a server DISCONNECT with its reason code, publishes connection events and reconnects', async () => {
    const events: ConnectionEvent[] = [];
    const listener = (e: ConnectionEvent): void => void events.push({ ...e });
    channels.connection.subscribe(listener);
    try {
      let connects = 0;
      const b = await broker((s, p) => {
        answerHandshake(s, p);
        if (p.cmd === 'subscribe' && ++connects === 1) {
          s.send({ cmd: 'disconnect', reasonCode: 0x8b, properties: { reasonString: 'maintenance' } });
          s.socket.end();
        }
      });
      const { c, errors } = client(b);
      const disconnects: unknown[] = [];
      c.on('disconnect', (d) => disconnects.push(d));
      await c.start();
      await waitFor(() => connects === 2 && c.connected, 5000, 'reconnect');
      expect(errors[0]).toMatchObject({ code: 'VIGIL_E_MQTT_CONNECTION_LOST', retriable: true, details: { cause: 'server-disconnect', reasonCode: 0x8b } });
      expect(errors[0]?.message).toContain('Server shutting down (maintenance)');
      expect(disconnects).toHaveLength(1);
      expect(events.filter((e) => e.peer === 'mqtt').map((e) => e.connected)).toEqual([true, false, true]);
    } finally {
      channels.connection.unsubscribe(listener);
    }
  });

  it('detects a dead peer by keep-alive (PINGREQ unanswered)', async () => {
    const b = await broker((s, p) => {
      if (p.cmd !== 'pingreq') answerHandshake(s, p); // swallows pings
    });
    const { c, errors } = client(b, { keepaliveSeconds: 1, reconnect: false });
    await c.start();
    await waitFor(() => errors.length > 0, 5000, 'keep-alive timeout');
    expect(errors[0]).toMatchObject({ code: 'VIGIL_E_MQTT_CONNECTION_LOST', details: { cause: 'keepalive' } });
    expect(b.sessions[0]?.received.filter((p) => p.cmd === 'pingreq').length).toBeGreaterThanOrEqual(1);
    expect(c.state).toBe('failed');
  });

  it('keeps a healthy link alive with PINGREQ/PINGRESP', async () => {
    const b = await broker(answerHandshake);
    const { c, errors } = client(b, { keepaliveSeconds: 1 });
    await c.start();
    await new Promise((r) => setTimeout(r, 2600));
    expect(errors).toEqual([]);
    expect(c.connected).toBe(true);
    expect(b.sessions[0]?.received.filter((p) => p.cmd === 'pingreq').length).toBeGreaterThanOrEqual(2);
  });

  it('times out a broker that never answers CONNECT', async () => {
    const b = await broker(() => undefined);
    const { c } = client(b, { connectTimeoutMs: 200, reconnect: false });
    await expect(c.start()).rejects.toMatchObject({ code: 'VIGIL_E_MQTT_CONNECTION_LOST', details: { cause: 'connect-timeout' } });
  });

  it('ignores acks of a previous connection (packet ids restart) and leaves them unacknowledged', async () => {
    let connects = 0;
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') publish(s, 1);
    });
    const { c, messages } = client(b);
    c.on('connect', () => connects++);
    await c.start();
    await waitFor(() => messages.length === 1);
    const first = b.sessions[0] as FakeSession;
    first.socket.destroy();
    await waitFor(() => connects === 2 && messages.length === 2, 5000, 'reconnect and redelivery');
    c.ack(messages[0] as IngestMessage); // same packet id 1, but of the old connection
    await new Promise((r) => setTimeout(r, 50));
    expect(pubacks(b.sessions[1] as FakeSession)).toEqual([]);
    expect(c.counters.staleAcks).toBe(1);
    c.ack(messages[1] as IngestMessage);
    await waitFor(() => pubacks(b.sessions[1] as FakeSession).length === 1);
    expect(pubacks(first)).toEqual([]);
  });

  it('publishes (durable receipts) once the CONNACK is in, also while its SUBACK is outstanding', async () => {
    // A broker resuming our session sends what it queued for us before the SUBACK: behind a
    // long backlog the SUBACK comes seconds later, and the frames of that backlog are made
    // durable meanwhile. Their receipts must go out then, not be dropped (chaos seed 435755603).
    let subscribe: Packet | undefined;
    const b = await broker((s, p) => {
      if (p.cmd === 'connect') s.send({ cmd: 'connack', sessionPresent: true, reasonCode: 0 });
      else if (p.cmd === 'subscribe') {
        subscribe = p;
        publish(s, 1); // the backlog, ahead of the SUBACK
      }
    });
    const { c, messages } = client(b);
    expect(c.publish('vigil/v1/t/u/d/receipt', Buffer.from([1]))).toBe(false); // no connection yet
    const started = c.start();
    await waitFor(() => messages.length === 1, 5000, 'the backlog before the SUBACK');
    expect(c.connected).toBe(false);
    expect(c.publish('vigil/v1/t/u/d/receipt', Buffer.from([7]))).toBe(true);
    const s = b.sessions[0] as FakeSession;
    await waitFor(() => s.received.some((p) => p.cmd === 'publish'), 5000, 'the receipt at the broker');
    expect(s.received.find((p) => p.cmd === 'publish')).toMatchObject({ topic: 'vigil/v1/t/u/d/receipt', qos: 0 });
    s.send({ cmd: 'suback', messageId: (subscribe as Packet & { messageId: number }).messageId, granted: [1] });
    await started;
    expect(c.connected).toBe(true);
    expect(c.counters).toMatchObject({ published: 1, publishDropped: 1 });
  });

  it('survives a throwing onMessage handler: reports VIGIL_E_INTERNAL, keeps the connection', async () => {
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') publish(s, 1);
    });
    const { c, errors } = client(b, {
      onMessage: () => {
        throw new Error('owner bug');
      },
    });
    await c.start();
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toMatchObject({ code: 'VIGIL_E_INTERNAL' });
    expect(c.connected).toBe(true);
  });

  it('does not crash without an error listener', async () => {
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') s.raw([0x00, 0x00]);
    });
    const c = new MqttIngestClient({ url: b.url, clientId: 'x', subscriptions: ['a'], onMessage: () => undefined, reconnect: false });
    clients.push(c);
    await c.start();
    await waitFor(() => c.state === 'failed');
    expect(c.counters.protocolErrors).toBe(1);
  });

  it('close() sends DISCONNECT (Normal) and resolves once the socket is closed; drains acks first when asked', async () => {
    const b = await broker((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') publish(s, 9);
      if (p.cmd === 'disconnect') s.socket.end();
    });
    const { c, messages } = client(b);
    await c.start();
    await waitFor(() => messages.length === 1);
    setTimeout(() => c.ack(messages[0] as IngestMessage), 30);
    await c.close({ drainTimeoutMs: 2000 });
    const s = b.sessions[0] as FakeSession;
    expect(s.received.map((p) => p.cmd)).toEqual(['connect', 'subscribe', 'puback', 'disconnect']);
    expect(s.received[3]).toMatchObject({ reasonCode: 0 });
    expect(c.state).toBe('closed');
    expect(s.socket.destroyed || s.socket.readableEnded).toBe(true);
  });

  it('close() while waiting to reconnect cancels the retry and rejects start()', async () => {
    const b = await broker(() => undefined);
    await b.close();
    brokers.splice(0);
    const c = new MqttIngestClient({ url: b.url, clientId: 'x', subscriptions: ['a'], onMessage: () => undefined, reconnectInitialDelayMs: 50 });
    const started = c.start();
    started.catch(() => undefined);
    // Closed while it waits to reconnect (a condition, not a fixed sleep: this machine may be slow).
    await until(() => c.counters.reconnects >= 1, 10_000, 'a first reconnect attempt');
    await c.close();
    await expect(started).rejects.toMatchObject({ code: 'VIGIL_E_MQTT_CLOSED' });
    expect(c.counters.reconnects).toBeGreaterThanOrEqual(1);
    expect(c.state).toBe('closed');
  });
});
