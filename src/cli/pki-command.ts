import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeFileAtomically } from '../crypto';
import { VigilError } from '../errors';
import { createCa, issueCertificate, PKI_ALGORITHMS, PKI_ROLES, type CaMaterial, type IssuedCertificate, type PkiAlgorithm, type PkiRole } from '../pki';
import { examples, forceOption, printJson } from './output';

function parseDays(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 36_500) throw new InvalidArgumentError('an integer number of days from 1 to 36500');
  return n;
}

const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];

async function writePair(dir: string, base: string, issued: IssuedCertificate, force: boolean | undefined): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const cert = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  // Key first: a certificate without its key is useless, a key without its certificate is re-issued.
  await writeFileAtomically(key, issued.keyPem, { mode: 0o600, ...forceOption(force) });
  await writeFileAtomically(cert, issued.certPem, { mode: 0o644, ...forceOption(force) });
  return { cert, key };
}

function summary(issued: IssuedCertificate, files: { cert: string; key: string }): Record<string, string> {
  return { subject: issued.subject, serialNumber: issued.serialNumber, notAfter: issued.notAfter.toISOString(), fingerprint256: issued.fingerprint256, certFile: files.cert, keyFile: files.key };
}

/**
 * The CA in `dir` (`ca.crt`, `ca.key`), as `vigil pki init` wrote it: refuses a CA key group
 * or others can read (`VIGIL_E_KEY_FILE_PERMISSIONS`) and a missing file (`VIGIL_E_PKI`,
 * saying to run `vigil pki init`).
 */
export async function readCaFiles(dir: string): Promise<CaMaterial> {
  const keyMode = (await stat(join(dir, 'ca.key')).catch(() => null))?.mode;
  if (keyMode !== undefined && (keyMode & 0o077) !== 0 && process.platform !== 'win32') {
    throw new VigilError('VIGIL_E_KEY_FILE_PERMISSIONS', `${join(dir, 'ca.key')} has mode ${(keyMode & 0o777).toString(8).padStart(4, '0')}; the CA key must not be accessible by group or others (chmod 600)`, { details: { path: join(dir, 'ca.key') } });
  }
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch (err) {
      throw new VigilError('VIGIL_E_PKI', `cannot read the CA's ${file} in ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (run vigil pki init --dir ${dir} first, or point at the CA's folder)`, { details: { path: join(dir, file) } });
    }
  };
  return { certPem: await read('ca.crt'), keyPem: await read('ca.key') };
}

/**
 * `vigil pki init|issue`: a small certificate authority for the TLS hops (MQTT, Kafka, the
 * console), so an operator need not learn openssl to secure a deployment.
 */
export function pkiCommand(): Command {
  const pki = new Command('pki').description('a small certificate authority for TLS on MQTT, Kafka and the console (ECDSA P-256 or Ed25519)').addHelpText('after', examples('vigil pki init --dir pki', 'vigil pki issue gateway gw-1 --dir pki'));
  const algorithm = (): Option => new Option('--algorithm <alg>', 'key algorithm').choices(PKI_ALGORITHMS).default('p256');
  pki
    .command('init')
    .description('create a CA: <dir>/ca.crt (give it to every client and broker) and <dir>/ca.key (mode 0600; keep it offline once the certificates are issued)')
    .addHelpText('after', examples('vigil pki init --dir pki', "vigil pki init --dir pki --algorithm ed25519 --name 'Vigil North CA'"))
    .option('-d, --dir <dir>', 'folder of the CA', 'pki')
    .option('--name <cn>', 'CN of the CA certificate', 'Vigil CA')
    .option('--days <n>', 'validity in days', parseDays, 3650)
    .addOption(algorithm())
    .option('--force', 'replace an existing CA (every certificate it issued stops being trusted)')
    .action(async (o: { dir: string; name: string; days: number; algorithm: PkiAlgorithm; force?: boolean }) => {
      const ca = await createCa({ name: o.name, days: o.days, algorithm: o.algorithm });
      const files = await writePair(o.dir, 'ca', ca, o.force);
      printJson({ type: 'ca', ...summary(ca, files) });
    });
  pki
    .command('issue <role> <name>')
    .description(`issue a certificate signed by the CA in <dir>: <dir>/<role>/<name>.crt and .key (mode 0600). Roles: ${PKI_ROLES.join(', ')}. The name is the CN, which Mosquitto takes as the MQTT user: a device's is its device id; a gateway's is gateway-<name> for gateway id <name> (deploy/mosquitto/acl); broker and console certificates are for servers and carry --dns/--ip names`)
    .addHelpText('after', examples('vigil pki issue gateway gw-1 --dir pki', 'vigil pki issue broker mosquitto --dir pki --dns mosquitto.local', 'vigil pki issue device uav-0042 --dir pki'))
    .option('-d, --dir <dir>', 'folder of the CA', 'pki')
    .option('--days <n>', 'validity in days (never past the CA\'s)', parseDays, 397)
    .addOption(algorithm())
    .option('--dns <names>', 'DNS names of a server certificate, comma-separated or repeated (default: localhost and the name)', list)
    .option('--ip <addresses>', 'IP addresses of a server certificate, comma-separated or repeated (default: 127.0.0.1)', list)
    .option('-o, --out <dir>', 'folder to write to (default: <dir>/<role>)')
    .option('--force', 'replace existing files of that name')
    .action(async (role: string, name: string, o: { dir: string; days: number; algorithm: PkiAlgorithm; dns?: string[]; ip?: string[]; out?: string; force?: boolean }) => {
      if (!(PKI_ROLES as readonly string[]).includes(role)) throw new VigilError('VIGIL_E_CLI_USAGE', `role "${role}" is not one of ${PKI_ROLES.join(', ')}`, { details: { argument: 'role' } });
      const ca = await readCaFiles(o.dir);
      const issued = await issueCertificate(ca, { role: role as PkiRole, name, days: o.days, algorithm: o.algorithm, ...(o.dns === undefined ? {} : { dns: o.dns }), ...(o.ip === undefined ? {} : { ips: o.ip }) });
      const files = await writePair(o.out ?? join(o.dir, role), name, issued, o.force);
      printJson({ type: role, ...summary(issued, files), caFile: join(o.dir, 'ca.crt') });
    });
  return pki;
}
