import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VigilError } from '../../src/errors';
import { createCa, issueCertificate } from '../../src/pki';
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
  /** The secure variant's (`startKafka({ secure })`): what a client needs to connect. */
  readonly security?: KafkaSecurity;
}

/** `startKafka({ secure })`: SCRAM-SHA-512 users to create besides `admin` (name → password). */
export interface KafkaSecureOptions {
  readonly users?: Readonly<Record<string, string>>;
}

/** How to reach the secure variant: TLS to the CA's certificate, SCRAM-SHA-512 users. */
export interface KafkaSecurity {
  /** PEM of the CA that signed the broker's certificate (SAN: localhost, 127.0.0.1). */
  readonly caFile: string;
  /** The CA's key, to issue more certificates in tests (e.g. a client certificate). */
  readonly caKeyFile: string;
  /** The super user: creates topics and ACLs. */
  readonly admin: { readonly username: string; readonly password: string };
  readonly mechanism: 'scram-sha-512';
}

/** The broker side of the secure variant, in a node's layout. */
export interface KafkaNodeSecurity {
  /** PEM file: the broker's private key, then its certificate chain (Kafka's PEM keystore). */
  readonly keystore: string;
  /** PEM file of the CA certificate(s) it trusts. */
  readonly truststore: string;
  readonly adminPassword: string;
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
  /** The secure variant: SASL_SSL only (SCRAM-SHA-512), the StandardAuthorizer, no anonymous access. */
  readonly security?: KafkaNodeSecurity;
}

/** The files of one node and the JVM arguments that run it, once written. */
export interface KafkaNodeFiles {
  readonly props: string;
  readonly logFile: string;
  readonly jvm: readonly string[];
}

/**
 * Writes a combined broker+controller node's `server.properties` and log4j config into its
 * folder (docs/architecture.md §7) and returns how to run it.
 */
export function writeKafkaNodeFiles(layout: KafkaNodeLayout, libs: string, heap: readonly [string, string]): KafkaNodeFiles {
  const { dir, port, controllerPort } = layout;
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  const sec = layout.security;
  const listener = sec === undefined ? 'PLAINTEXT' : 'SASL_SSL';
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      `node.id=${layout.nodeId}`,
      `controller.quorum.voters=${layout.voters}`,
      `listeners=${listener}://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=${listener}://127.0.0.1:${layout.advertisedPort ?? port}`,
      'controller.listener.names=CONTROLLER',
      `inter.broker.listener.name=${listener}`,
      sec === undefined ? 'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT' : 'listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
      ...(sec === undefined ? [] : secureProperties(sec)),
      `log.dirs=${join(dir, 'data')}`,
      'num.partitions=1',
      // Topics are created up front by whoever uses them (docs/architecture.md §7).
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

/**
 * The secure variant (issue 12, docs/architecture.md §3): clients and brokers on SASL_SSL with
 * SCRAM-SHA-512 (users live in the cluster metadata, created at format time), the
 * controller listener on SASL PLAIN as `admin` (KRaft controllers cannot use SCRAM: they
 * hold the credentials), the StandardAuthorizer with `admin` as the only super user and no
 * access where no ACL allows it.
 */
function secureProperties(sec: KafkaNodeSecurity): string[] {
  const pw = sec.adminPassword;
  return [
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${pw}";`,
    'sasl.mechanism.controller.protocol=PLAIN',
    'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
    `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${pw}" user_admin="${pw}";`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${sec.keystore}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${sec.truststore}`,
    'ssl.client.auth=none',
    'ssl.endpoint.identification.algorithm=https',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users=User:admin',
    'allow.everyone.if.no.acl.found=false',
  ];
}

/** A start failure of a Kafka node, with the tail of its log. */
export function kafkaFailure(name: string, what: string, logFile: string, cause?: unknown): VigilError {
  return new VigilError('VIGIL_E_SERVICE_START', `${name} ${what}; its log (${logFile}):\n${tailLog(logFile, 60)}`, {
    details: { service: 'kafka', logFile },
    cause,
  });
}

/** Formats a new node's storage for cluster `id` (StorageTool; one JVM run). */
export async function formatKafkaStorage(name: string, files: KafkaNodeFiles, id: string, scramUsers: Readonly<Record<string, string>> = {}): Promise<void> {
  const scram = Object.entries(scramUsers).flatMap(([user, password]) => ['--add-scram', `SCRAM-SHA-512=[name=${user},password=${password}]`]);
  try {
    await execFileAsync(java(), [...files.jvm, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', files.props, ...scram]);
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
export async function startKafka(options: { timeoutMs?: number; log?: (line: string) => void; reuse?: KafkaReuse; advertisedPort?: number; secure?: KafkaSecureOptions } = {}): Promise<KafkaService> {
  const libs = ensureKafkaJars(options.log);
  const dir = options.reuse?.dir ?? mkdtempSync(join(tmpdir(), 'vigil-kafka-'));
  const [port, cport] = options.reuse ? [options.reuse.port, options.reuse.controllerPort] : [await freePort(), await freePort()];
  const secure = options.secure === undefined || options.reuse ? undefined : await secureMaterial(dir, options.secure);
  const files = writeKafkaNodeFiles(
    {
      nodeId: 1,
      port,
      controllerPort: cport,
      ...(options.advertisedPort === undefined ? {} : { advertisedPort: options.advertisedPort }),
      voters: `1@127.0.0.1:${cport}`,
      dir,
      extra: ['offsets.topic.replication.factor=1', 'transaction.state.log.replication.factor=1', 'transaction.state.log.min.isr=1'],
      ...(secure === undefined ? {} : { security: secure.node }),
    },
    libs,
    ['256m', '512m'],
  );
  // A reused folder is formatted already; formatting again would refuse (or wipe it).
  if (!options.reuse) await formatKafkaStorage('kafka', files, clusterId(), secure?.users);
  const proc = await launchKafka('kafka', files, options.timeoutMs ?? 120000);
  return {
    brokers: `127.0.0.1:${options.advertisedPort ?? port}`,
    pid: proc.pid,
    logFile: files.logFile,
    dir,
    port,
    controllerPort: cport,
    ...(secure === undefined ? {} : { security: secure.client }),
    async stop(stopOptions: { keepData?: boolean } = {}) {
      await stopProcess(proc, 20000);
      if (!stopOptions.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A CA and the broker's certificate (`vigil pki`'s code), a random admin password, the SCRAM users. */
async function secureMaterial(dir: string, options: KafkaSecureOptions): Promise<{ node: KafkaNodeSecurity; client: KafkaSecurity; users: Record<string, string> }> {
  const tls = join(dir, 'tls');
  mkdirSync(tls, { recursive: true, mode: 0o700 });
  const ca = await createCa({ name: 'vigil-test-kafka-ca', days: 2 });
  const broker = await issueCertificate(ca, { role: 'broker', name: 'localhost', days: 2 });
  const caFile = join(tls, 'ca.crt');
  const caKeyFile = join(tls, 'ca.key');
  writeFileSync(caFile, ca.certPem);
  writeFileSync(caKeyFile, ca.keyPem, { mode: 0o600 });
  const keystore = join(tls, 'broker.pem');
  writeFileSync(keystore, broker.keyPem + broker.certPem, { mode: 0o600 });
  const adminPassword = randomBytes(18).toString('hex');
  for (const [user, password] of Object.entries(options.users ?? {})) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(user) || !/^[A-Za-z0-9._-]{8,128}$/.test(password) || user === 'admin') {
      throw new VigilError('VIGIL_E_SERVICE_START', `secure Kafka user ${JSON.stringify(user)}: names and passwords are [A-Za-z0-9._-] (passwords 8 to 128 characters), and "admin" is taken`);
    }
  }
  return {
    node: { keystore, truststore: caFile, adminPassword },
    client: { caFile, caKeyFile, admin: { username: 'admin', password: adminPassword }, mechanism: 'scram-sha-512' },
    users: { admin: adminPassword, ...(options.users ?? {}) },
  };
}
