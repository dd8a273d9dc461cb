import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VigilError } from '../../src/errors';
import { freePort } from './ports';
import { sleep, startProcess, stopProcess, tailLog, type ServiceProcess } from './process';

export const KAFKA_VERSION = '3.9.1';

const execFileAsync = promisify(execFile);

export interface KafkaService {
  /** Bootstrap address, `127.0.0.1:<port>`. */
  readonly brokers: string;
  readonly pid: number;
  readonly logFile: string;
  /** Folder of the broker's config, data and log. */
  readonly dir: string;
  readonly port: number;
  readonly controllerPort: number;
  /** Stops the broker; `keepData` leaves its folder so `startKafka({ reuse })` can restart it. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** Restart a stopped broker on the same folder and ports (outage tests). */
export interface KafkaReuse {
  readonly dir: string;
  readonly port: number;
  readonly controllerPort: number;
}

const POM = join(__dirname, '..', 'kafka', 'pom.xml');

/** Where the broker jars are cached between runs (outside the repository). */
export function kafkaJarDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'vigil', `kafka-${KAFKA_VERSION}`, 'libs');
}

/**
 * Returns the directory holding the Kafka broker jars, fetching them from Maven Central
 * with `mvn` the first time. The copy is made in a temporary folder and renamed into
 * place so an interrupted fetch never leaves a half-filled cache behind.
 */
export function ensureKafkaJars(log: (line: string) => void = () => undefined): string {
  const dir = kafkaJarDir();
  if (existsSync(join(dir, '.complete'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`fetching Apache Kafka ${KAFKA_VERSION} jars with Maven into ${dir} (first run only)`);
  try {
    execFileSync(
      'mvn',
      ['-B', '-q', '-f', POM, 'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${tmp}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (cause) {
    const out = cause as { stdout?: Buffer; stderr?: Buffer; code?: string };
    const why = out.code === 'ENOENT' ? 'mvn is not installed (Java 17 and Maven are needed to fetch the Kafka jars)' : `${out.stdout ?? ''}${out.stderr ?? ''}`.slice(-3000);
    rmSync(tmp, { recursive: true, force: true });
    throw new VigilError('VIGIL_E_SERVICE_START', `could not fetch the Kafka jars: ${why}. Or point VIGIL_KAFKA_BROKERS at a running Kafka.`, {
      details: { service: 'kafka' },
      cause,
    });
  }
  if (!readdirSync(tmp).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new VigilError('VIGIL_E_SERVICE_START', `Maven ran but ${tmp} holds no kafka_2.13 jar`);
  }
  writeFileSync(join(tmp, '.complete'), new Date().toISOString() + '\n');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '..'), { recursive: true });
  renameSync(tmp, dir);
  return dir;
}

function java(): string {
  const home = process.env.JAVA_HOME;
  return home && existsSync(join(home, 'bin', 'java')) ? join(home, 'bin', 'java') : 'java';
}

/**
 * A 22-character Kafka cluster id: 16 random bytes, base64url without padding. Never one
 * starting with `-` (1 in 64 would): StorageTool's argument parser takes it for an option
 * and refuses to format ("argument --cluster-id/-t: expected one argument").
 */
export function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** One node's place: its id, ports and folder; `advertisedPort` is what clients are told to use. */
export interface KafkaNodeLayout {
  readonly nodeId: number;
  readonly port: number;
  readonly controllerPort: number;
  readonly advertisedPort?: number;
  /** `controller.quorum.voters`, e.g. `1@127.0.0.1:9093,2@127.0.0.1:9095`. */
  readonly voters: string;
  readonly dir: string;
  /** Further `key=value` lines (replication defaults, timeouts). */
  readonly extra: readonly string[];
}

/** The files of one node and the JVM arguments that run it, once written. */
export interface KafkaNodeFiles {
  readonly props: string;
  readonly logFile: string;
  readonly jvm: readonly string[];
}

/**
 * Writes a combined broker+controller node's `server.properties` and log4j config into its
 * folder (DESIGN.md §7) and returns how to run it.
 */
export function writeKafkaNodeFiles(layout: KafkaNodeLayout, libs: string, heap: readonly [string, string]): KafkaNodeFiles {
  const { dir, port, controllerPort } = layout;
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      `node.id=${layout.nodeId}`,
      `controller.quorum.voters=${layout.voters}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${layout.advertisedPort ?? port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=1',
      // Topics are created up front by whoever uses them (DESIGN.md §7).
      'auto.create.topics.enable=false',
      'offsets.topic.num.partitions=10',
      'group.initial.rebalance.delay.ms=0',
      'delete.topic.enable=true',
      ...layout.extra,
      '',
    ].join('\n'),
  );
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=INFO, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka=INFO',
      'log4j.logger.org.apache.kafka=INFO',
      '',
    ].join('\n'),
  );
  const jvm = [`-Xms${heap[0]}`, `-Xmx${heap[1]}`, '-XX:+UseG1GC', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${log4j}`, '-cp', `${libs}/*`];
  return { props, logFile: join(dir, 'kafka.log'), jvm };
}

/** A start failure of a Kafka node, with the tail of its log. */
export function kafkaFailure(name: string, what: string, logFile: string, cause?: unknown): VigilError {
  return new VigilError('VIGIL_E_SERVICE_START', `${name} ${what}; its log (${logFile}):\n${tailLog(logFile, 60)}`, {
    details: { service: 'kafka', logFile },
    cause,
  });
}

/** Formats a new node's storage for cluster `id` (StorageTool; one JVM run). */
export async function formatKafkaStorage(name: string, files: KafkaNodeFiles, id: string): Promise<void> {
  try {
    await execFileAsync(java(), [...files.jvm, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', files.props]);
  } catch (cause) {
    const e = cause as { stdout?: string; stderr?: string };
    writeFileSync(files.logFile, `${e.stdout ?? ''}${e.stderr ?? ''}`);
    throw kafkaFailure(name, 'storage format failed', files.logFile, cause);
  }
}

/**
 * Runs a formatted node and resolves once it logs "Kafka Server started" (after this start:
 * a restart appends to the same log). A node that exits or is not up by `timeoutMs` is
 * stopped and reported with its log.
 */
export async function launchKafka(name: string, files: KafkaNodeFiles, timeoutMs: number): Promise<ServiceProcess> {
  let logStart = 0;
  try {
    logStart = readFileSync(files.logFile).length;
  } catch {
    /* first start */
  }
  const proc: ServiceProcess = startProcess(name, java(), [...files.jvm, 'kafka.Kafka', files.props], files.logFile);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(files.logFile, 'utf8');
    } catch {
      /* not written yet */
    }
    if (text.slice(logStart).includes('Kafka Server started')) return proc;
    if (proc.exited()) throw kafkaFailure(name, 'exited during startup', files.logFile);
    if (Date.now() > deadline) {
      await stopProcess(proc, 2000);
      throw kafkaFailure(name, `did not log "Kafka Server started" within ${timeoutMs} ms`, files.logFile);
    }
    await sleep(100);
  }
}

/**
 * Starts a single-node KRaft Kafka on free loopback ports; resolves when it serves.
 * `advertisedPort` makes it tell clients to connect to another port (a fault-injecting
 * proxy in front of it, in tests). A multi-node cluster: `startKafkaCluster`.
 */
export async function startKafka(options: { timeoutMs?: number; log?: (line: string) => void; reuse?: KafkaReuse; advertisedPort?: number } = {}): Promise<KafkaService> {
  const libs = ensureKafkaJars(options.log);
  const dir = options.reuse?.dir ?? mkdtempSync(join(tmpdir(), 'vigil-kafka-'));
  const [port, cport] = options.reuse ? [options.reuse.port, options.reuse.controllerPort] : [await freePort(), await freePort()];
  const files = writeKafkaNodeFiles(
    {
      nodeId: 1,
      port,
      controllerPort: cport,
      ...(options.advertisedPort === undefined ? {} : { advertisedPort: options.advertisedPort }),
      voters: `1@127.0.0.1:${cport}`,
      dir,
      extra: ['offsets.topic.replication.factor=1', 'transaction.state.log.replication.factor=1', 'transaction.state.log.min.isr=1'],
    },
    libs,
    ['256m', '512m'],
  );
  // A reused folder is formatted already; formatting again would refuse (or wipe it).
  if (!options.reuse) await formatKafkaStorage('kafka', files, clusterId());
  const proc = await launchKafka('kafka', files, options.timeoutMs ?? 120000);
  return {
    brokers: `127.0.0.1:${options.advertisedPort ?? port}`,
    pid: proc.pid,
    logFile: files.logFile,
    dir,
    port,
    controllerPort: cport,
    async stop(stopOptions: { keepData?: boolean } = {}) {
      await stopProcess(proc, 20000);
      if (!stopOptions.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}
