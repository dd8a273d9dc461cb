import nacl from 'tweetnacl';
import { generateBoxKeyPair, generateStreamKey, SharedKeyCache, StreamKeyring } from '../../src/crypto';
import { isVigilError } from '../../src/errors';

describe('SharedKeyCache', () => {
  const ingest = generateBoxKeyPair();
  const devices = new Map(Array.from({ length: 5 }, (_, i) => [`d${i}`, generateBoxKeyPair()]));

  function cache(maxEntries = 100): { cache: SharedKeyCache; lookups: string[] } {
    const lookups: string[] = [];
    const c = new SharedKeyCache({
      secretKey: ingest.secretKey,
      maxEntries,
      lookup: (deviceId, epoch) => {
        lookups.push(`${deviceId}@${epoch}`);
        return epoch === 9 ? undefined : devices.get(deviceId)?.publicKey;
      },
    });
    return { cache: c, lookups };
  }

  it('computes box.before once per (device, epoch), matching the device side', () => {
    const { cache: c, lookups } = cache();
    const k = c.get('d1', 1);
    expect(k).toEqual(nacl.box.before(ingest.publicKey, (devices.get('d1') as { secretKey: Uint8Array }).secretKey));
    expect(c.get('d1', 1)).toBe(k);
    c.get('d1', 2);
    expect(lookups).toEqual(['d1@1', 'd1@2']);
    expect(c.size).toBe(2);
  });

  it('returns undefined for unknown devices and epochs', () => {
    const { cache: c } = cache();
    expect(c.get('nobody', 1)).toBeUndefined();
    expect(c.get('d1', 9)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('is bounded and evicts the least recently used device, zeroing its key', () => {
    const { cache: c, lookups } = cache(3);
    const k0 = c.get('d0', 1) as Uint8Array;
    c.get('d1', 1);
    c.get('d2', 1);
    c.get('d0', 1); // d0 is now the most recent
    c.get('d3', 1); // evicts d1
    expect(c.size).toBe(3);
    lookups.length = 0;
    c.get('d0', 1);
    c.get('d1', 1);
    expect(lookups).toEqual(['d1@1']);
    expect(k0.some((b) => b !== 0)).toBe(true);
  });

  it('invalidates one epoch or a whole device, zeroing the keys', () => {
    const { cache: c } = cache();
    const a = c.get('d0', 1) as Uint8Array;
    const b = c.get('d0', 2) as Uint8Array;
    c.invalidate('d0', 1);
    expect(a.every((x) => x === 0)).toBe(true);
    expect(b.some((x) => x !== 0)).toBe(true);
    expect(c.size).toBe(1);
    c.invalidate('d0');
    expect(b.every((x) => x === 0)).toBe(true);
    expect(c.size).toBe(0);
    c.get('d1', 1);
    c.clear();
    expect(c.size).toBe(0);
  });

  it('refuses malformed public keys and options', () => {
    const c = new SharedKeyCache({ secretKey: ingest.secretKey, lookup: () => new Uint8Array(31) });
    expect(() => c.get('x', 1)).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID' }));
    // A low-order key that reached a registry some other way is refused naming the device.
    const zero = new SharedKeyCache({ secretKey: ingest.secretKey, lookup: () => new Uint8Array(32) });
    expect(() => zero.get('uav-3', 4)).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID', message: expect.stringMatching(/^device uav-3 epoch 4: X25519 public key is of low order/), details: { deviceId: 'uav-3', epoch: 4, key: 'box' } }));
    expect(() => new SharedKeyCache({ secretKey: new Uint8Array(3), lookup: () => undefined })).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID' }));
    expect(() => new SharedKeyCache({ secretKey: ingest.secretKey, lookup: () => undefined, maxEntries: 0 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_CONFIG_INVALID' }));
  });
});

describe('StreamKeyring', () => {
  it('holds keys by id and reports unknown ids with VIGIL_E_KEY_UNKNOWN', () => {
    const k1 = generateStreamKey('telemetry.position.k1');
    const ring = new StreamKeyring([k1]);
    expect(ring.get('telemetry.position.k1')).toEqual(k1);
    expect(ring.has('nope')).toBe(false);
    try {
      ring.get('nope');
      throw new Error('expected rejection');
    } catch (err) {
      expect(isVigilError(err, 'VIGIL_E_KEY_UNKNOWN')).toBe(true);
    }
    const held = ring.get('telemetry.position.k1').key;
    expect(ring.delete('telemetry.position.k1')).toBe(true);
    expect(held.every((b) => b === 0)).toBe(true);
    expect(ring.ids()).toEqual([]);
    expect(() => ring.add({ keyId: 'bad id', key: new Uint8Array(32) })).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID' }));
    expect(() => ring.add({ keyId: 'k', key: new Uint8Array(16) })).toThrow(expect.objectContaining({ code: 'VIGIL_E_KEY_INVALID' }));
  });
});
