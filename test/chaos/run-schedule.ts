import { randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { AckedLog, runAudit, type AuditReport } from '../../src/audit';
import { KafkaBus } from '../../src/bus';
import { devicePublicKeys, generateDeviceKeys, generateIngestKeys, generateStreamKey, StreamKeyring, writeKeyFile } from '../../src/crypto';
import { addDevice, emptyRegistry, writeRegistryFile } from '../../src/registry';
import { Child, logged, metricSum, sleep, StepError } from './processes';
import { FAULTS, type ChaosSchedule, type ChaosStep } from './schedule';
import type { ChaosServices } from './services';

/** A fault as it was applied. */
export interface AppliedFault {
  readonly fault: ChaosStep['fault'];
  /** When it was applied and restored, ms after the load started (later than planned when an earlier step took long). */
  readonly atMs: number;
  readonly restoredAtMs: number;
  /** The Kafka node it hit, on a cluster (the leader of a busy partition at that moment). */
  readonly node?: number;
}

/** The outcome of one schedule. */
export interface ScheduleResult {
  readonly seed: number;
  readonly schedule: ChaosSchedule;
  /** No lost and no out-of-order frame, every fault applied, no step failed. */
  readonly ok: boolean;
  /** Why the run failed to run (a step that could not be applied, a process that would not start). */
  readonly error?: string;
  readonly faultsPlanned: number;
  readonly faults: readonly AppliedFault[];
  readonly durationMs: number;
  readonly loadMs: number;
  readonly totals?: Pick<AuditReport['totals'], 'acknowledged' | 'stored' | 'lost' | 'outOfOrder' | 'outOfOrderResent' | 'outOfOrderUnacknowledged' | 'duplicates' | 'records' | 'unreadable'>;
  readonly devices?: AuditReport['devices'];
  /** Frames the device clients gave up on (queue full), never acknowledged: not losses. */
  readonly deviceDropped?: number;
  /** Frames the gateways shed from the spool or expired (counted by their metrics, last scrape of each incarnation). */
  readonly gatewayShed: number;
  /** Highest spool size scraped, bytes, and as a share of the budget. */
  readonly spoolPeakBytes: number;
  /** Whether the gateway's spool was empty and its intake quiet before the audit (false: the audit ran anyway). */
  readonly settled: boolean;
  readonly spoolEntriesAtAudit?: number;
  /** Where the logs of this run are (kept when it failed). */
  readonly dir: string;
}

export interface RunOptions {
  readonly services: ChaosServices;
  readonly log?: (line: string) => void;
  /** Keep the run's folder (logs, acked log) even when it passed. Default false. */
  readonly keep?: boolean;
}

const GATEWAY_START_MS = 90_000;
const GATEWAY_STOP_MS = 30_000;
const SETTLE_MS = 120_000;

/**
 * Runs one schedule against real processes: the brokers of `services`, a gateway child
 * process (`vigil gateway`, from source) and a load generator child process; applies every
 * step at its time, each bounded; stops the load, lets the gateway drain, and audits Kafka
 * against the devices' acked log. Everything it started is stopped, also on failure.
 */
export async function runSchedule(s: ChaosSchedule, o: RunOptions): Promise<ScheduleResult> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), `vigil-chaos-${s.seed}-`));
  const run = randomUUID().slice(0, 6);
  const theatre = `chaos${run}`;
  const prefix = `chaos-${s.seed}-${run}.`;
  const services = o.services;
  const applied: AppliedFault[] = [];
  let gateway: Child | undefined;
  let gatewayUrl: string | undefined;
  let load: Child | undefined;
  let loadStart = 0;
  let shedTotal = 0;
  let shedThisGateway = 0;
  let spoolPeak = 0;
  let spoolEntries: number | undefined;
  let settled = false;
  let error: string | undefined;
  let report: AuditReport | undefined;
  let deviceDropped: number | undefined;
  let loadMs = 0;
  let polling = true;
  const ackedFile = join(dir, 'acked.jsonl');
  const streamKey = generateStreamKey(`telemetry-${theatre}`);
  const gwId = `gw-${theatre}`;

  const startGateway = async (): Promise<void> => {
    const g = Child.tsx('gateway', 'scripts/vigil-dev.ts', ['gateway', '--config', join(dir, 'vigil.yaml')], join(dir, 'gateway.log'), { VIGIL_LOG_LEVEL: 'info' });
    gateway = g;
    shedThisGateway = 0;
    const started = await g.waitForLine((l) => logged(l, 'gateway started'), GATEWAY_START_MS, '"gateway started"');
    gatewayUrl = String(started.http);
  };
  const stopGateway = async (signal: NodeJS.Signals): Promise<void> => {
    const g = gateway;
    if (g === undefined || g.exited()) throw new StepError(`the gateway is not running (pid ${g?.pid ?? '-'}): a previous fault still holds it`);
    await scrape();
    gateway = undefined;
    gatewayUrl = undefined;
    shedTotal += shedThisGateway;
    shedThisGateway = 0;
    await g.kill(signal, GATEWAY_STOP_MS);
  };
  const scrape = async (): Promise<void> => {
    const url = gatewayUrl;
    if (url === undefined) return;
    const shed = await metricSum(url, /^vigil_spool_dropped_frames_total\{/);
    if (shed !== undefined && url === gatewayUrl) shedThisGateway = Math.max(shedThisGateway, shed);
    const bytes = await metricSum(url, /^vigil_spool_bytes[ {]/);
    if (bytes !== undefined) spoolPeak = Math.max(spoolPeak, bytes);
  };
  const poller = (async () => {
    while (polling) {
      await scrape();
      await sleep(1000);
    }
  })();

  const at = (): number => Date.now() - loadStart;
  const hitNode = new Map<number, number>();
  const clustered = (s.kafkaNodes ?? 1) === 3;
  /** Cluster mode: the node leading the busiest topic's first partition takes the Kafka fault. */
  const onLeader = async (i: number, how: 'kill' | 'stop' | 'pause'): Promise<void> => {
    const id = await services.leader(`${prefix}telemetry.power`, 0);
    hitNode.set(i, id);
    log(`    kafka node ${id} (leader of ${prefix}telemetry.power[0]): ${how}`);
    await services.nodeDown(id, how);
  };
  const apply = async (step: ChaosStep, i: number): Promise<void> => {
    const target = FAULTS[step.fault].target;
    log(`  +${(at() / 1000).toFixed(1)}s ${step.fault}${step.downMs > 0 ? ` for ${step.downMs / 1000}s` : ''}`);
    if (clustered && target === 'kafka') return onLeader(i, step.fault === 'kafka-hang' ? 'pause' : step.fault === 'kafka-stop' ? 'stop' : 'kill');
    switch (step.fault) {
      case 'gateway-kill':
        return stopGateway('SIGKILL');
      case 'gateway-term':
      case 'gateway-away':
        return stopGateway('SIGTERM');
      case 'gateway-restart':
        await stopGateway('SIGTERM');
        return startGateway();
      case 'kafka-stop':
        if (services.kafka === undefined) throw new StepError('kafka is not running: a previous fault still holds it');
        return services.kafkaStop();
      case 'kafka-hang':
        if (services.kafka === undefined || services.hung) throw new StepError('kafka is not running: a previous fault still holds it');
        return services.kafkaHang();
      case 'kafka-broker-kill':
        throw new StepError('kafka-broker-kill needs a cluster (kafkaNodes: 3)');
      case 'mosquitto-restart':
        return services.mosquittoRestart(step.downMs);
      default:
        throw new StepError(`unknown fault for ${target}`);
    }
  };
  const restore = async (step: ChaosStep, i: number): Promise<void> => {
    if (clustered && FAULTS[step.fault].target === 'kafka') return services.nodeUp(hitNode.get(i) as number);
    switch (step.fault) {
      case 'gateway-kill':
      case 'gateway-term':
      case 'gateway-away':
        return startGateway();
      case 'kafka-stop':
        return services.kafkaStart();
      case 'kafka-hang':
        return services.kafkaResume();
      default:
        return undefined;
    }
  };

  try {
    await services.up(s.maxQueuedMessages, s.kafkaNodes ?? 1);
    // Keys, registry and config: a theatre, a topic prefix and a gateway of this run only.
    const ingest = generateIngestKeys('ingest-chaos');
    await writeKeyFile(join(dir, 'ingest.key.json'), { type: 'ingest', keys: ingest });
    await writeKeyFile(join(dir, 'telemetry.key.json'), { type: 'stream', key: streamKey });
    let doc = emptyRegistry();
    const keyFiles: string[] = [];
    for (let i = 0; i < s.devices; i++) {
      const keys = generateDeviceKeys(`${theatre}-d${i}`, 1);
      const file = join(dir, `d${i}.key.json`);
      await writeKeyFile(file, { type: 'device', keys });
      keyFiles.push(file);
      // A mix of priorities, so a full spool sheds by class; a rate far above the load.
      doc = addDevice(doc, devicePublicKeys(keys), { theatre, unit: 'u1', priority: i === 0 ? 'flash' : i === 1 ? 'immediate' : 'routine', rate: { perSecond: s.framesPerSecond * 4, burst: 5000 } });
    }
    writeRegistryFile(join(dir, 'registry.yaml'), doc);
    writeFileSync(
      join(dir, 'vigil.yaml'),
      stringify({
        log: { level: 'info' },
        mqtt: { url: services.mqttUrl, clientId: gwId },
        kafka: { brokers: services.brokers.split(','), clientId: gwId, sendTimeoutMs: 3000, partitions: 3, topicPrefix: prefix },
        gateway: {
          id: gwId, group: `g-${theatre}`, subscription: `vigil/v1/${theatre}/+/+/telemetry`,
          registryFile: join(dir, 'registry.yaml'), ingestKeyFile: join(dir, 'ingest.key.json'), streamKeyFile: join(dir, 'telemetry.key.json'),
          dataDir: join(dir, 'data'), spoolBudgetBytes: s.spoolBudgetBytes, fsync: 'always',
        },
        http: { host: '127.0.0.1', port: 0 },
      }),
    );
    await startGateway();
    await (gateway as Child).waitForLine((l) => logged(l, 'kafka topics ready'), GATEWAY_START_MS, '"kafka topics ready"');

    const spec = join(dir, 'load.json');
    writeFileSync(spec, JSON.stringify({ mqttUrl: services.mqttUrl, ingestPublicKey: Buffer.from(ingest.box.publicKey).toString('base64'), theatre, unit: 'u1', deviceKeyFiles: keyFiles, framesPerSecond: s.framesPerSecond, ackedLog: ackedFile, closeTimeoutMs: 30_000 }));
    load = Child.tsx('load', 'test/chaos/load-generator.ts', [spec], join(dir, 'load.log'));
    await load.waitForLine((l) => (l.includes('"acked":') && !l.includes('"acked":0,') ? true : undefined), 60_000, 'its first acknowledged frame');
    loadStart = Date.now();

    // One lane per process, run side by side: each applies and restores its faults in time
    // order (a slow Kafka start delays only Kafka's next fault; the delay is recorded).
    const lanes = new Map<string, Array<{ atMs: number; restore: boolean; i: number; step: ChaosStep }>>();
    s.steps.forEach((step, i) => {
      const lane = lanes.get(FAULTS[step.fault].target) ?? [];
      lanes.set(FAULTS[step.fault].target, lane);
      lane.push({ atMs: step.atMs, restore: false, i, step });
      if (step.fault !== 'gateway-restart' && step.fault !== 'mosquitto-restart') lane.push({ atMs: step.atMs + step.downMs, restore: true, i, step });
    });
    const appliedAt = new Map<number, number>();
    let failed: StepError | undefined;
    const runLane = async (actions: Array<{ atMs: number; restore: boolean; i: number; step: ChaosStep }>): Promise<void> => {
      actions.sort((a, b) => a.atMs - b.atMs || Number(a.restore) - Number(b.restore));
      for (const a of actions) {
        // A fault applied late (its lane was busy) is still held for its whole downMs.
        const due = a.restore ? Math.max(a.atMs, (appliedAt.get(a.i) ?? a.atMs) + a.step.downMs) : a.atMs;
        const wait = due - at();
        if (wait > 0) await sleep(wait);
        if (failed !== undefined) return;
        if ((load as Child).exited()) throw new StepError(`the load generator died; its log:\n${(load as Child).tail()}`);
        try {
          if (!a.restore) {
            appliedAt.set(a.i, at());
            await apply(a.step, a.i);
            if (a.step.fault === 'gateway-restart' || a.step.fault === 'mosquitto-restart') applied.push({ fault: a.step.fault, atMs: appliedAt.get(a.i) as number, restoredAtMs: at() });
          } else {
            await restore(a.step, a.i);
            const node = hitNode.get(a.i);
            applied.push({ fault: a.step.fault, atMs: appliedAt.get(a.i) as number, restoredAtMs: at(), ...(node !== undefined ? { node } : {}) });
          }
        } catch (err) {
          failed ??= new StepError(`${a.restore ? 'restoring after' : 'applying'} ${a.step.fault} (step ${a.i}, planned at +${a.step.atMs} ms): ${(err as Error).message}`);
          throw failed;
        }
      }
    };
    const outcomes = await Promise.allSettled([...lanes.values()].map(runLane));
    const firstFailure = outcomes.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (firstFailure !== undefined) throw firstFailure.reason;
    applied.sort((a, b) => a.atMs - b.atMs);
    const rest = s.loadMs - at();
    if (rest > 0) await sleep(rest);
    loadMs = at();

    // Stop the load: pending frames get their chance to be acknowledged, then the log closes.
    log(`  +${(at() / 1000).toFixed(1)}s stopping the load`);
    await load.kill('SIGTERM', 60_000);
    const done = load.lines().map((l) => (l.startsWith('{"done"') ? (JSON.parse(l) as { done: { dropped: number } }).done : undefined)).find((d) => d !== undefined);
    deviceDropped = done?.dropped;

    // Settle: the gateway drains its spool and what the broker queued for it, bounded.
    const deadline = Date.now() + SETTLE_MS;
    let last = -1;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      const url = gatewayUrl as string;
      const entries = await metricSum(url, /^vigil_spool_entries[ {]/);
      const frames = await metricSum(url, /^vigil_gateway_frames_total\{/);
      spoolEntries = entries;
      if (frames !== last) [last, quietSince] = [frames ?? -1, Date.now()];
      if (entries === 0 && Date.now() - quietSince >= 3000) {
        settled = true;
        break;
      }
      await sleep(500);
    }
    log(`  settled: ${settled ? 'spool empty, intake quiet' : `NOT within ${SETTLE_MS / 1000}s (spool entries ${spoolEntries ?? '?'})`}; auditing`);
    await scrape();

    const acked = await AckedLog.fromLines(createInterface({ input: createReadStream(ackedFile), crlfDelay: Infinity }), ackedFile);
    const bus = new KafkaBus({ brokers: services.brokers.split(','), clientId: `chaos-audit-${run}`, logLevel: 'nothing' });
    try {
      report = await runAudit({ bus, keyring: new StreamKeyring([streamKey]), acked, topicPrefix: prefix, stallTimeoutMs: 60_000 });
    } finally {
      await bus.close();
    }
  } catch (err) {
    error = err instanceof StepError ? err.message : `${(err as Error).message}\n${(err as Error).stack ?? ''}`;
    log(`  FAILED: ${error}`);
  } finally {
    polling = false;
    await poller;
    shedTotal += shedThisGateway;
    // Everything this run started is stopped; the brokers are left up for the next schedule.
    if (load !== undefined && !load.exited()) await load.destroy();
    if (gateway !== undefined && !gateway.exited()) await gateway.kill('SIGTERM', GATEWAY_STOP_MS).catch(() => (gateway as Child).destroy());
    await services.up(s.maxQueuedMessages, s.kafkaNodes ?? 1).catch((e: unknown) => log(`  could not bring the brokers back: ${String(e)}`));
    await endGatewaySession(services.mqttUrl, `${gwId}-${gwId}`);
    await deleteTopics(services.brokers, prefix);
  }
  const ok = error === undefined && report !== undefined && report.ok && applied.length === s.steps.length;
  if (ok && o.keep !== true) rmSync(dir, { recursive: true, force: true });
  return {
    seed: s.seed, schedule: s, ok, ...(error !== undefined ? { error } : {}),
    faultsPlanned: s.steps.length, faults: applied, durationMs: Date.now() - t0, loadMs,
    ...(report !== undefined ? { totals: pick(report.totals), devices: report.devices } : {}),
    ...(deviceDropped !== undefined ? { deviceDropped } : {}),
    gatewayShed: shedTotal, spoolPeakBytes: spoolPeak, settled, ...(spoolEntries !== undefined ? { spoolEntriesAtAudit: spoolEntries } : {}), dir,
  };
}

function pick(t: AuditReport['totals']): NonNullable<ScheduleResult['totals']> {
  return { acknowledged: t.acknowledged, stored: t.stored, lost: t.lost, outOfOrder: t.outOfOrder, outOfOrderResent: t.outOfOrderResent, outOfOrderUnacknowledged: t.outOfOrderUnacknowledged, duplicates: t.duplicates, records: t.records, unreadable: t.unreadable };
}

/** Ends the gateway's persistent MQTT session so the broker keeps nothing of this run. */
async function endGatewaySession(url: string, clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0, connectTimeout: 5000, properties: { sessionExpiryInterval: 0 } }).catch(() => undefined);
  await c?.endAsync().catch(() => undefined);
}

/** Deletes the topics of a run (its prefix); never throws (the brokers may be down). */
export async function deleteTopics(brokers: string, prefix: string): Promise<void> {
  let bus: KafkaBus | undefined;
  try {
    bus = new KafkaBus({ brokers: brokers.split(','), clientId: 'chaos-cleanup', logLevel: 'nothing', retries: 2 });
    const admin = bus.admin();
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    await admin.deleteTopics(mine);
  } catch {
    /* the brokers are down: the run's folder goes with them */
  } finally {
    await bus?.close();
  }
}
