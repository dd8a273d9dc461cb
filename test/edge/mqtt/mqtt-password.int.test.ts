import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startMosquitto, type MosquittoService } from '../../../scripts/services';
import { mqttCredentials } from '../../../src/cli/tls-files';
import { MqttIngestClient, type IngestMessage } from '../../../src/edge/mqtt';
import { isVigilError } from '../../../src/errors';
import { exited, spawnVigil } from '../../e2e/e2e-helpers';
import { waitFor } from './fake-broker';

/**
 * MQTT user and password (issue 12, item 1) against real Mosquitto with a password file: the
 * gateway's `mqtt.username` + `mqtt.passwordFile` (or `passwordEnv`) in its CONNECT, devices
 * through the SDK's mqtt options; no anonymous client, a wrong password refused by name
 * without the password in any message.
 */
let broker: MosquittoService;
const dir = mkdtempSync(join(tmpdir(), 'vigil-mqtt-pw-'));
const clients: Array<{ close(): Promise<unknown> }> = [];

beforeAll(async () => {
  broker = await startMosquitto({ passwords: { 'gateway-gw-1': 'gw-secret-1', 'uav-1': 'uav-secret-1' } });
  writeFileSync(join(dir, 'gw.pass'), 'gw-secret-1\n', { mode: 0o600 });
  writeFileSync(join(dir, 'wrong.pass'), 'not-it-at-all\n', { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function gateway(credentials: { username?: string; password?: string }, received: IngestMessage[] = []): MqttIngestClient {
  const client = new MqttIngestClient({
    url: broker.url,
    clientId: `gw-pw-${Math.random().toString(16).slice(2, 8)}`,
    subscriptions: ['$share/vigil-gateways/vigil/v1/+/+/+/telemetry'],
    onMessage: (m) => {
      received.push(m);
      client.ack(m);
    },
    reconnect: false,
    ...credentials,
  });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

describe('MQTT with a user and password (real Mosquitto, password file)', () => {
  it('a gateway with mqtt.username and mqtt.passwordFile takes what a device with its own password publishes', async () => {
    const received: IngestMessage[] = [];
    await gateway(mqttCredentials({ username: 'gateway-gw-1', passwordFile: 'gw.pass' }, (p) => join(dir, p)), received).start();
    const dev = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'uav-1-pw', username: 'uav-1', password: 'uav-secret-1', reconnectPeriod: 0 });
    clients.push({ close: () => dev.endAsync(true) });
    await dev.publishAsync('vigil/v1/north/recon-3/uav-1/telemetry', Buffer.from('frame'), { qos: 1 });
    await waitFor(() => received.length >= 1, 10_000, 'the frame at the gateway');
    expect(Buffer.from(received[0]?.payload ?? []).toString()).toBe('frame');
  });

  it('refuses a wrong password and no credentials, naming the cause and never the password', async () => {
    const wrong = await gateway(mqttCredentials({ username: 'gateway-gw-1', passwordFile: 'wrong.pass' }, (p) => join(dir, p))).start().catch((e: unknown) => e);
    expect(isVigilError(wrong, 'VIGIL_E_MQTT_CONNECT_REFUSED')).toBe(true);
    expect((wrong as Error).message).toMatch(/user name or password|not authori[sz]ed/i);
    expect((wrong as Error).message).not.toContain('not-it-at-all');
    const none = await gateway({}).start().catch((e: unknown) => e);
    expect(isVigilError(none, 'VIGIL_E_MQTT_CONNECT_REFUSED')).toBe(true);
  });

  it('reads the password from a variable too, and says which variable is missing', () => {
    expect(mqttCredentials({ username: 'gateway-gw-1', passwordEnv: 'GW_MQTT_PW' }, (p) => p, { GW_MQTT_PW: 'from-env' })).toEqual({ username: 'gateway-gw-1', password: 'from-env' });
    let err: unknown;
    try {
      mqttCredentials({ username: 'gateway-gw-1', passwordEnv: 'GW_MQTT_PW' }, (p) => p, {});
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_CONFIG_INVALID') && err.message).toContain('mqtt.passwordEnv');
    expect(mqttCredentials({}, (p) => p)).toEqual({});
  });

  it('vigil simulate connects its devices with --mqtt-username and --mqtt-password-file', async () => {
    writeFileSync(join(dir, 'uav.pass'), 'uav-secret-1\n', { mode: 0o600 });
    const provision = spawnVigil(['sim', 'provision', '--dir', join(dir, 'fleet'), '--vehicles', '0', '--soldiers', '2', '--ugs', '0', '--uavs', '0', '--no-scenarios']);
    expect(await exited(provision.child)).toBe(0);
    const run = (extra: string[]): ReturnType<typeof spawnVigil> =>
      spawnVigil(['simulate', '--dir', join(dir, 'fleet'), '--mqtt-url', broker.url, '--duration', '2', '--no-receipts', '--bad-clocks', '0', '--replays-per-min', '0', '--tampered-per-min', '0', ...extra]);
    const ok = run(['--mqtt-username', 'uav-1', '--mqtt-password-file', join(dir, 'uav.pass')]);
    expect(await exited(ok.child)).toBe(0);
    expect((JSON.parse(ok.output().slice(ok.output().indexOf('{'))) as { framesAcked: number }).framesAcked).toBeGreaterThan(0);
    const anonymous = run([]);
    expect(await exited(anonymous.child)).not.toBe(0);
  }, 60_000);
});
