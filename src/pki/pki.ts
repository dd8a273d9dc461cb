import 'reflect-metadata';
import { X509Certificate as NodeX509, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { VigilError } from '../errors';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/**
 * Who a certificate is for. Clients (`device`, `gateway`, `worker`, `analyst`) get client
 * authentication only; `broker` (Mosquitto, Kafka) and `console` (the analysts' HTTPS) are
 * servers and get both. The name is the certificate's CN, which Mosquitto takes as the MQTT
 * user (`use_identity_as_username`): a device's is its device id, so the ACL's `%u` is it;
 * a gateway's is `gateway-<gateway id>`, as deploy/mosquitto/acl names gateways.
 */
export const PKI_ROLES = ['device', 'gateway', 'worker', 'analyst', 'console', 'broker'] as const;
export type PkiRole = (typeof PKI_ROLES)[number];

/** ECDSA P-256 (every TLS stack: OpenSSL, Java, Node, embedded) or Ed25519 (TLS 1.3 stacks). */
export const PKI_ALGORITHMS = ['p256', 'ed25519'] as const;
export type PkiAlgorithm = (typeof PKI_ALGORITHMS)[number];

/** A certificate and its private key, PEM (the key PKCS#8, unencrypted: keep it 0600). */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly subject: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprint, colon-separated hex (as openssl prints it). */
  readonly fingerprint256: string;
}

export interface CaOptions {
  /** CN of the CA. Default `Vigil CA`. */
  readonly name?: string;
  /** Validity in days. Default 3,650. */
  readonly days?: number;
  readonly algorithm?: PkiAlgorithm;
}

export interface IssueOptions {
  readonly role: PkiRole;
  /** CN: a device id, a gateway id, a host name… */
  readonly name: string;
  /** Validity in days. Default 397 (what browsers accept for a server certificate). */
  readonly days?: number;
  readonly algorithm?: PkiAlgorithm;
  /** Subject alternative names of a server (`broker`, `console`); default `localhost` and 127.0.0.1, plus the name when it is a host name. */
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
}

const NAME = /^[A-Za-z0-9._:-]{1,64}$/;
const HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 86_400_000;

function pkiError(message: string, details: Record<string, unknown>): VigilError {
  return new VigilError('VIGIL_E_PKI', message, { details });
}

function algorithmOf(a: PkiAlgorithm | undefined): webcrypto.EcKeyGenParams & { hash: string } | { name: 'Ed25519' } {
  const alg = a ?? 'p256';
  if (alg === 'p256') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  if (alg === 'ed25519') return { name: 'Ed25519' };
  throw pkiError(`unknown key algorithm ${JSON.stringify(alg)}; expected one of ${PKI_ALGORITHMS.join(', ')}`, { algorithm: alg });
}

function days(value: number | undefined, dflt: number): number {
  const d = value ?? dflt;
  if (!Number.isInteger(d) || d < 1 || d > 36_500) throw pkiError(`validity ${String(d)} days is out of range; expected an integer from 1 to 36500`, { days: d });
  return d;
}

/** A positive 128-bit serial number, hex (RFC 5280: unique per CA, at most 20 bytes). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x01;
  return b.toString('hex');
}

/** RDN values are quoted when they hold characters the DN syntax gives a meaning. */
function rdn(value: string): string {
  return /[,+"\\<>;=#]/.test(value) ? `"${value.replace(/(["\\])/g, '\\$1')}"` : value;
}

async function keyPair(alg: ReturnType<typeof algorithmOf>): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(alg as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

function describe(cert: x509.X509Certificate, keyPem: string): IssuedCertificate {
  const certPem = cert.toString('pem') + '\n';
  return {
    certPem,
    keyPem,
    subject: cert.subject,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprint256: new NodeX509(certPem).fingerprint256,
  };
}

/**
 * A new certificate authority: a self-signed CA certificate (path length 0: it signs end
 * entities only) and its key.
 *
 * @example
 * const ca = await createCa({ name: 'Vigil CA (exercise)' });
 * await writeFileAtomically('pki/ca.key', ca.keyPem, { mode: 0o600 });
 */
export async function createCa(options: CaOptions = {}): Promise<IssuedCertificate> {
  const alg = algorithmOf(options.algorithm);
  const name = options.name ?? 'Vigil CA';
  if (typeof name !== 'string' || name.length === 0 || name.length > 64) throw pkiError('the CA name must be 1 to 64 characters', { name });
  const keys = await keyPair(alg);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${rdn(name)}, O=Vigil`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days(options.days, 3650) * DAY_MS),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return describe(cert, await pkcs8Pem(keys.privateKey));
}

/** The CA to issue under: its certificate and key (PEM), checked to belong together. */
export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

async function importCa(ca: CaMaterial): Promise<{ cert: x509.X509Certificate; key: webcrypto.CryptoKey; alg: ReturnType<typeof algorithmOf> }> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(ca.certPem);
  } catch (err) {
    throw pkiError(`the CA certificate is not a PEM certificate: ${(err as Error).message}`, { file: 'ca.crt' });
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc === null || !bc.ca) throw pkiError('the CA certificate is not a CA (no basicConstraints CA:TRUE)', { subject: cert.subject });
  if (cert.notAfter.getTime() < Date.now()) throw pkiError(`the CA certificate expired on ${cert.notAfter.toISOString()}`, { subject: cert.subject });
  let keyType: string | undefined;
  try {
    keyType = createPrivateKey(ca.keyPem).asymmetricKeyType;
  } catch (err) {
    throw pkiError(`the CA key is not a PEM private key: ${(err as Error).message}`, { file: 'ca.key' });
  }
  const alg = keyType === 'ed25519' ? algorithmOf('ed25519') : keyType === 'ec' ? algorithmOf('p256') : null;
  if (alg === null) throw pkiError(`the CA key is a ${String(keyType)} key; this PKI issues under ECDSA P-256 or Ed25519 CAs`, { keyType });
  const der = Buffer.from(ca.keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  let key: webcrypto.CryptoKey;
  try {
    key = await webcrypto.subtle.importKey('pkcs8', der, alg as webcrypto.EcKeyImportParams, false, ['sign']);
  } catch (err) {
    throw pkiError(`the CA key cannot be used (a PKCS#8 "PRIVATE KEY" PEM is expected): ${(err as Error).message}`, { file: 'ca.key' });
  }
  // The key must be the certificate's: sign and verify a probe.
  const probe = randomBytes(32);
  const signAlg = alg.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : alg;
  const signature = await webcrypto.subtle.sign(signAlg as webcrypto.EcdsaParams, key, probe);
  const publicKey = await cert.publicKey.export(alg as webcrypto.EcKeyImportParams, ['verify'], webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  if (!(await webcrypto.subtle.verify(signAlg as webcrypto.EcdsaParams, publicKey, signature, probe))) {
    throw pkiError('the CA key does not belong to the CA certificate', { subject: cert.subject });
  }
  return { cert, key, alg };
}

/** The CN a role's certificate carries for `name`: the MQTT user Mosquitto's ACL knows (gateways: `gateway-<id>`). */
export function commonName(role: PkiRole, name: string): string {
  return role === 'gateway' && !name.startsWith('gateway-') ? `gateway-${name}` : name;
}

/**
 * A certificate for one role and name, signed by the CA.
 *
 * @example
 * const gw = await issueCertificate(ca, { role: 'gateway', name: 'gw-1' });
 * const broker = await issueCertificate(ca, { role: 'broker', name: 'kafka-1', dns: ['kafka-1', 'localhost'] });
 * @throws VigilError `VIGIL_E_PKI` for a bad role, name, validity or SAN, or a CA that cannot sign
 */
export async function issueCertificate(ca: CaMaterial, options: IssueOptions): Promise<IssuedCertificate> {
  const { role, name } = options;
  if (!(PKI_ROLES as readonly string[]).includes(role)) throw pkiError(`unknown role ${JSON.stringify(role)}; expected one of ${PKI_ROLES.join(', ')}`, { role });
  if (typeof name !== 'string' || !NAME.test(name)) throw pkiError(`name ${JSON.stringify(name)} is not allowed; expected 1 to 64 characters of [A-Za-z0-9._:-]`, { name });
  const server = role === 'broker' || role === 'console';
  const dns = [...(options.dns ?? (server ? ['localhost', ...(HOST.test(name) && name !== 'localhost' ? [name] : [])] : []))];
  const ips = [...(options.ips ?? (server ? ['127.0.0.1'] : []))];
  for (const d of dns) if (!HOST.test(d)) throw pkiError(`DNS name ${JSON.stringify(d)} is not a host name`, { dns: d });
  for (const ip of ips) if (isIP(ip) === 0) throw pkiError(`IP address ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`, { ip });
  const issuer = await importCa(ca);
  const alg = algorithmOf(options.algorithm);
  const keys = await keyPair(alg);
  const now = Date.now();
  const validDays = days(options.days, 397);
  const notAfter = new Date(Math.min(now + validDays * DAY_MS, issuer.cert.notAfter.getTime()));
  // TLS signs its (ephemeral) key exchange with this key: digitalSignature is the one usage it needs.
  const usages = x509.KeyUsageFlags.digitalSignature;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${rdn(commonName(role, name))}, OU=${role}, O=Vigil`,
    issuer: issuer.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter,
    signingAlgorithm: issuer.alg,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(usages, true),
      new x509.ExtendedKeyUsageExtension(server ? [EKU_SERVER, EKU_CLIENT] : [EKU_CLIENT], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
      ...(dns.length + ips.length > 0 ? [new x509.SubjectAlternativeNameExtension([...dns.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))], false)] : []),
    ],
  });
  return describe(cert, await pkcs8Pem(keys.privateKey));
}
