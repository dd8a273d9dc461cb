import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafka, startKafkaCluster, startMosquitto, type KafkaCluster, type KafkaService, type MosquittoService } from '../../scripts/services';
import { bounded, sleep } from './processes';

/**
 * The brokers of a chaos run: a private Mosquitto (persistent, a small queue per offline
 * session) and a private Kafka, both on free loopback ports, restartable in place. Every
 * operation is bounded in time. Shared by the schedules of one harness invocation; each
 * schedule ends with both up again.
 */
export class ChaosServices {
  kafka: KafkaService | undefined;
  /** The 3-node cluster, in cluster mode (`up(…, 3)`); `kafka` is then unused. */
  cluster: KafkaCluster | undefined;
  mosquitto: MosquittoService | undefined;
  private kafkaHung = false;
  private readonly persistenceDir = mkdtempSync(join(tmpdir(), 'vigil-chaos-mqtt-'));
  private mqttPort: number | undefined;
  private queued = 0;
  private kafkaAt: { dir: string; port: number; controllerPort: number } | undefined;

  constructor(private readonly log: (line: string) => void = () => undefined) {}

  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.mqttPort ?? 0}`;
  }

  get brokers(): string {
    return this.cluster?.brokers ?? `127.0.0.1:${this.kafkaAt?.port ?? 0}`;
  }

  /** Starts what is not running (every cluster node too); Mosquitto again if its queue limit differs; the other Kafka when the mode differs. */
  async up(maxQueuedMessages: number, kafkaNodes: 1 | 3 = 1): Promise<void> {
    if (this.kafkaHung) this.kafkaResume();
    if (this.mosquitto !== undefined && this.queued !== maxQueuedMessages) await this.mosquittoStop();
    if (this.mosquitto === undefined) await this.mosquittoStart(maxQueuedMessages);
    if (kafkaNodes === 3) {
      if (this.kafka !== undefined || this.kafkaAt !== undefined) await this.kafkaDiscard();
      if (this.cluster === undefined) this.cluster = await bounded(startKafkaCluster({ nodes: 3, timeoutMs: 240_000, log: this.log }), 300_000, 'start a 3-node kafka cluster');
      for (const n of this.cluster.nodes) {
        if (n.state === 'paused') await n.resume();
        if (n.state === 'down') await n.start();
      }
    } else {
      if (this.cluster !== undefined) await this.clusterDiscard();
      if (this.kafka === undefined) await this.kafkaStart();
    }
  }

  /** Only Kafka (a single node), running and not hung: what the worker schedules need. */
  async kafkaUp(): Promise<void> {
    if (this.kafkaHung) this.kafkaResume();
    if (this.cluster !== undefined) await this.clusterDiscard();
    if (this.kafka === undefined) await this.kafkaStart();
  }

  /** Cluster mode: the node leading `topic`[`partition`] now. */
  async leader(topic: string, partition = 0): Promise<number> {
    if (this.cluster === undefined) throw new Error('no kafka cluster (kafkaNodes: 3) is running');
    return (await this.cluster.leaderOf(topic, partition, 30_000)).id;
  }

  /** Cluster mode: SIGKILL (`kill`), controlled shutdown (`stop`) or SIGSTOP (`pause`) of one node; bounded by the cluster's controls. */
  async nodeDown(id: number, how: 'kill' | 'stop' | 'pause'): Promise<void> {
    const node = this.cluster?.node(id);
    if (node === undefined || node.state !== 'running') throw new Error(`kafka node ${id} is not running (${node?.state ?? 'no cluster'})`);
    await (how === 'kill' ? node.kill() : how === 'stop' ? node.stop(30_000) : node.pause());
  }

  /** Cluster mode: brings a node back (start after kill/stop, resume after pause). */
  async nodeUp(id: number): Promise<void> {
    const node = this.cluster?.node(id);
    if (node === undefined) throw new Error('no kafka cluster');
    if (node.state === 'paused') await node.resume();
    else if (node.state === 'down') await node.start(120_000);
  }

  private async kafkaDiscard(): Promise<void> {
    await this.kafkaStop();
    if (this.kafkaAt !== undefined) rmSync(this.kafkaAt.dir, { recursive: true, force: true });
    this.kafkaAt = undefined;
  }

  private async clusterDiscard(): Promise<void> {
    const c = this.cluster;
    this.cluster = undefined;
    await c?.stop().catch((e: unknown) => this.log(`stop kafka cluster: ${String(e)}`));
  }

  async mosquittoStart(maxQueuedMessages = this.queued): Promise<void> {
    this.queued = maxQueuedMessages;
    this.mosquitto = await bounded(startMosquitto({ persistenceDir: this.persistenceDir, maxQueuedMessages, ...(this.mqttPort !== undefined ? { port: this.mqttPort } : {}), timeoutMs: 20_000 }), 30_000, 'start mosquitto');
    this.mqttPort = this.mosquitto.port;
  }

  /** SIGTERM (Mosquitto saves its persistent sessions and queues), SIGKILL after 5 s. */
  async mosquittoStop(): Promise<void> {
    const m = this.mosquitto;
    this.mosquitto = undefined;
    if (m !== undefined) await bounded(m.stop(), 30_000, 'stop mosquitto');
  }

  async kafkaStart(): Promise<void> {
    const k = await bounded(startKafka({ timeoutMs: 120_000, ...(this.kafkaAt !== undefined ? { reuse: this.kafkaAt } : {}) }), 150_000, `start kafka${this.kafkaAt ? ' on its data' : ''}`);
    this.kafka = k;
    this.kafkaAt = { dir: k.dir, port: k.port, controllerPort: k.controllerPort };
  }

  /** Controlled shutdown (SIGTERM, SIGKILL after 20 s), keeping the data for `kafkaStart`. */
  async kafkaStop(): Promise<void> {
    const k = this.kafka;
    this.kafka = undefined;
    if (this.kafkaHung) this.kafkaResume();
    if (k !== undefined) await bounded(k.stop({ keepData: true }), 60_000, 'stop kafka');
  }

  /** SIGSTOP: a hang, not a refusal (connections stay open, nothing answers). */
  kafkaHang(): void {
    if (this.kafka === undefined) throw new Error('kafka is not running');
    process.kill(this.kafka.pid, 'SIGSTOP');
    this.kafkaHung = true;
  }

  kafkaResume(): void {
    if (this.kafka !== undefined) process.kill(this.kafka.pid, 'SIGCONT');
    this.kafkaHung = false;
  }

  get hung(): boolean {
    return this.kafkaHung;
  }

  /** Graceful restart on the same port and persistence folder, down for `downMs`. */
  async mosquittoRestart(downMs: number): Promise<void> {
    await this.mosquittoStop();
    await sleep(downMs);
    await this.mosquittoStart();
  }

  /** Stops both and removes their data. Never throws. */
  async down(): Promise<void> {
    if (this.kafkaHung) this.kafkaResume();
    await this.mosquitto?.stop().catch((e: unknown) => this.log(`stop mosquitto: ${String(e)}`));
    this.mosquitto = undefined;
    if (this.kafka !== undefined) await this.kafka.stop().catch((e: unknown) => this.log(`stop kafka: ${String(e)}`));
    else if (this.kafkaAt !== undefined) rmSync(this.kafkaAt.dir, { recursive: true, force: true });
    this.kafka = undefined;
    await this.clusterDiscard();
    rmSync(this.persistenceDir, { recursive: true, force: true });
  }
}
