import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaBus } from '../../src/bus';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { installCliCapture } from '../cli/cli-harness';
import { ackedLines, range, telemetryMessage } from './helpers';

const brokers = process.env.VIGIL_KAFKA_BROKERS as string;
const key = generateStreamKey('telemetry-audit-int');

// `vigil audit` against the real Kafka: it finds the deployment's telemetry topics by prefix,
// reads them to their end offsets and exits 0 or 1.
describe('vigil audit against Kafka', () => {
  const vigil = installCliCapture();
  const prefix = `audit-${randomUUID().slice(0, 8)}.`;
  const topics = [`${prefix}telemetry.power`, `${prefix}telemetry.vitals`, `${prefix}telemetry.rejected`];
  let dir: string;
  let bus: KafkaBus;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-audit-int-'));
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key });
    bus = new KafkaBus({ brokers: brokers.split(','), clientId: 'audit-int', logLevel: 'nothing' });
    await bus.admin().ensureTopics(topics.map((topic) => ({ topic, partitions: 3 })));
    const producer = bus.producer();
    // Frames 1-40 of two devices; frame 17 of ugv-2 never written; frames 1-10 of sol-1 also carry vitals.
    for (const id of ['ugv-1', 'ugv-2']) {
      await producer.send(topics[0] as string, range(1, 40).filter((s) => !(id === 'ugv-2' && s === 17)).map((s) => telemetryMessage(id, BigInt(s), key)));
    }
    await producer.send(topics[1] as string, range(1, 10).map((s) => telemetryMessage('ugv-1', BigInt(s), key, 'vitals')));
    await producer.close();
  });
  afterAll(async () => {
    await bus.admin().deleteTopics(topics);
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 when every acknowledged frame is stored, 1 with the lost range when one is not', async () => {
    writeFileSync(join(dir, 'ok.jsonl'), [...ackedLines('ugv-1', range(1, 40)), ...ackedLines('ugv-2', range(1, 16))].join('\n'));
    const ok = await vigil('audit', '--acked', join(dir, 'ok.jsonl'), '--key', join(dir, 'telemetry.key.json'), '--kafka', brokers, '--topic-prefix', prefix);
    expect(ok.stderr).toContain(`audit: 2 telemetry topics (${prefix}telemetry.power, ${prefix}telemetry.vitals)`);
    expect(ok.stdout).toMatch(/total \(2 devices\)\s+56\s+79\s+0\s+0\s+0/);
    expect(ok.code).toBe(0);

    writeFileSync(join(dir, 'lost.jsonl'), [...ackedLines('ugv-1', range(1, 40)), ...ackedLines('ugv-2', range(1, 40))].join('\n'));
    const lost = await vigil('audit', '--acked', join(dir, 'lost.jsonl'), '--key', join(dir, 'telemetry.key.json'), '--kafka', brokers, '--topic-prefix', prefix);
    expect(lost.stdout).toContain('lost ugv-2: 1 frame in 1 range: 17');
    expect(lost.code).toBe(1);
  });
});
