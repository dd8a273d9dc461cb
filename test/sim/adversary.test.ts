import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/cli/demo/embedded-broker';
import { Adversary } from '../../src/sim';

// The simulated attacker only re-sends what it saw on the wire: unchanged (replays) or with
// one byte flipped (tampering). The gateway tests show both are refused.
describe('Adversary', () => {
  let broker: EmbeddedBroker;
  beforeEach(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterEach(async () => {
    await broker.close();
  });

  it('replays captured frames and publishes tampered copies, never anything new', async () => {
    const topic = `vigil/v1/t${randomUUID().slice(0, 6)}/u/dev-1/telemetry`;
    const seen: Buffer[] = [];
    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    await watcher.subscribeAsync(topic, { qos: 1 });
    watcher.on('message', (_t, p) => seen.push(Buffer.from(p)));
    const adversary = await Adversary.start({ mqttUrl: broker.url, topicFilter: 'vigil/v1/+/+/+/telemetry', replaysPerMinute: 1200, tamperedPerMinute: 1200, protocolVersion: 4 });
    const device = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      const original = Buffer.from('0123456789abcdef-frame');
      await device.publishAsync(topic, original, { qos: 1 });
      const t0 = Date.now();
      while ((adversary.stats().replayed < 2 || adversary.stats().tampered < 2) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      const s = adversary.stats();
      expect(s.captured).toBeGreaterThanOrEqual(1);
      expect(s.replayed).toBeGreaterThanOrEqual(2);
      expect(s.tampered).toBeGreaterThanOrEqual(2);
      const replays = seen.filter((b) => b.equals(original));
      const tampered = seen.filter((b) => !b.equals(original));
      expect(replays.length).toBeGreaterThanOrEqual(3); // the original plus replays
      for (const b of tampered) {
        expect(b.length).toBe(original.length);
        const diff = [...b].filter((x, i) => x !== original[i]).length;
        expect(diff).toBe(1); // one flipped byte, nothing invented
      }
    } finally {
      await adversary.stop();
      await device.endAsync();
      await watcher.endAsync();
    }
  });
});
