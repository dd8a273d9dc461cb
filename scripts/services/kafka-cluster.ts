import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { clusterId, ensureKafkaJars, formatKafkaStorage, launchKafka, writeKafkaNodeFiles, type KafkaNodeFiles } from './kafka';
import { freePort } from './ports';
import { forgetProcess, processState, signalProcess, sleep, tailLog, waitExit, type ServiceProcess } from './process';

/** Where a node is in its life; `paused` = SIGSTOPped (alive, answering nothing). */
export type KafkaNodeState = 'running' | 'paused' | 'down';

/**
 * One node (broker + controller) of a local cluster, with fault controls for chaos tests.
 * Every control is bounded in time: it resolves once the node is in the state asked for, or
 * rejects with a `KafkaControlError` saying what did not happen, never hangs.
 */
export interface KafkaNode {
  /** `node.id`, as in leader and ISR lists. */
  readonly id: number;
  /** Client port (PLAINTEXT), kept across restarts. */
  readonly port: number;
  readonly controllerPort: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly dir: string;
  readonly logFile: string;
  /** Pid of the running (or paused) process; undefined while down. */
  readonly pid: number | undefined;
  readonly state: KafkaNodeState;
  /** SIGKILL: a crash. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM: a controlled shutdown (leadership moves away first). Rejects, after SIGKILL, if it takes longer than `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
  /** Starts a down node again on the same folder and ports; resolves once it logs "Kafka Server started". */
  start(timeoutMs?: number): Promise<void>;
  /** SIGSTOP: the process freezes with its sockets open (a hung broker, a long GC pause). */
  pause(): Promise<void>;
  /** SIGCONT after `pause`. */
  resume(): Promise<void>;
}

export interface KafkaCluster {
  /** Bootstrap list of every node, `127.0.0.1:<port>,…`. */
  readonly brokers: string;
  readonly nodes: readonly KafkaNode[];
  /** The node with `node.id` = `id`. */
  node(id: number): KafkaNode;
  /** The node leading `topic`[`partition`], from the metadata of a running node; waits (bounded) while the partition has no leader. */
  leaderOf(topic: string, partition: number, timeoutMs?: number): Promise<KafkaNode>;
  /** Resolves once every partition of `topics` has all `replicas` (default: every node) in its ISR, e.g. after a restarted node caught up. */
  waitInSync(topics: readonly string[], timeoutMs?: number, replicas?: number): Promise<void>;
  /** Stops every node (paused ones too) and removes their folders unless `keepData`. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface KafkaClusterOptions {
  /** Nodes, each broker and controller (a controller quorum of all). Default 3. */
  readonly nodes?: number;
  /** Replication factor of new topics and the internal ones. Default min(3, nodes). */
  readonly replicationFactor?: number;
  /** `min.insync.replicas`, also of the transaction log. Default replicationFactor − 1 (at least 1): 2 of 3. */
  readonly minInsyncReplicas?: number;
  /**
   * How long the controller waits for a silent broker's heartbeat before fencing it and
   * moving its leaderships (`broker.session.timeout.ms`). Default Kafka's, 9,000 ms.
   */
  readonly brokerSessionTimeoutMs?: number;
  /** JVM heap per node, [-Xms, -Xmx]. Default ['192m', '384m'] (three nodes on a 2-core box). */
  readonly heap?: readonly [string, string];
  /** Bound of the whole start. Default 180,000 ms. */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** A fault control (kill, stop, start, pause, resume, leader lookup) that did not do what it was asked in time. */
export class KafkaControlError extends Error {
  constructor(
    readonly nodeId: number | undefined,
    readonly step: string,
    message: string,
  ) {
    super(message);
    this.name = 'KafkaControlError';
  }
}

const KILL_WAIT_MS = 10_000;
const SIGNAL_WAIT_MS = 5_000;
const STOP_WAIT_MS = 30_000;
const START_WAIT_MS = 90_000;
const METADATA_WAIT_MS = 30_000;

class ClusterNode implements KafkaNode {
  readonly address: string;
  private proc: ServiceProcess | undefined;
  private paused = false;
  /** One control at a time per node: a second one while the first runs is a caller's bug. */
  private busy: string | undefined;

  constructor(
    readonly id: number,
    readonly port: number,
    readonly controllerPort: number,
    readonly dir: string,
    private readonly files: KafkaNodeFiles,
  ) {
    this.address = `127.0.0.1:${port}`;
  }

  get logFile(): string {
    return this.files.logFile;
  }

  get pid(): number | undefined {
    return this.proc === undefined || this.proc.exited() ? undefined : this.proc.pid;
  }

  get state(): KafkaNodeState {
    if (this.pid === undefined) return 'down';
    return this.paused ? 'paused' : 'running';
  }

  /** @internal Formats the node's storage for cluster `id`. */
  format(id: string): Promise<void> {
    return formatKafkaStorage(`kafka node ${this.id}`, this.files, id);
  }

  /** @internal The first start, concurrent with the other nodes (a quorum needs a majority up). */
  async launch(timeoutMs: number): Promise<void> {
    this.proc = await launchKafka(`kafka node ${this.id}`, this.files, timeoutMs);
  }

  kill(): Promise<void> {
    return this.control('kill', async () => {
      const proc = this.live('kill');
      signalProcess(proc, 'SIGKILL');
      if (!(await waitExit(proc, KILL_WAIT_MS))) throw this.error('kill', `pid ${proc.pid} still runs ${KILL_WAIT_MS} ms after SIGKILL`);
      this.down(proc);
    });
  }

  stop(timeoutMs = STOP_WAIT_MS): Promise<void> {
    return this.control('stop', async () => {
      const proc = this.live('stop');
      // A stopped process only acts on SIGTERM once it runs again.
      if (this.paused) signalProcess(proc, 'SIGCONT');
      signalProcess(proc, 'SIGTERM');
      if (await waitExit(proc, timeoutMs)) {
        this.down(proc);
        return;
      }
      signalProcess(proc, 'SIGKILL');
      const gone = await waitExit(proc, KILL_WAIT_MS);
      if (gone) this.down(proc);
      throw this.error('stop', `no controlled shutdown within ${timeoutMs} ms of SIGTERM; ${gone ? 'killed it with SIGKILL' : `pid ${proc.pid} survives even SIGKILL`}`);
    });
  }

  start(timeoutMs = START_WAIT_MS): Promise<void> {
    return this.control('start', async () => {
      if (this.pid !== undefined) throw this.error('start', `it is ${this.state} (pid ${this.pid}); only a down node can start`);
      this.paused = false;
      try {
        await this.launch(timeoutMs);
      } catch (err) {
        // The attempt was stopped; its message carries the log.
        throw new KafkaControlError(this.id, 'start', `kafka node ${this.id} (${this.address}): start failed: ${(err as Error).message}`);
      }
    });
  }

  pause(): Promise<void> {
    return this.control('pause', async () => {
      const proc = this.live('pause');
      if (this.paused) throw this.error('pause', 'it is paused already');
      signalProcess(proc, 'SIGSTOP');
      await this.awaitState(proc, 'pause', (s) => s === 'T' || s === 't', 'stopped (T)');
      this.paused = true;
    });
  }

  resume(): Promise<void> {
    return this.control('resume', async () => {
      const proc = this.live('resume');
      if (!this.paused) throw this.error('resume', 'it is not paused');
      signalProcess(proc, 'SIGCONT');
      await this.awaitState(proc, 'resume', (s) => s !== 'T' && s !== 't', 'running');
      this.paused = false;
    });
  }

  /** @internal Teardown: SIGCONT, SIGTERM, SIGKILL after `graceMs`; never throws. */
  async shutdown(graceMs: number): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exited()) return;
    signalProcess(proc, 'SIGCONT');
    signalProcess(proc, 'SIGTERM');
    if (!(await waitExit(proc, graceMs))) {
      signalProcess(proc, 'SIGKILL');
      await waitExit(proc, KILL_WAIT_MS);
    }
    this.down(proc);
  }

  private async control(step: string, fn: () => Promise<void>): Promise<void> {
    if (this.busy !== undefined) throw this.error(step, `a ${this.busy} is still under way`);
    this.busy = step;
    try {
      await fn();
    } finally {
      this.busy = undefined;
    }
  }

  private live(step: string): ServiceProcess {
    const proc = this.proc;
    if (proc === undefined || proc.exited()) throw this.error(step, 'it is down');
    return proc;
  }

  private down(proc: ServiceProcess): void {
    forgetProcess(proc);
    this.paused = false;
  }

  private async awaitState(proc: ServiceProcess, step: string, ok: (state: string) => boolean, want: string): Promise<void> {
    const deadline = Date.now() + SIGNAL_WAIT_MS;
    for (;;) {
      const s = processState(proc.pid);
      if (s === undefined) throw this.error(step, `pid ${proc.pid} is gone`);
      if (ok(s)) return;
      if (Date.now() > deadline) throw this.error(step, `pid ${proc.pid} is in state ${s}, not ${want}, ${SIGNAL_WAIT_MS} ms after the signal`);
      await sleep(10);
    }
  }

  private error(step: string, why: string): KafkaControlError {
    return new KafkaControlError(this.id, step, `kafka node ${this.id} (${this.address}): ${step} failed: ${why}; its log (${this.logFile}) ends:\n${tailLog(this.logFile, 20)}`);
  }
}

/** Repeats `probe` until it returns a value or `timeoutMs` passes; the last failure is in the error. */
async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new KafkaControlError(undefined, what, `${what}: not within ${timeoutMs} ms (last: ${last})`);
    await sleep(200);
  }
}

/**
 * Starts a KRaft cluster on loopback: `nodes` nodes, each broker and controller, with
 * production's replication settings (RF 3, `min.insync.replicas=2`, the offsets and
 * transaction topics alike), and per-node crash, stop, restart and freeze controls.
 *
 * @example
 * const cluster = await startKafkaCluster({ nodes: 3 });
 * const leader = await cluster.leaderOf('telemetry.power', 0);
 * await leader.kill();          // SIGKILL
 * await leader.start();         // same folder and ports
 * await cluster.waitInSync(['telemetry.power']);
 * await cluster.stop();
 */
export async function startKafkaCluster(options: KafkaClusterOptions = {}): Promise<KafkaCluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 9) throw new RangeError(`startKafkaCluster: nodes must be an integer from 1 to 9, got ${String(count)}`);
  const rf = options.replicationFactor ?? Math.min(3, count);
  const minIsr = options.minInsyncReplicas ?? Math.max(1, rf - 1);
  if (!Number.isInteger(rf) || rf < 1 || rf > count) throw new RangeError(`startKafkaCluster: replicationFactor must be an integer from 1 to ${count}, got ${String(rf)}`);
  if (!Number.isInteger(minIsr) || minIsr < 1 || minIsr > rf) throw new RangeError(`startKafkaCluster: minInsyncReplicas must be an integer from 1 to ${rf}, got ${String(minIsr)}`);
  const libs = ensureKafkaJars(options.log);
  const ports = [];
  for (let i = 0; i < count; i++) ports.push({ id: i + 1, port: await freePort(), controllerPort: await freePort() });
  const voters = ports.map((p) => `${p.id}@127.0.0.1:${p.controllerPort}`).join(',');
  const extra = [
    `default.replication.factor=${rf}`,
    `min.insync.replicas=${minIsr}`,
    `offsets.topic.replication.factor=${rf}`,
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${minIsr}`,
    // Never elect a replica that missed acknowledged writes (Kafka's default, said out loud).
    'unclean.leader.election.enable=false',
    ...(options.brokerSessionTimeoutMs === undefined ? [] : [`broker.session.timeout.ms=${options.brokerSessionTimeoutMs}`]),
  ];
  const nodes = ports.map((p) => {
    const dir = mkdtempSync(join(tmpdir(), `vigil-kafka-n${p.id}-`));
    const files = writeKafkaNodeFiles({ nodeId: p.id, port: p.port, controllerPort: p.controllerPort, voters, dir, extra }, libs, options.heap ?? ['192m', '384m']);
    return new ClusterNode(p.id, p.port, p.controllerPort, dir, files);
  });
  const brokers = nodes.map((n) => n.address).join(',');
  const removeAll = (): void => nodes.forEach((n) => rmSync(n.dir, { recursive: true, force: true }));
  const timeoutMs = options.timeoutMs ?? 180_000;

  try {
    const id = clusterId();
    await Promise.all(nodes.map((n) => n.format(id)));
    // Together: no node finishes starting before a majority of the controller quorum is up.
    const started = await Promise.allSettled(nodes.map((n) => n.launch(timeoutMs)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await Promise.all(nodes.map((n) => n.shutdown(2000)));
    removeAll();
    throw err;
  }
  options.log?.(`kafka cluster of ${count} up: ${brokers}`);

  /** A short-lived admin on the nodes that run (one pointed at a dead node waits for it). */
  const withAdmin = async <T>(fn: (admin: Admin) => Promise<T>): Promise<T> => {
    const up = nodes.filter((n) => n.state === 'running').map((n) => n.address);
    if (up.length === 0) throw new Error('no node is running');
    const admin = new Kafka({ clientId: 'vigil-cluster-control', brokers: up, logLevel: logLevel.NOTHING, connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 1 } }).admin();
    try {
      await admin.connect();
      return await fn(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  const byId = (id: number): KafkaNode => {
    const n = nodes.find((x) => x.id === id);
    if (n === undefined) throw new KafkaControlError(id, 'node', `no kafka node ${id} in this cluster (nodes ${nodes.map((x) => x.id).join(', ')})`);
    return n;
  };

  return {
    brokers,
    nodes,
    node: byId,
    leaderOf: (topic, partition, ms = METADATA_WAIT_MS) =>
      poll(`leader of ${topic}[${partition}]`, ms, () =>
        withAdmin(async (admin) => {
          const meta = await admin.fetchTopicMetadata({ topics: [topic] });
          const p = meta.topics[0]?.partitions.find((x) => x.partitionId === partition);
          if (p === undefined) throw new Error(`${topic} has no partition ${partition}`);
          // A leader that is down is stale metadata: the controller has not fenced it yet.
          return p.leader >= 0 && byId(p.leader).state !== 'down' ? byId(p.leader) : undefined;
        }),
      ),
    waitInSync: (topics, ms = METADATA_WAIT_MS, replicas = rf) =>
      poll(`every partition of ${topics.join(', ')} with ${replicas} replicas in sync`, ms, () =>
        withAdmin(async (admin) => {
          const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
          return meta.topics.every((t) => t.partitions.every((p) => p.leader >= 0 && p.isr.length >= replicas)) ? true : undefined;
        }),
      ).then(() => undefined),
    async stop(stopOptions: { keepData?: boolean } = {}) {
      await Promise.all(nodes.map((n) => n.shutdown(10_000)));
      if (!stopOptions.keepData) removeAll();
    },
  };
}
