import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VigilError } from '../../src/errors';
import { canConnect, freePort } from './ports';
import { sleep, startProcess, stopProcess, tailLog, type ServiceProcess } from './process';

export interface MosquittoService {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

const CONF_TEMPLATE = join(__dirname, '..', 'mosquitto', 'vigil.conf');
/** The deployment's ACL (deploy/mosquitto/acl): the secure test variant uses the same file. */
const DEFAULT_ACL = join(__dirname, '..', '..', 'deploy', 'mosquitto', 'acl');

/** PEM files of the secure listener (`startMosquitto({ tls })`). */
export interface MosquittoTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly aclFile?: string;
}

/** Path of the mosquitto binary; installs Debian's package when missing and we are root. */
export function ensureMosquitto(): string {
  const candidates = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'];
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new VigilError('VIGIL_E_SERVICE_START', 'mosquitto is not installed; run: sudo apt-get install -y mosquitto mosquitto-clients', {
      details: { service: 'mosquitto' },
    });
  }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', 'mosquitto', 'mosquitto-clients'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const after = candidates.find((p) => existsSync(p));
  if (!after) throw new VigilError('VIGIL_E_SERVICE_START', 'apt-get installed mosquitto but its binary is not where Debian puts it');
  return after;
}

/**
 * Starts a private Mosquitto on a free loopback port (or `port`) with the project's config.
 * `persistenceDir` turns persistence on there (sessions and queued messages survive a
 * restart on the same folder, as with the deployment's broker); it is the caller's to remove.
 * `maxQueuedMessages` overrides the queue limit of an offline persistent session (100 000).
 * `tls` makes the listener the secure variant of the deployment's: TLS only, a client
 * certificate required, its CN as the MQTT user, no anonymous clients, and the ACL file
 * (deploy/mosquitto/acl by default) deciding who may publish and subscribe to what.
 * `passwords` (user → password) makes it password-authenticated instead: no anonymous
 * clients, a password file made with mosquitto_passwd.
 */
export async function startMosquitto(options: { timeoutMs?: number; port?: number; persistenceDir?: string; maxQueuedMessages?: number; tls?: MosquittoTls; passwords?: Readonly<Record<string, string>> } = {}): Promise<MosquittoService> {
  const bin = ensureMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-mosquitto-'));
  // A fixed port is for restart tests: the same broker address before and after.
  const port = options.port ?? (await freePort());
  const conf = join(dir, 'mosquitto.conf');
  let text = readFileSync(CONF_TEMPLATE, 'utf8').replace(/@PORT@/g, String(port));
  if (options.persistenceDir !== undefined) {
    text = text.replace(/^persistence false$/m, `persistence true\npersistence_location ${options.persistenceDir}/`);
    // Started as root, Mosquitto drops to its own user, which must be able to write its store there.
    chmodSync(options.persistenceDir, 0o777);
  }
  // A small queue per offline session: tests of what the broker drops when a gateway is away.
  if (options.maxQueuedMessages !== undefined) text = text.replace(/^max_queued_messages \d+$/m, `max_queued_messages ${options.maxQueuedMessages}`);
  if (options.tls !== undefined) {
    // Started as root, Mosquitto reads these after dropping to its own user: copies in its
    // own folder, readable by it (test files only; a deployment owns them to mosquitto).
    chmodSync(dir, 0o755);
    const copy = (from: string, name: string): string => {
      const to = join(dir, name);
      copyFileSync(from, to);
      chmodSync(to, 0o644);
      return to;
    };
    const t = options.tls;
    text = text.replace(
      /^allow_anonymous true$/m,
      ['allow_anonymous false', `cafile ${copy(t.caFile, 'ca.crt')}`, `certfile ${copy(t.certFile, 'server.crt')}`, `keyfile ${copy(t.keyFile, 'server.key')}`, 'require_certificate true', 'use_identity_as_username true', `acl_file ${copy(t.aclFile ?? DEFAULT_ACL, 'acl')}`].join('\n'),
    );
  }
  if (options.passwords !== undefined) {
    chmodSync(dir, 0o755);
    const file = join(dir, 'passwords');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(options.passwords)) execFileSync('mosquitto_passwd', ['-b', file, user, password], { stdio: ['ignore', 'pipe', 'pipe'] });
    chmodSync(file, 0o644);
    text = text.replace(/^allow_anonymous true$/m, `allow_anonymous false\npassword_file ${file}`);
  }
  writeFileSync(conf, text);
  const logFile = join(dir, 'mosquitto.log');
  const proc: ServiceProcess = startProcess('mosquitto', bin, ['-c', conf], logFile);

  const deadline = Date.now() + (options.timeoutMs ?? 15000);
  while (!(await canConnect(port))) {
    if (proc.exited() || Date.now() > deadline) {
      await stopProcess(proc, 2000);
      throw new VigilError('VIGIL_E_SERVICE_START', `mosquitto did not start on 127.0.0.1:${port}; its log (${logFile}):\n${tailLog(logFile)}`, {
        details: { service: 'mosquitto', logFile },
      });
    }
    await sleep(50);
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    logFile,
    async stop() {
      await stopProcess(proc, 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
