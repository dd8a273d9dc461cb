import { randomUUID } from 'node:crypto';
import { KafkaBus } from '../../src/bus';
import { out } from '../../src/cli/output';
import { runTap } from '../../src/cli/tap-command';
import { generateStreamKey } from '../../src/crypto';
import type { TapRecordJson } from '../../src/tap';
import { produce, sealed, vitals } from './helpers';

// `vigil tap`'s core against the real Kafka of the harness: it must see records produced
// after it started (it starts at the latest offset), and refuse a stream it has no key for.
const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');

describe('vigil tap against Kafka', () => {
  const bus = new KafkaBus({ brokers, clientId: `vigil-test-tap-${randomUUID()}` });
  const topic = `vigil-test.derived.tap-${randomUUID()}`;
  const key = generateStreamKey('derived.vitals-1');
  const write = out.write;
  let stdout = '';

  beforeAll(async () => {
    const admin = bus.admin();
    try {
      await admin.ensureTopics([{ topic, partitions: 2 }]);
    } finally {
      await admin.close();
    }
    out.write = (t: string) => {
      stdout += t;
    };
  });
  afterAll(async () => {
    out.write = write;
    const admin = bus.admin();
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
    await bus.close();
  });

  it('receives the records produced after it starts, not those before, as JSON lines', async () => {
    await produce(bus, topic, [sealed(vitals(0, { key: 'sol-old' }), key)]);
    const logs: string[] = [];
    const stats = await runTap({
      bus, stream: topic, keys: [key], json: true, limit: 4, log: (l) => void logs.push(l),
      onReady: () => void produce(bus, topic, [1, 2, 3, 4].map((i) => sealed(vitals(i, { key: `sol-00${i}` }), key))),
    });
    expect(stats.records).toBeGreaterThanOrEqual(4);
    const lines = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as TapRecordJson);
    expect(lines.map((l) => (l.record as { key: string }).key).sort()).toEqual(['sol-001', 'sol-002', 'sol-003', 'sol-004']);
    expect(lines.every((l) => l.stream === topic && l.keyId === 'derived.vitals-1')).toBe(true);
    expect(logs[logs.length - 1]).toMatch(/^tap: [4-9] records$/);
  });

  it('refuses the stream with a key it does not hold', async () => {
    const other = generateStreamKey('derived.other-1');
    await expect(runTap({
      bus, stream: topic, keys: [other], log: () => undefined,
      onReady: () => void produce(bus, topic, [sealed(vitals(9), key)]),
    })).rejects.toMatchObject({ code: 'VIGIL_E_TAP_NO_KEY', details: { stream: topic, keyId: 'derived.vitals-1', held: ['derived.other-1'] } });
  });
});
