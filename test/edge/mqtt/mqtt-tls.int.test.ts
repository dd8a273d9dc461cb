import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquitto, type MosquittoService } from '../../../scripts/services';
import { loadMqttTls } from '../../../src/cli/tls-files';
import { MqttIngestClient, type IngestMessage } from '../../../src/edge/mqtt';
import { isVigilError, mqttTlsError, type VigilError } from '../../../src/errors';
import { waitFor } from './fake-broker';

/**
 * The secure broker variant against real Mosquitto: TLS only, a client certificate required
 * (its CN is the MQTT user), and deploy/mosquitto/acl: a device publishes only its own
 * telemetry, a gateway only takes telemetry. Certificates come from openssl (EC P-256).
 */
let dir = '';
let broker: MosquittoService;
const cleanups: Array<() => Promise<unknown>> = [];

const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
function issue(name: string, cn: string, ca = 'ca', days = 2, extra: string[] = []): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', String(days), ...extra);
  chmodSync(join(dir, `${name}.key`), 0o600);
}
const f = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-mqtt-tls-'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=vigil-test-ca', '-days', '2');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-subj', '/CN=other-ca', '-days', '2');
  writeFileSync(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  issue('server', 'localhost', 'ca', 2, ['-extfile', 'san.ext']);
  issue('gateway', 'gateway-gw-1');
  issue('uav-1', 'uav-1');
  issue('stranger', 'uav-1', 'other-ca');
  issue('expired', 'uav-1', 'ca', -1);
  broker = await startMosquitto({ tls: { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') } });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const url = (): string => `mqtts://127.0.0.1:${broker.port}`;

function gateway(tls: Parameters<typeof loadMqttTls>[0], received: IngestMessage[] = []): { client: MqttIngestClient; errors: VigilError[] } {
  const errors: VigilError[] = [];
  const client = new MqttIngestClient({
    url: url(),
    clientId: 'gw-tls-test',
    subscriptions: ['$share/vigil-gateways/vigil/v1/+/+/+/telemetry'],
    onMessage: (m) => {
      received.push(m);
      client.ack(m);
    },
    tls: loadMqttTls(tls, (p) => p),
    reconnect: false,
  });
  client.on('error', (e) => errors.push(e));
  cleanups.push(() => client.close());
  return { client, errors };
}

/** A device connection with mqtt.js; resolves connected, or rejects with the error as the SDK maps it. */
function device(cert: string, key: string, ca = 'ca.crt'): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url(), { protocolVersion: 5, clientId: `dev-${cert}`, ca: [readFileSync(f(ca))], cert: readFileSync(f(cert)), key: readFileSync(f(key)), reconnectPeriod: 0, connectTimeout: 5000 });
    cleanups.push(() => c.endAsync(true));
    c.once('connect', () => resolve(c));
    c.once('error', (err) => reject(mqttTlsError(err as NodeJS.ErrnoException, '127.0.0.1', broker.port) ?? err));
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

describe('MQTT over TLS with client certificates and the deployment ACL (real Mosquitto)', () => {
  it('admits a device publishing its own telemetry to a gateway, and the broker drops what it publishes as another device', async () => {
    const received: IngestMessage[] = [];
    const { client } = gateway({ caFile: f('ca.crt'), certFile: f('gateway.crt'), keyFile: f('gateway.key') }, received);
    await client.start();
    const dev = await device('uav-1.crt', 'uav-1.key');
    await dev.publishAsync('vigil/v1/north/recon-3/uav-1/telemetry', Buffer.from('own'), { qos: 1 });
    // Another device's topic: the ACL refuses it (MQTT 5 PUBACK "not authorized", or dropped).
    const other = await dev.publishAsync('vigil/v1/north/recon-3/uav-2/telemetry', Buffer.from('forged'), { qos: 1 }).then(
      (p) => (p as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
      () => 0x87,
    );
    await dev.publishAsync('vigil/v1/north/recon-3/uav-1/telemetry', Buffer.from('own-2'), { qos: 1 });
    await waitFor(() => received.length >= 2, 10_000, 'the device\'s own frames');
    await new Promise((r) => setTimeout(r, 300));
    expect(received.map((m) => Buffer.from(m.payload).toString())).toEqual(['own', 'own-2']);
    expect(received.map((m) => m.topic)).toEqual(['vigil/v1/north/recon-3/uav-1/telemetry', 'vigil/v1/north/recon-3/uav-1/telemetry']);
    expect([0, 0x87]).toContain(other);
    // A device may not read telemetry (its own included): Mosquitto 2.0 grants the
    // subscription (or refuses it, 0x87) but delivers nothing the ACL does not let it read.
    const seen: string[] = [];
    dev.on('message', (topic) => void seen.push(topic));
    const granted = await dev.subscribeAsync('vigil/v1/+/+/+/telemetry', { qos: 1 });
    expect([1, 0x87]).toContain(granted[0]?.qos);
    await dev.publishAsync('vigil/v1/north/recon-3/uav-1/telemetry', Buffer.from('own-3'), { qos: 1 });
    await waitFor(() => received.length >= 3, 10_000, 'the third frame at the gateway');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it('refuses a client without a certificate, with one from another CA, and with an expired one', async () => {
    const refusal = async (p: Promise<unknown>): Promise<VigilError> => {
      const err = await p.then(() => new Error('connected'), (e: unknown) => e);
      if (!isVigilError(err)) throw new Error(`expected VIGIL_E_MQTT_TLS, got ${String(err)}`);
      return err;
    };
    const noCert = gateway({ caFile: f('ca.crt') });
    const e1 = await refusal(noCert.client.start());
    expect(e1.code).toBe('VIGIL_E_MQTT_TLS');
    expect(e1.message).toMatch(/requires a client certificate|refused our client certificate/);
    const stranger = await refusal(device('stranger.crt', 'stranger.key'));
    expect(stranger.code).toBe('VIGIL_E_MQTT_TLS');
    expect(stranger.message).toMatch(/refused our client certificate/);
    const expired = await refusal(device('expired.crt', 'expired.key'));
    expect(expired.code).toBe('VIGIL_E_MQTT_TLS');
    expect(expired.message).toMatch(/expired|refused our client certificate/);
  });

  it('refuses a broker whose certificate is not signed by mqtt.tls.caFile, naming the cause', async () => {
    const { client } = gateway({ caFile: f('other-ca.crt'), certFile: f('gateway.crt'), keyFile: f('gateway.key') });
    const err = await client.start().then(() => null, (e: unknown) => e as VigilError);
    expect(err?.code).toBe('VIGIL_E_MQTT_TLS');
    expect(err?.message).toMatch(/not signed by the CA in mqtt\.tls\.caFile/);
  });

  it('refuses a private key file others can read, naming the config key', () => {
    chmodSync(f('gateway.key'), 0o644);
    try {
      expect(() => loadMqttTls({ caFile: f('ca.crt'), certFile: f('gateway.crt'), keyFile: f('gateway.key') }, (p) => p)).toThrow(/mqtt\.tls\.keyFile.*chmod 600/);
      expect(() => loadMqttTls({ caFile: f('absent.crt') }, (p) => p)).toThrow(/mqtt\.tls\.caFile.*ENOENT/);
    } finally {
      chmodSync(f('gateway.key'), 0o600);
    }
  });
});
