import { generate, type IPublishPacket } from 'mqtt-packet';
import { MqttIngestClient, type IngestMessage } from '../../../src/edge/mqtt';
import type { VigilError } from '../../../src/errors';
import { answerHandshake, FakeBroker, waitFor, type FakeSession } from './fake-broker';

// The ingest connection frames packets itself and reads a plain PUBLISH in place; anything
// else goes to mqtt-packet whole. Whatever the chunking, the messages must be exactly what the
// broker sent, in order — checked against a seeded stream of PUBLISHes (QoS 0/1, dup/retain,
// UTF-8 topics, empty to multi-chunk payloads, some with MQTT 5 properties) and PINGRESPs,
// written in random slices from 1 byte up.

const brokers: FakeBroker[] = [];
const clients: MqttIngestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

let seed = 7;
const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;

function packets(n: number, maxSize: number): { bytes: Buffer; sent: IPublishPacket[] } {
  const out: Buffer[] = [];
  const sent: IPublishPacket[] = [];
  let id = 1;
  for (let i = 0; i < n; i++) {
    if (rnd() < 0.1) out.push(generate({ cmd: 'pingresp' }, { protocolVersion: 5 }));
    const qos = pick([0, 1] as const);
    const size = pick([0, 1, 80, 127, 128, 300, 4000, 16_384, 70_000].filter((n) => n <= maxSize));
    const p: IPublishPacket = {
      cmd: 'publish',
      topic: `vigil/v1/${pick(['north', 'sud-é', '東'])}/u${i % 7}/d-${i}/telemetry`,
      payload: Buffer.from(Array.from({ length: size }, (_, k) => (k * 31 + i) & 0xff)),
      qos,
      dup: qos === 1 && rnd() < 0.2,
      retain: rnd() < 0.1,
      ...(qos === 1 ? { messageId: (id = (id % 65535) + 1) } : {}),
      ...(rnd() < 0.15 ? { properties: { userProperties: { k: 'v' }, payloadFormatIndicator: false } } : {}),
    };
    out.push(generate(p, { protocolVersion: 5 }));
    sent.push(p);
  }
  return { bytes: Buffer.concat(out), sent };
}

async function writeSliced(s: FakeSession, bytes: Buffer, maxSlice: number): Promise<void> {
  for (let o = 0; o < bytes.length; ) {
    const n = Math.max(1, Math.floor(rnd() * maxSlice));
    s.raw(bytes.subarray(o, o + n));
    o += n;
    // Let the slice leave as its own TCP segment now and then, so reads end inside packets.
    if (rnd() < 0.3) await new Promise((r) => setImmediate(r));
  }
}

describe('MqttIngestClient framing (fake broker)', () => {
  for (const maxSlice of [3, 64, 5000, 200_000]) {
    it(`delivers every message exactly as sent when the stream arrives in slices of up to ${maxSlice} bytes`, async () => {
      let session: FakeSession | undefined;
      const b = await FakeBroker.start((s, p) => {
        answerHandshake(s, p);
        if (p.cmd === 'subscribe') session = s;
      });
      brokers.push(b);
      const messages: IngestMessage[] = [];
      const errors: VigilError[] = [];
      const c = new MqttIngestClient({ url: b.url, clientId: 'gw-framing', subscriptions: ['vigil/v1/+/+/+/telemetry'], onMessage: (m) => messages.push(m), receiveMaximum: 65535 });
      c.on('error', (e) => errors.push(e));
      clients.push(c);
      await c.start();
      await waitFor(() => session !== undefined);
      const { bytes, sent } = maxSlice === 3 ? packets(80, 4000) : packets(300, 70_000);
      await writeSliced(session as FakeSession, bytes, maxSlice);
      await waitFor(() => messages.length >= sent.length, 20_000, `${sent.length} messages`);
      expect(errors).toEqual([]);
      expect(messages).toHaveLength(sent.length);
      for (let i = 0; i < sent.length; i++) {
        const m = messages[i] as IngestMessage;
        const p = sent[i] as IPublishPacket;
        expect({ topic: m.topic, qos: m.qos, packetId: m.packetId, dup: m.dup, retain: m.retain }).toEqual({ topic: p.topic, qos: p.qos, packetId: p.messageId ?? 0, dup: p.dup, retain: p.retain });
        expect(Buffer.from(m.payload).equals(p.payload as Buffer)).toBe(true);
      }
    });
  }

  it('refuses a remaining length longer than 4 bytes as malformed', async () => {
    let session: FakeSession | undefined;
    const b = await FakeBroker.start((s, p) => {
      answerHandshake(s, p);
      if (p.cmd === 'subscribe') session = s;
    });
    brokers.push(b);
    const errors: VigilError[] = [];
    const c = new MqttIngestClient({ url: b.url, clientId: 'gw-framing', subscriptions: ['a'], onMessage: () => undefined, reconnect: false });
    c.on('error', (e) => errors.push(e));
    clients.push(c);
    await c.start();
    await waitFor(() => session !== undefined);
    (session as FakeSession).raw([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    await waitFor(() => errors.length > 0);
    expect(errors[0]?.message).toMatch(/remaining length longer than 4 bytes/);
  });
});
