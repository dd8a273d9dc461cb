import { MqttIngestClient, MQTT_INGEST_DEFAULTS, type MqttIngestOptions } from '../../../src/edge/mqtt';
import { isVigilError } from '../../../src/errors';

const base: MqttIngestOptions = { url: 'mqtt://127.0.0.1:1883', clientId: 'gw', subscriptions: ['a/b'], onMessage: () => undefined };

function optionError(patch: Record<string, unknown>): { code: string; option: unknown; message: string } {
  try {
    new MqttIngestClient({ ...base, ...patch } as MqttIngestOptions);
  } catch (err) {
    if (isVigilError(err)) return { code: err.code, option: err.details.option, message: err.message };
    throw err;
  }
  throw new Error('expected the options to be refused');
}

describe('MqttIngestClient options', () => {
  it('accepts minimal options and does not connect before start()', () => {
    const c = new MqttIngestClient(base);
    expect(c.state).toBe('idle');
    expect(c.connected).toBe(false);
    expect(c.inflight).toBe(0);
    expect(MQTT_INGEST_DEFAULTS.receiveMaximum).toBe(1000);
  });

  it.each([
    [{ url: 'http://x:1' }, 'url'],
    [{ url: 'not a url' }, 'url'],
    [{ subscriptions: [] }, 'subscriptions'],
    [{ subscriptions: [''] }, 'subscriptions'],
    [{ onMessage: undefined }, 'onMessage'],
    [{ receiveMaximum: 0 }, 'receiveMaximum'],
    [{ receiveMaximum: 65536 }, 'receiveMaximum'],
    [{ keepaliveSeconds: -1 }, 'keepaliveSeconds'],
    [{ cleanStart: 'no' }, 'cleanStart'],
    [{ reconnectJitter: 2 }, 'reconnectJitter'],
    [{ reconnectInitialDelayMs: 500, reconnectMaxDelayMs: 100 }, 'reconnectMaxDelayMs'],
    [{ password: 42 }, 'password'],
  ])('refuses %j naming the option', (patch, option) => {
    const e = optionError(patch);
    expect(e.code).toBe('VIGIL_E_MQTT_OPTIONS');
    expect(e.option).toBe(option);
  });

  it('never shows a password in the message', () => {
    expect(optionError({ password: 12345678 }).message).not.toContain('12345678');
  });

  it('refuses to ack an object it did not deliver', () => {
    const c = new MqttIngestClient(base);
    const fake = { topic: 't', payload: Buffer.alloc(0), qos: 1 as const, packetId: 1, dup: false, retain: false, receivedAt: 0 };
    expect(() => c.ack(fake)).toThrow(expect.objectContaining({ code: 'VIGIL_E_MQTT_OPTIONS' }));
  });

  it('start() after close() rejects with VIGIL_E_MQTT_CLOSED', async () => {
    const c = new MqttIngestClient(base);
    await c.close();
    await expect(c.start()).rejects.toMatchObject({ code: 'VIGIL_E_MQTT_CLOSED' });
  });
});
