import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { map } from 'rxjs';
import { MemoryBus } from '../../src/bus';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/cli/demo/embedded-broker';
import { startGateway } from '../../src/cli/gateway-runner';
import { kafkaLogSink, LOG_COMPONENTS, processLogger } from '../../src/cli/log';
import { startConsole } from '../../src/cli/console-runner';
import { runUntilSignal } from '../../src/cli/run-until-signal';
import { startWorker, type PipelineCatalogue } from '../../src/cli/worker-runner';
import { configSchema } from '../../src/config';
import { FrameSealer, makeLabel, RecordCodec } from '../../src/codec';
import { boxSharedKey, devicePublicKeys, generateDeviceKeys, generateIngestKeys, generateStreamKey, getCryptoBackend, writeKeyFile } from '../../src/crypto';
import { Admission } from '../../src/edge/admission';
import { Gateway } from '../../src/edge/gateway';
import { MemorySpool } from '../../src/edge/spool';
import { errorLogFields, VigilError } from '../../src/errors';
import { definePipeline, type PipelineDefinition } from '../../src/runtime';
import { addDevice, emptyRegistry, MemoryRegistry, toDeviceEntry, writeRegistryFile } from '../../src/registry';
import { MemoryReplayStore } from '../../src/replay';
import { captureLog, CONSOLE_COMPONENTS, GATEWAY_COMPONENTS, jsonLines, repeatedFields, unstructuredLines, WORKER_COMPONENTS, type LogLine } from '../harness/log-lines';
import { until } from '../harness/until';

// Issue 14 item 5: every line a long-running process logs can be searched by component and
// by who logged it (gatewayId, worker, pipeline, console), and an error by its VIGIL_E_ code
// (docs/operations.md, "Log fields"). Each process kind runs in-process here through a
// start, failures and a stop (SIGTERM), and every line it wrote is checked.

/** Stops `running` the way the CLI does on SIGTERM (runUntilSignal), so its signal lines are checked too. */
async function sigterm(running: Parameters<typeof runUntilSignal>[0]): Promise<void> {
  const signals = new EventEmitter();
  const done = runUntilSignal(running, { signals, exit: (code) => void Promise.reject(new Error(`exit ${code}`)), deadlineMs: 20_000 });
  signals.emit('SIGTERM');
  await done;
}

function find(lines: readonly LogLine[], msg: string): LogLine | undefined {
  return lines.find((l) => l.msg === msg);
}

describe('docs/operations.md "Log fields"', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Log fields'));
  /** First cells of the section's table rows: field and component names. */
  const rows = [...section.matchAll(/^\| `([a-zA-Z]+)` \|/gm)].map((m) => m[1] as string);

  it('documents every component, and the tests below cover only documented ones', () => {
    expect(doc).toContain('## Log fields');
    for (const c of LOG_COMPONENTS) expect(section).toMatch(new RegExp(`^\\| \`${c}\` \\| `, 'm'));
    for (const c of [...GATEWAY_COMPONENTS, ...WORKER_COMPONENTS, ...CONSOLE_COMPONENTS]) expect(LOG_COMPONENTS).toContain(c);
    expect(rows).toEqual(expect.arrayContaining(['component', 'gatewayId', 'worker', 'console', 'pipeline', 'err', 'code', 'causeCode', 'kafka']));
  });
});

describe('errorLogFields', () => {
  it('gives the message and the code of a VigilError, and the code of its VigilError cause', () => {
    const cause = new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'kafka went away');
    expect(errorLogFields(new VigilError('VIGIL_E_PIPELINE_FAILED', 'pipeline vitals failed', { cause }))).toEqual({ err: 'pipeline vitals failed', code: 'VIGIL_E_PIPELINE_FAILED', causeCode: 'VIGIL_E_BUS_UNAVAILABLE' });
    expect(errorLogFields(new VigilError('VIGIL_E_SPOOL_IO', 'disk gone'))).toEqual({ err: 'disk gone', code: 'VIGIL_E_SPOOL_IO' });
  });

  it('gives only the message of any other error, never its stack', () => {
    expect(errorLogFields(new Error('boom'))).toEqual({ err: 'boom' });
    expect(errorLogFields('a string')).toEqual({ err: 'a string' });
  });
});

describe('kafkajs lines routed through the process logger', () => {
  it('carry component kafka and the process identity, its error as err, and drop credentials, stacks and shadowing fields', () => {
    const { stream, lines } = captureLog();
    const sink = kafkaLogSink(processLogger({ gatewayId: 'gw-k' }, 'info', stream));
    sink({ level: 'error', namespace: 'Connection', message: 'Connection error', extra: { broker: '127.0.0.1:9092', error: 'connect ECONNREFUSED', stack: 'Error: at …', saslPassword: 'hunter2', sasl: { password: 'hunter2' }, component: 'x', gatewayId: 'other' } });
    sink({ level: 'info', namespace: 'Consumer', message: 'Starting', extra: { groupId: 'g' } });
    const [err, info] = jsonLines(lines);
    expect(err).toMatchObject({ level: 40, component: 'kafka', gatewayId: 'gw-k', kafka: 'Connection', broker: '127.0.0.1:9092', err: 'connect ECONNREFUSED', msg: 'Connection error' });
    expect(info).toMatchObject({ level: 30, component: 'kafka', gatewayId: 'gw-k', kafka: 'Consumer', groupId: 'g', msg: 'Starting' });
    const raw = lines.join('\n');
    expect(raw).not.toContain('hunter2');
    expect(raw).not.toContain('"stack"');
    // One component and one gatewayId per line: the extras did not shadow the bound fields.
    expect(repeatedFields(lines, ['component', 'gatewayId'])).toEqual([]);
  });
});

describe('the gateway core (src/edge/gateway) given the process logger', () => {
  it('logs a frame refused by an internal error under component admission, with its code', async () => {
    const backend = getCryptoBackend('auto');
    const ingest = generateIngestKeys('ingest-core');
    const device = generateDeviceKeys('dev-core', 1);
    const registry = new MemoryRegistry(addDevice(emptyRegistry(), devicePublicKeys(device), { theatre: 'north', unit: 'u1' }).devices.map(toDeviceEntry));
    registry.get = () => {
      throw new TypeError('a bug in the registry (test)');
    };
    const streamKey = generateStreamKey('telemetry-core');
    const replay = new MemoryReplayStore();
    const admission = new Admission({ gatewayId: 'gw-core', registry, replay, ingestKeys: ingest, streamKey: () => streamKey, backend });
    const bus = new MemoryBus();
    await bus.admin().ensureTopics([{ topic: 'telemetry.rejected', partitions: 1 }]);
    const { stream, lines } = captureLog();
    const gateway = new Gateway({ gatewayId: 'gw-core', admission, producer: bus.producer(), spool: new MemorySpool(), replay, rejectionKey: () => streamKey, logger: processLogger({ gatewayId: 'gw-core' }, 'info', stream) });
    const frame = new FrameSealer({ backend }).seal({ deviceId: 'dev-core', epoch: 1, seq: 1n, eventTimeMs: Date.now(), readings: [{ kind: 'power', offsetMs: 0, batteryPct: 50, voltageV: 24 }] }, boxSharedKey(ingest.box.publicKey, device.box.secretKey, backend));
    let acked = false;
    gateway.handle('vigil/v1/north/u1/dev-core/telemetry', frame, () => (acked = true));
    await gateway.close();
    await bus.close();
    expect(acked).toBe(true);
    const all = jsonLines(lines);
    expect(all).toEqual([expect.objectContaining({ level: 50, gatewayId: 'gw-core', component: 'admission', code: 'VIGIL_E_INTERNAL', msg: 'frame rejected by an internal error' })]);
    expect(String(all[0]?.err)).toContain('a bug in the registry (test)');
    expect(repeatedFields(lines, ['component', 'gatewayId'])).toEqual([]);
  });
});

describe('structured log lines of each long-running process', () => {
  let dir: string;
  const cleanups: Array<() => Promise<unknown> | void> = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-logs-'));
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gateway (in-process broker, in-memory bus): start, refused frames while Kafka refuses writes, a bad registry and key file, SIGTERM', async () => {
    const ingest = generateIngestKeys('ingest-logs');
    await writeKeyFile(join(dir, 'ingest.key.json'), { type: 'ingest', keys: ingest });
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key: generateStreamKey('telemetry-logs') });
    writeRegistryFile(join(dir, 'registry.yaml'), emptyRegistry());
    const broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0 });
    cleanups.push(() => broker.close());
    const bus = new MemoryBus();
    cleanups.push(() => bus.close());
    // Kafka refusing writes: the producer fails while `down`.
    let down = true;
    const producerOf = bus.producer.bind(bus);
    bus.producer = (...args) => {
      const p = producerOf(...args);
      const send = p.send.bind(p);
      p.send = (topic, messages) => (down ? Promise.reject(new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'produce: Kafka is unavailable (test)')) : send(topic, messages));
      return p;
    };
    const cfg = configSchema.parse({
      log: { level: 'info' },
      mqtt: { url: broker.url, clientId: 'logs-gw' },
      gateway: { id: 'gw-logs', registryFile: join(dir, 'registry.yaml'), ingestKeyFile: join(dir, 'ingest.key.json'), streamKeyFile: join(dir, 'telemetry.key.json'), dataDir: join(dir, 'data'), fsync: 'never' },
    });
    const { stream, lines: raw } = captureLog(10_000);
    const gw = await startGateway(cfg, { bus, http: false, logStream: stream, mqttProtocolVersion: 4 });
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : gw.stop()));
    const lines = (): LogLine[] => jsonLines(raw);
    await until(() => find(lines(), 'gateway started') !== undefined, 10_000, 'gateway started');

    // Two frames that are not frames: refused, their rejection records meet a Kafka that refuses writes.
    const device = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    cleanups.push(() => device.endAsync());
    await device.publishAsync('vigil/v1/t1/u1/d1/telemetry', Buffer.from('not a frame'), { qos: 1 });
    await device.publishAsync('vigil/v1/t1/u1/d1/telemetry', Buffer.from('nor this'), { qos: 1 });
    await until(() => find(lines(), 'spool drain: kafka still unreachable') !== undefined, 10_000, 'the drainer retrying');
    down = false;
    await until(() => find(lines(), 'spool drained; writing to kafka directly again') !== undefined, 15_000, 'the spool drained');
    expect(gw.gateway.stats().rejected).toBe(2);

    // A registry edit that does not parse, and a stream key file that does not either.
    writeFileSync(join(dir, 'registry.yaml'), 'devices: [not: valid');
    writeFileSync(join(dir, 'telemetry.key.json'), '{ not json');
    await until(() => find(lines(), 'registry reload refused; keeping the last good version') !== undefined && find(lines(), 'cannot read the stream key ring; keeping the keys in use') !== undefined, 10_000, 'the refused reloads');

    await sigterm(gw);
    stopped = true;
    const all = lines();
    expect(find(all, 'signal received')).toMatchObject({ component: 'gateway', signal: 'SIGTERM' });
    expect(find(all, 'stopping: no new frames; flushing what was received')).toMatchObject({ component: 'gateway' });
    expect(find(all, 'gateway started')).toMatchObject({ component: 'gateway', gatewayId: 'gw-logs' });
    expect(find(all, 'mqtt connected')).toMatchObject({ component: 'mqtt' });
    expect(find(all, 'kafka topics ready')).toMatchObject({ component: 'kafka' });
    expect(find(all, 'kafka write failed; spooling')).toMatchObject({ level: 40, component: 'kafka', code: 'VIGIL_E_BUS_UNAVAILABLE', err: 'produce: Kafka is unavailable (test)' });
    expect(find(all, 'spool drain: kafka still unreachable')).toMatchObject({ level: 40, component: 'spool', code: 'VIGIL_E_BUS_UNAVAILABLE' });
    expect(find(all, 'spool drained; writing to kafka directly again')).toMatchObject({ component: 'spool' });
    expect(find(all, 'registry reload refused; keeping the last good version')).toMatchObject({ level: 50, component: 'registry', code: 'VIGIL_E_REGISTRY_INVALID' });
    expect(find(all, 'cannot read the stream key ring; keeping the keys in use')).toMatchObject({ level: 50, component: 'keys', code: 'VIGIL_E_KEY_FILE_INVALID' });
    expect(unstructuredLines(all, { gatewayId: 'gw-logs' }, GATEWAY_COMPONENTS)).toEqual([]);
    expect(repeatedFields(raw, ['component', 'pipeline', 'gatewayId'])).toEqual([]);
    // The old field name is gone: one identity field, gatewayId.
    expect(all.filter((l) => 'gateway' in l)).toEqual([]);
  }, 60_000);

  /** A pipeline whose operator fails with what `perRecord()` gives for each record. */
  function failing(name: string, perRecord: () => VigilError | null): PipelineDefinition {
    return definePipeline({
      name,
      sources: ['telemetry.power'],
      build: (events$) =>
        events$.pipe(
          map(() => {
            const e = perRecord();
            if (e) throw e;
            return { key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} };
          }),
        ),
    }) as unknown as PipelineDefinition;
  }

  it('worker (in-memory bus): start, a pipeline failing and restarting, one failing for good, a bad key file, SIGTERM', async () => {
    mkdirSync(join(dir, 'keys'));
    const telemetryKey = generateStreamKey('telemetry-wlogs');
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key: telemetryKey });
    for (const n of ['flaky', 'broken']) await writeKeyFile(join(dir, 'keys', `derived.${n}.key.json`), { type: 'stream', key: generateStreamKey(`derived.${n}-wlogs`) });
    const bus = new MemoryBus();
    cleanups.push(() => bus.close());
    let flakyLeft = 1;
    const catalogue: PipelineCatalogue = new Map([
      ['flaky', failing('flaky', () => (flakyLeft-- > 0 ? new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'kafka went away (test)') : null))],
      ['broken', failing('broken', () => new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', 'the definition changed (test)'))],
    ]);
    const cfg = configSchema.parse({ log: { level: 'info' }, kafka: { clientId: 'worker-logs', partitions: 2 }, worker: { telemetryKeyFile: join(dir, 'telemetry.key.json'), keyDir: join(dir, 'keys'), checkpointIntervalMs: 100, stateDir: join(dir, 'state') } });
    const { stream, lines: raw } = captureLog(10_000);
    const worker = await startWorker(cfg, catalogue, { bus, http: false, logStream: stream });
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : worker.stop()));
    const lines = (): LogLine[] => jsonLines(raw);
    expect(find(lines(), 'pipeline running')).toBeDefined();

    // One record: flaky fails once (retriable) and restarts; broken fails for good.
    const sealed = new RecordCodec().seal({ type: 'telemetry', deviceId: 'pw-1', seq: 1n, eventTimeMs: Date.now(), ingestTimeMs: Date.now(), gatewayId: 'gw-1', kind: 'power', label: makeLabel('UNCLASSIFIED'), readings: [{ kind: 'power', offsetMs: 0, batteryPct: 50, voltageV: 24 }] }, telemetryKey);
    const producer = bus.producer();
    await producer.send('telemetry.power', [{ key: 'pw-1', value: Buffer.from(sealed.value), headers: { 'vigil-key-id': sealed.keyId } }]);
    await producer.close();
    await until(() => find(lines(), 'pipeline restarted') !== undefined && find(lines(), 'pipeline stopped for good: retrying cannot mend this; fix the cause and restart the worker') !== undefined, 30_000, 'flaky restarted and broken stopped');

    // A derived key file that does not parse: reported, the ring in use is kept.
    writeFileSync(join(dir, 'keys', 'derived.flaky.key.json'), '{ not json');
    await until(() => find(lines(), 'cannot read the stream key ring; keeping the keys in use') !== undefined, 10_000, 'the refused key ring');

    await sigterm(worker);
    stopped = true;
    const all = lines();
    expect(find(all, 'signal received')).toMatchObject({ component: 'worker', worker: 'worker-logs', signal: 'SIGTERM' });
    expect(find(all, 'stopping: last checkpoint, leaving the groups')).toMatchObject({ component: 'worker' });
    expect(all.filter((l) => l.msg === 'pipeline running').map((l) => [l.component, l.pipeline]).sort()).toEqual([['pipeline', 'broken'], ['pipeline', 'flaky']]);
    expect(find(all, 'state restored')).toMatchObject({ component: 'state', worker: 'worker-logs' });
    expect(find(all, 'pipeline stopped; restarting it from its last checkpoint')).toMatchObject({ level: 40, component: 'pipeline', pipeline: 'flaky', code: expect.stringMatching(/^VIGIL_E_/) as unknown });
    expect(find(all, 'pipeline restarted')).toMatchObject({ component: 'pipeline', pipeline: 'flaky' });
    expect(find(all, 'pipeline stopped for good: retrying cannot mend this; fix the cause and restart the worker')).toMatchObject({ level: 50, component: 'pipeline', pipeline: 'broken', code: expect.stringMatching(/^VIGIL_E_/) as unknown });
    expect(find(all, 'cannot read the stream key ring; keeping the keys in use')).toMatchObject({ level: 50, component: 'keys', pipeline: 'flaky', code: 'VIGIL_E_KEY_FILE_INVALID' });
    expect(unstructuredLines(all, { worker: 'worker-logs' }, WORKER_COMPONENTS)).toEqual([]);
    expect(repeatedFields(raw, ['component', 'pipeline', 'worker'])).toEqual([]);
  }, 60_000);

  it('console (in-memory bus): start while Kafka cannot answer, a bad key file, SIGTERM', async () => {
    mkdirSync(join(dir, 'keys'));
    await writeKeyFile(join(dir, 'keys', 'derived.vitals.key.json'), { type: 'stream', key: generateStreamKey('derived.vitals-clogs') });
    const bus = new MemoryBus();
    cleanups.push(() => bus.close());
    const admin = bus.admin.bind(bus);
    bus.admin = () => {
      const a = admin();
      a.describeTopic = () => Promise.reject(new VigilError('VIGIL_E_BUS_UNAVAILABLE', 'describe topic: Kafka is unavailable (test)'));
      return a;
    };
    const catalogue: PipelineCatalogue = new Map([['vitals', failing('vitals', () => null)]]);
    const cfg = configSchema.parse({ log: { level: 'info' }, kafka: { clientId: 'console-logs' }, console: { keyDir: join(dir, 'keys') }, http: { host: '127.0.0.1', port: 0 } });
    const { stream, lines: raw } = captureLog(10_000);
    const running = await startConsole(cfg, catalogue, { bus, logStream: stream });
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : running.stop()));
    const lines = (): LogLine[] => jsonLines(raw);
    writeFileSync(join(dir, 'keys', 'derived.vitals.key.json'), '{ not json');
    await until(() => find(lines(), 'cannot read the stream key ring; keeping the keys in use') !== undefined, 10_000, 'the refused key ring');
    await sigterm(running);
    stopped = true;
    const all = lines();
    expect(find(all, 'cannot reach kafka yet; the console serves meanwhile and taps fail until it can')).toMatchObject({ level: 40, component: 'kafka', code: 'VIGIL_E_BUS_UNAVAILABLE' });
    expect(all.find((l) => l.msg.startsWith('offered streams without a topic yet'))).toMatchObject({ component: 'tap', streams: ['derived.vitals'] });
    expect(find(all, 'cannot read the stream key ring; keeping the keys in use')).toMatchObject({ level: 50, component: 'keys', code: 'VIGIL_E_KEY_FILE_INVALID' });
    expect(find(all, 'signal received')).toMatchObject({ component: 'console', console: 'console-logs' });
    expect(unstructuredLines(all, { console: 'console-logs' }, CONSOLE_COMPONENTS)).toEqual([]);
    expect(repeatedFields(raw, ['component', 'pipeline', 'console'])).toEqual([]);
  }, 60_000);
});
