import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/cli/demo/embedded-broker';
import { connectProtocolLevel } from '../../src/cli/demo/mqtt5-front';
import { until } from '../harness/until';

const connectBytes = (protocolVersion: 4 | 5): Buffer => generate({ cmd: 'connect', clientId: 'c1', protocolVersion, protocolId: 'MQTT', clean: true, keepalive: 30 }, { protocolVersion });

describe('MQTT 5 in front of the demo broker (aedes speaks 3.1.1)', () => {
  let broker: EmbeddedBroker;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
  });
  afterAll(() => broker.close());

  const client = async (protocolVersion: 4 | 5): Promise<{ c: MqttClient; connack: IConnackPacket }> => {
    const c = mqtt.connect(broker.url, { protocolVersion, reconnectPeriod: 0 });
    clients.push(c);
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    return { c, connack };
  };

  it('reads the protocol level of a CONNECT however the bytes arrive, and tells a non-CONNECT apart', () => {
    for (const v of [4, 5] as const) {
      const bytes = connectBytes(v);
      for (let n = 0; n < 9; n++) expect(connectProtocolLevel(bytes.subarray(0, n))).toBeUndefined();
      expect(connectProtocolLevel(bytes.subarray(0, 9))).toBe(v);
      expect(connectProtocolLevel(bytes)).toBe(v);
    }
    expect(connectProtocolLevel(Buffer.from([0x30, 0x02, 0x00, 0x00]))).toBe(-1);
  });

  it('lets MQTT 5 and 3.1.1 clients exchange QoS 1 messages, and the CONNACK names what MQTT 5 features it lacks', async () => {
    const v5 = await client(5);
    const v4 = await client(4);
    expect(v5.connack.reasonCode ?? 0).toBe(0);
    expect(v5.connack.properties).toEqual({ topicAliasMaximum: 0, subscriptionIdentifiersAvailable: false, sharedSubscriptionAvailable: false });
    const got: string[] = [];
    v5.c.on('message', (t, m) => got.push(`v5 got ${t} ${m.toString()}`));
    v4.c.on('message', (t, m) => got.push(`v4 got ${t} ${m.toString()}`));
    expect((await v5.c.subscribeAsync('front/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    await v4.c.subscribeAsync('front/#', { qos: 1 });
    await v5.c.publishAsync('front/a', 'from-5', { qos: 1, properties: { userProperties: { dropped: 'yes' } } });
    await v4.c.publishAsync('front/b', 'from-4', { qos: 1 });
    await until(() => got.length === 4, 5000);
    expect(got.sort()).toEqual(['v4 got front/a from-5', 'v4 got front/b from-4', 'v5 got front/a from-5', 'v5 got front/b from-4']);
    // UNSUBACK has a reason code per topic in MQTT 5 (none in 3.1.1): mqtt.js checks the count.
    await v5.c.unsubscribeAsync(['front/#', 'other/#']);
    await v5.c.publishAsync('front/c', 'after', { qos: 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect(got.filter((g) => g.startsWith('v5')).length).toBe(2);
  });

  it('survives a client reset in the middle of its CONNECT, and goes on serving others', async () => {
    // In its own process: jest would swallow the unhandled socket error that kills a real demo.
    const script = `require(${JSON.stringify(join(__dirname, '../../src/cli/demo/embedded-broker.ts'))}).startEmbeddedBroker({ port: 0 }).then((b) => console.log(b.port))`;
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
        child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
      });
      const socket = tcpConnect(port, '127.0.0.1');
      await new Promise<void>((r) => socket.once('connect', () => r()));
      socket.write(connectBytes(5).subarray(0, 4));
      await new Promise((r) => setTimeout(r, 100));
      socket.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 200));
      expect(child.exitCode).toBeNull();
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
      await c.endAsync();
    } finally {
      child.kill();
    }
  });

  it('disconnects a client that uses a topic alias it was not granted, with reason 0x94', async () => {
    const socket = tcpConnect(broker.port, '127.0.0.1');
    const received: Packet[] = [];
    const p = createParser({ protocolVersion: 5 });
    p.on('packet', (pk: Packet) => received.push(pk));
    socket.on('data', (b: Buffer) => p.parse(b));
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.write(connectBytes(5));
    await until(() => received.some((r) => r.cmd === 'connack'), 5000);
    socket.write(generate({ cmd: 'publish', topic: 'front/x', payload: 'x', qos: 0, dup: false, retain: false, properties: { topicAlias: 1 } }, { protocolVersion: 5 }));
    await until(() => closed, 5000);
    expect(received.find((r) => r.cmd === 'disconnect')).toMatchObject({ reasonCode: 0x94 });
  });
});
