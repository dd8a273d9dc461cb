import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { map } from 'rxjs';
import { MemoryBus } from '../../src/bus';
import { startWorker, type RunningWorker } from '../../src/cli/worker-runner';
import { configSchema } from '../../src/config';
import { makeLabel, RecordCodec } from '../../src/codec';
import { generateStreamKey, writeKeyFile } from '../../src/crypto';
import { VigilError } from '../../src/errors';
import { channels, type PipelineFailureEvent } from '../../src/instrument';
import { definePipeline, type PipelineDefinition } from '../../src/runtime';
import { until } from '../harness/until';

const T0 = Date.UTC(2026, 10, 28, 12);
const telemetryKey = generateStreamKey('telemetry-sup');

/**
 * A pipeline whose build throws what `atStart()` gives (at each start's first assignment),
 * and whose operator throws what `perRecord()` gives for each record.
 */
function flaky(name: string, atStart: () => VigilError | null, perRecord: () => VigilError | null = () => null): PipelineDefinition {
  return definePipeline({
    name,
    sources: ['telemetry.power'],
    build: (events$) => {
      const err = atStart();
      if (err) throw err;
      return events$.pipe(
        map(() => {
          const e = perRecord();
          if (e) throw e;
          return { key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} };
        }),
      );
    },
  }) as unknown as PipelineDefinition;
}

// `vigil worker` supervises its pipelines (the Kafka outage itself is tested against a real
// broker in test/e2e/worker-kafka-outage.int.test.ts): a retriable failure, even one that
// comes back during the restart's own start, ends with the pipeline running again; any
// other failure leaves it stopped for good, counted either way.
describe('worker supervision of its pipelines (in-memory bus)', () => {
  let dir: string;
  let bus: MemoryBus;
  let worker: RunningWorker | undefined;
  const events: PipelineFailureEvent[] = [];
  const onFailure = (e: PipelineFailureEvent): void => void events.push({ ...e });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sup-'));
    mkdirSync(join(dir, 'keys'));
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key: telemetryKey });
    for (const n of ['flaky', 'broken']) await writeKeyFile(join(dir, 'keys', `derived.${n}.key.json`), { type: 'stream', key: generateStreamKey(`derived.${n}-sup`) });
    bus = new MemoryBus();
    events.length = 0;
    channels.pipelineFailure.subscribe(onFailure);
  });
  afterEach(async () => {
    channels.pipelineFailure.unsubscribe(onFailure);
    await worker?.stop();
    worker = undefined;
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (pipelines: string[]) =>
    configSchema.parse({ log: { level: 'fatal' }, kafka: { partitions: 2 }, worker: { pipelines, telemetryKeyFile: join(dir, 'telemetry.key.json'), keyDir: join(dir, 'keys'), checkpointIntervalMs: 100, stateDir: join(dir, 'state') } });

  it('restarts a pipeline stopped by a retriable error until a start holds, then it runs', async () => {
    // Fails at its first start's assignment, then twice more during restarts, then works.
    let left = 3;
    const catalogue = new Map([['flaky', flaky('flaky', () => (left-- > 0 ? new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'kafka went away') : null))]]);
    worker = await startWorker(config(['flaky']), catalogue, { bus, http: false });
    const w = worker;
    await until(() => w.workers.get('flaky')?.stats().state === 'running' && left < 0, 30_000, 'running after the failures', 50);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.every((e) => e.pipeline === 'flaky' && e.reason === 'VIGIL_E_BUS_UNAVAILABLE' && e.action === 'restart')).toBe(true);
    // It stays up (no second pipeline instance fighting it, no further restarts).
    const seen = events.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(w.workers.get('flaky')?.stats().state).toBe('running');
    expect(events).toHaveLength(seen);
  }, 40_000);

  it('comes up while Kafka is unreachable and starts its pipelines once Kafka answers (a restart during an outage)', async () => {
    // The first two attempts to make the source topics find no Kafka.
    let unreachable = 2;
    const admin = bus.admin.bind(bus);
    bus.admin = () => {
      const a = admin();
      const ensureTopics = a.ensureTopics.bind(a);
      a.ensureTopics = (specs) => (unreachable-- > 0 ? Promise.reject(new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'ensure topics: Kafka is unavailable (connect ECONNREFUSED)')) : ensureTopics(specs));
      return a;
    };
    const catalogue = new Map([['flaky', flaky('flaky', () => null)]]);
    worker = await startWorker(config(['flaky']), catalogue, { bus, http: false });
    const w = worker;
    expect(w.workers.get('flaky')).toBeUndefined(); // not started yet, and the worker did not exit
    expect(events).toEqual([{ pipeline: 'flaky', reason: 'VIGIL_E_BUS_UNAVAILABLE', action: 'restart' }]);
    await until(() => w.workers.get('flaky')?.stats().state === 'running', 30_000, 'running once Kafka answers', 50);
    expect(unreachable).toBeLessThan(0);
    expect(await bus.admin().listTopics()).toContain('telemetry.power');
  }, 40_000);

  it('leaves a pipeline stopped by an error that retrying cannot mend, and keeps the others running', async () => {
    let flakyLeft = 1;
    const catalogue = new Map([
      ['flaky', flaky('flaky', () => (flakyLeft-- > 0 ? new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'kafka went away') : null))],
      ['broken', flaky('broken', () => null, () => new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', 'the definition changed'))],
    ]);
    worker = await startWorker(config(['flaky', 'broken']), catalogue, { bus, http: false });
    const w = worker;
    await until(() => w.workers.get('flaky')?.stats().state === 'running' && flakyLeft < 0, 30_000, 'flaky running again', 50);
    expect(w.workers.get('broken')?.stats().state).toBe('running');

    // One record: broken's operator fails for good on it; flaky takes it in its stride.
    const producer = bus.producer();
    const sealed = new RecordCodec().seal({ type: 'telemetry', deviceId: 'pw-1', seq: 1n, eventTimeMs: T0, ingestTimeMs: T0, gatewayId: 'gw-1', kind: 'power', label: makeLabel('UNCLASSIFIED'), readings: [{ kind: 'power', offsetMs: 0, batteryPct: 50, voltageV: 24 }] }, telemetryKey);
    await producer.send('telemetry.power', [{ key: 'pw-1', value: Buffer.from(sealed.value), headers: { 'vigil-key-id': sealed.keyId } }]);
    await producer.close();
    await until(() => w.workers.get('broken')?.stats().state === 'failed', 10_000, 'broken failed', 50);
    await new Promise((r) => setTimeout(r, 1500)); // longer than a first restart delay: none comes
    expect(w.workers.get('broken')?.stats().state).toBe('failed');
    expect(w.workers.get('flaky')?.stats().state).toBe('running');
    expect(events.filter((e) => e.pipeline === 'broken')).toEqual([{ pipeline: 'broken', reason: 'VIGIL_E_PIPELINE_CHECKPOINT', action: 'stopped' }]);
    expect(events.filter((e) => e.pipeline === 'flaky')).toEqual([{ pipeline: 'flaky', reason: 'VIGIL_E_BUS_UNAVAILABLE', action: 'restart' }]);
  }, 40_000);
});
