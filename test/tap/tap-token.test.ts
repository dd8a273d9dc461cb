import { createHmac } from 'node:crypto';
import { MemoryBus } from '../../src/bus';
import { generateStreamKey, type StreamDataKey } from '../../src/crypto';
import { TapCatalog, tapToken, verifyTapToken } from '../../src/tap';

const key: StreamDataKey = { keyId: 'derived.vitals-1', key: new Uint8Array(32).fill(7) };

describe('tap tokens', () => {
  it('are HMAC-SHA256(stream key, "vigil-tap:" + stream) in lowercase hex, as documented', () => {
    const expected = createHmac('sha256', Buffer.alloc(32, 7)).update('vigil-tap:derived.vitals').digest('hex');
    expect(tapToken(key, 'derived.vitals')).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('open only the stream and the key they were made for; any key of a rotation works', () => {
    const next = generateStreamKey('derived.vitals-2');
    const token = tapToken(key, 'derived.vitals');
    expect(verifyTapToken(token, 'derived.vitals', [key])).toBe(true);
    expect(verifyTapToken(token, 'derived.vitals', [next, key])).toBe(true);
    expect(verifyTapToken(token, 'derived.unit-picture', [key])).toBe(false);
    expect(verifyTapToken(token, 'derived.vitals', [next])).toBe(false);
    for (const bad of [undefined, null, '', token.toUpperCase(), token.slice(1), token + '0']) {
      expect(verifyTapToken(bad, 'derived.vitals', [key])).toBe(false);
    }
  });
});

describe('TapCatalog', () => {
  it('offers listed streams only, checks tokens per stream and knows which topics exist', async () => {
    const bus = new MemoryBus();
    await bus.admin().ensureTopics([{ topic: 'derived.vitals', partitions: 1 }]);
    const pos = generateStreamKey('telemetry.position-1');
    const catalog = new TapCatalog({ bus, streams: { 'derived.vitals': [key], 'telemetry.position': [pos] } });
    try {
      expect(catalog.streams()).toEqual(['derived.vitals', 'telemetry.position']);
      expect(catalog.authorize('derived.vitals', tapToken(key, 'derived.vitals'))).toBe(true);
      expect(catalog.authorize('telemetry.position', tapToken(key, 'telemetry.position'))).toBe(false);
      expect(catalog.authorize('derived.other', tapToken(key, 'derived.other'))).toBe(false);
      expect(await catalog.exists('derived.vitals')).toBe(true);
      expect(await catalog.exists('telemetry.position')).toBe(false);
      expect(await catalog.exists('derived.other')).toBe(false);
      await expect(catalog.open('derived.other', { onRecord: () => undefined })).rejects.toMatchObject({ code: 'VIGIL_E_TAP_OPTIONS' });
      expect(() => new TapCatalog({ bus, streams: { 'derived.vitals': [] } })).toThrow(/give at least one stream key/);
    } finally {
      await catalog.close();
      await bus.close();
    }
  });
});
