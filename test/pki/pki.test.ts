import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { isVigilError } from '../../src/errors';
import { createCa, issueCertificate, PKI_ROLES, type IssuedCertificate } from '../../src/pki';
import { installCliCapture } from '../cli/cli-harness';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isVigilError(e)) return e.code;
    throw e;
  }
  return 'accepted';
}

/** A real TLS 1.2/1.3 handshake between a server and a client holding these certificates: what the client and server each conclude. */
async function handshake(ca: IssuedCertificate, server: IssuedCertificate, client: IssuedCertificate | null, trust = ca): Promise<{ clientError: string | null; serverSawCn: string | null }> {
  const srv = createServer({ key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });
  let serverSawCn: string | null = null;
  srv.on('secureConnection', (s: TLSSocket) => {
    serverSawCn = String(s.getPeerCertificate().subject?.CN ?? '') || null;
    s.end('hello');
  });
  srv.on('tlsClientError', () => undefined);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  try {
    const clientError = await new Promise<string | null>((resolve) => {
      const c = connect({ host: '127.0.0.1', port, ca: trust.certPem, ...(client === null ? {} : { key: client.keyPem, cert: client.certPem }) });
      c.on('data', () => {
        c.end();
        resolve(null);
      });
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      c.on('close', () => resolve('closed before data'));
    });
    return { clientError, serverSawCn };
  } finally {
    srv.close();
  }
}

describe('the PKI (vigil pki): certificates that real TLS stacks accept', () => {
  it.each(['p256', 'ed25519'] as const)('issues certificates for every role under a CA, with the names and usages of the role (%s)', async (algorithm) => {
    const ca = await createCa({ name: 'Test CA', algorithm, days: 30 });
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('CN=Test CA');
    for (const role of PKI_ROLES) {
      const leaf = await issueCertificate(ca, { role, name: role === 'device' ? 'uav-17' : `${role}-1`, algorithm, days: 10 });
      const c = new X509Certificate(leaf.certPem);
      expect(c.ca).toBe(false);
      expect(c.checkIssued(caCert)).toBe(true);
      expect(c.verify(caCert.publicKey)).toBe(true);
      expect(c.subject).toContain(`OU=${role}`);
      // The CN is the MQTT user deploy/mosquitto/acl knows: the device id, gateway-<id> for a gateway.
      expect(c.subject).toContain(`CN=${role === 'device' ? 'uav-17' : `${role}-1`}`);
      const server = role === 'broker' || role === 'console';
      expect(c.subjectAltName ?? '').toBe(server ? `DNS:localhost, DNS:${role}-1, IP Address:127.0.0.1` : '');
      expect(c.keyUsage).toEqual(server ? ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] : ['1.3.6.1.5.5.7.3.2']);
      expect(new Date(c.validTo).getTime() - Date.now()).toBeLessThan(11 * 86_400_000);
      expect(leaf.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    }
    // A gateway id gets the gateway- prefix the ACL's user sections use.
    expect(new X509Certificate((await issueCertificate(ca, { role: 'gateway', name: 'gw-1', algorithm })).certPem).subject).toContain('CN=gateway-gw-1');
  });

  it('a client certificate it issued passes mutual TLS with a broker certificate it issued; another CA\'s does not, nor no certificate', async () => {
    const ca = await createCa({ days: 1 });
    const broker = await issueCertificate(ca, { role: 'broker', name: 'localhost', days: 1 });
    const device = await issueCertificate(ca, { role: 'device', name: 'uav-1', days: 1 });
    expect(await handshake(ca, broker, device)).toEqual({ clientError: null, serverSawCn: 'uav-1' });
    const other = await createCa({ name: 'Other', days: 1 });
    const stranger = await issueCertificate(other, { role: 'device', name: 'uav-1', days: 1 });
    expect((await handshake(ca, broker, stranger)).serverSawCn).toBeNull();
    expect((await handshake(ca, broker, null)).serverSawCn).toBeNull();
    // And a client that trusts another CA refuses the broker.
    expect((await handshake(ca, broker, device, other)).clientError).toMatch(/SELF_SIGNED|UNABLE_TO|CERT/);
  }, 30_000);

  it('refuses a bad role, name, SAN or validity, and a CA key that is not the CA certificate\'s', async () => {
    const ca = await createCa({ days: 1 });
    const other = await createCa({ days: 1 });
    expect(await codeOf(issueCertificate(ca, { role: 'admin' as 'device', name: 'x' }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(issueCertificate(ca, { role: 'device', name: 'uav 1' }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(issueCertificate(ca, { role: 'broker', name: 'k', dns: ['bad_name!'] }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(issueCertificate(ca, { role: 'broker', name: 'k', ips: ['300.1.1.1'] }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(issueCertificate(ca, { role: 'device', name: 'd', days: 0 }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(issueCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { role: 'device', name: 'd' }))).toBe('VIGIL_E_PKI');
    const leaf = await issueCertificate(ca, { role: 'device', name: 'd' });
    expect(await codeOf(issueCertificate(leaf, { role: 'device', name: 'e' }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(issueCertificate({ certPem: 'not a certificate', keyPem: ca.keyPem }, { role: 'device', name: 'e' }))).toBe('VIGIL_E_PKI');
    expect(await codeOf(createCa({ algorithm: 'rsa' as 'p256' }))).toBe('VIGIL_E_PKI');
  });
});

describe('vigil pki init / issue', () => {
  const vigil = installCliCapture();
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-pki-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the CA and certificates with their keys 0600, and never overwrites without --force', async () => {
    const pki = join(dir, 'pki');
    const init = await vigil('pki', 'init', '--dir', pki, '--name', 'Exercise CA');
    expect(init.code).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ type: 'ca', subject: 'CN=Exercise CA, O=Vigil', certFile: join(pki, 'ca.crt'), keyFile: join(pki, 'ca.key') });
    expect(statSync(join(pki, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(pki, 'ca.crt')).mode & 0o777).toBe(0o644);
    const issued = await vigil('pki', 'issue', 'broker', 'mosquitto', '--dir', pki, '--dns', 'mosquitto,localhost', '--ip', '127.0.0.1');
    expect(issued.code).toBe(0);
    const out = JSON.parse(issued.stdout) as { certFile: string; keyFile: string; caFile: string };
    expect(out).toMatchObject({ type: 'broker', certFile: join(pki, 'broker', 'mosquitto.crt'), keyFile: join(pki, 'broker', 'mosquitto.key'), caFile: join(pki, 'ca.crt') });
    expect(new X509Certificate(readFileSync(out.certFile)).subjectAltName).toBe('DNS:mosquitto, DNS:localhost, IP Address:127.0.0.1');
    expect(statSync(out.keyFile).mode & 0o777).toBe(0o600);
    const again = await vigil('pki', 'issue', 'broker', 'mosquitto', '--dir', pki);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('VIGIL_E_KEY_FILE_WRITE');
    expect((await vigil('pki', 'issue', 'broker', 'mosquitto', '--dir', pki, '--force')).code).toBe(0);
    expect((await vigil('pki', 'init', '--dir', pki)).stderr).toContain('already exists');
  });

  it('says what is wrong: an unknown role, no CA, a CA key others can read', async () => {
    const pki = join(dir, 'pki');
    const role = await vigil('pki', 'issue', 'admin', 'x', '--dir', pki);
    expect(role.code).toBe(2);
    expect(role.stderr).toContain('device, gateway, worker, analyst, console, broker');
    const none = await vigil('pki', 'issue', 'device', 'uav-1', '--dir', pki);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('vigil pki init');
    await vigil('pki', 'init', '--dir', pki);
    chmodSync(join(pki, 'ca.key'), 0o644);
    const open = await vigil('pki', 'issue', 'device', 'uav-1', '--dir', pki);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('VIGIL_E_KEY_FILE_PERMISSIONS');
  });
});
