import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boxPublicKeyProblem, devicePublicKeys, generateDeviceKeys, signPublicKeyProblem } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import {
  addDevice,
  emptyRegistry,
  FileRegistry,
  MemoryRegistry,
  readRegistryFile,
  revokeDevice,
  rotateDevice,
  toDeviceEntry,
  writeRegistryFile,
  type RegistryEvent,
} from '../../src/registry';

const k1 = devicePublicKeys(generateDeviceKeys('uav-1', 1));
const k2 = devicePublicKeys(generateDeviceKeys('uav-2', 1));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-registry-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

function until(cond: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve(Date.now() - t0);
      if (Date.now() - t0 > ms) return reject(new Error(`condition not met within ${ms} ms`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('registry documents', () => {
  it('adds, rotates and revokes devices, and round-trips through YAML and JSON files', () => {
    let doc = addDevice(emptyRegistry(), k1, { theatre: 'north', unit: 'recon-3', class: 'uav', priority: 'immediate', ceiling: 'SECRET', kinds: ['position', 'power'] });
    doc = addDevice(doc, k2, { theatre: 'north', unit: 'recon-3' });
    const k1e2 = devicePublicKeys(generateDeviceKeys('uav-1', 2));
    doc = rotateDevice(doc, k1e2);
    doc = revokeDevice(doc, 'uav-2', new Date('2026-01-02T03:04:05Z'));
    for (const name of ['r.yaml', 'r.json']) {
      writeRegistryFile(join(dir, name), doc);
      const back = readRegistryFile(join(dir, name));
      expect(back).toEqual(doc);
    }
    const e1 = toDeviceEntry(doc.devices[0]!);
    expect(e1).toMatchObject({ deviceId: 'uav-1', epoch: 2, priority: 'immediate', ceiling: 'SECRET', deviceClass: 'uav', status: 'active' });
    expect([...e1.allowedKinds].sort()).toEqual(['position', 'power']);
    expect(Buffer.from(e1.keys.get(1)!.boxPublicKey)).toEqual(Buffer.from(k1.boxPublicKey));
    expect(Buffer.from(e1.keys.get(2)!.signPublicKey)).toEqual(Buffer.from(k1e2.signPublicKey));
    const e2 = toDeviceEntry(doc.devices[1]!);
    expect(e2.status).toBe('revoked');
    expect(e2.allowedKinds.size).toBe(6); // every kind by default
    expect(Object.isFrozen(e1)).toBe(true);
  });

  it('refuses duplicate adds, rotation to a lower epoch and edits of unknown devices', () => {
    const doc = addDevice(emptyRegistry(), k1, { theatre: 'north', unit: 'a' });
    expect(isVigilError(errorOf(() => addDevice(doc, k1, { theatre: 'north', unit: 'a' })), 'VIGIL_E_REGISTRY_INVALID')).toBe(true);
    expect(errorOf(() => rotateDevice(doc, k1)).message).toMatch(/must be above its current epoch 1/);
    expect(isVigilError(errorOf(() => revokeDevice(doc, 'nope')), 'VIGIL_E_DEVICE_UNKNOWN')).toBe(true);
  });

  it('names the device and field of a bad registry file', () => {
    const good = addDevice(emptyRegistry(), k1, { theatre: 'north', unit: 'a' });
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, devices: [{ ...good.devices[0], ceiling: 'COSMIC' }] }, /device "uav-1" ceiling: Invalid option/],
      [{ ...good, devices: [{ ...good.devices[0], keys: { '1': { box: 'AAAA', sign: good.devices[0]!.keys['1']!.sign } } }] }, /device "uav-1" keys.1.box: expected the base64 of a 32-byte X25519 public key/],
      [{ ...good, devices: [{ ...good.devices[0], epoch: 3 }] }, /device "uav-1" keys: device "uav-1" is at epoch 3 but has no keys for it/],
      [{ ...good, devices: [good.devices[0], good.devices[0]] }, /listed twice/],
      [{ ...good, devices: [{ ...good.devices[0], colour: 'red' }] }, /device "uav-1" .*colour/],
      [{ format: 2, devices: [] }, /format/],
    ];
    for (const [raw, re] of cases) {
      const f = join(dir, 'bad.json');
      writeFileSync(f, JSON.stringify(raw));
      const e = errorOf(() => readRegistryFile(f));
      expect(isVigilError(e, 'VIGIL_E_REGISTRY_INVALID')).toBe(true);
      expect(e.message).toMatch(re);
      expect(e.message).toContain(f);
    }
    writeFileSync(join(dir, 'broken.yaml'), 'devices: [ {');
    expect(errorOf(() => readRegistryFile(join(dir, 'broken.yaml'))).message).toMatch(/does not parse/);
  });
});

describe('device public keys', () => {
  const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
  const zero = new Uint8Array(32);
  const identity = hex('01' + '00'.repeat(31));
  const order8 = hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
  // 2^255 - 19 + 1: the identity (y = 1) written non-canonically; also small order.
  const pPlus1 = hex('ee' + 'ff'.repeat(30) + '7f');
  // y = p + 2: not below p, so not canonical.
  const pPlus2 = hex('ef' + 'ff'.repeat(30) + '7f');
  const topBit = Uint8Array.from(k2.boxPublicKey, (b, i) => (i === 31 ? b | 0x80 : b));
  const bad: Array<[string, Partial<typeof k1>, RegExp]> = [
    ['all-zero X25519 key', { boxPublicKey: zero }, /X25519 \(box\) public key is a point of small order/],
    ['X25519 key of order 8', { boxPublicKey: hex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800') }, /X25519 \(box\) public key is a point of small order/],
    ['X25519 key with the top bit set', { boxPublicKey: topBit }, /X25519 \(box\) public key is not canonical/],
    ['Ed25519 identity key', { signPublicKey: identity }, /Ed25519 \(signing\) public key is a point of small order/],
    ['Ed25519 all-zero key (order 4)', { signPublicKey: zero }, /Ed25519 \(signing\) public key is a point of small order/],
    ['Ed25519 key of order 8, negative x', { signPublicKey: Uint8Array.from(order8, (b, i) => (i === 31 ? b | 0x80 : b)) }, /Ed25519 \(signing\) public key is a point of small order/],
    ['Ed25519 identity written as p + 1', { signPublicKey: pPlus1 }, /Ed25519 \(signing\) public key is a point of small order/],
    ['Ed25519 key with y = p + 2', { signPublicKey: pPlus2 }, /Ed25519 \(signing\) public key is not canonical/],
  ];

  it.each(bad)('refuses to add a device with a bad key: %s (VIGIL_E_KEY_INVALID naming the device, epoch and key)', (_n, change, re) => {
    const e = errorOf(() => addDevice(emptyRegistry(), { ...k1, ...change }, { theatre: 'north', unit: 'a' }));
    expect(isVigilError(e, 'VIGIL_E_KEY_INVALID')).toBe(true);
    expect(e.message).toMatch(/device "uav-1" epoch 1: /);
    expect(e.message).toMatch(re);
    expect((e as { details?: unknown }).details).toEqual({ deviceId: 'uav-1', epoch: 1, key: 'boxPublicKey' in change ? 'box' : 'sign', problem: expect.any(String) });
  });

  it('refuses a key that is not a point of the curve, and one rotated in', () => {
    let y = 2;
    // The first y whose x² has no root: not a point, though canonical and not of small order.
    for (; signPublicKeyProblem(Uint8Array.from([y, ...new Array<number>(31).fill(0)])) === null; y++);
    const offCurve = Uint8Array.from([y, ...new Array<number>(31).fill(0)]);
    expect(errorOf(() => addDevice(emptyRegistry(), { ...k1, signPublicKey: offCurve }, { theatre: 'n', unit: 'u' })).message).toMatch(/Ed25519 \(signing\) public key is not a point of the Ed25519 curve/);
    const doc = addDevice(emptyRegistry(), k1, { theatre: 'n', unit: 'u' });
    const e = errorOf(() => rotateDevice(doc, { ...devicePublicKeys(generateDeviceKeys('uav-1', 2)), boxPublicKey: new Uint8Array(32) }));
    expect(isVigilError(e, 'VIGIL_E_KEY_INVALID')).toBe(true);
    expect(e.message).toMatch(/^rotation: device "uav-1" epoch 2: X25519 \(box\) public key is a point of small order/);
    // Honest keys pass, whatever the epoch.
    expect(boxPublicKeyProblem(k1.boxPublicKey)).toBeNull();
    expect(signPublicKeyProblem(k1.signPublicKey)).toBeNull();
  });

  it('refuses a registry file holding a small-order key (hand-edited), at load and on reload', async () => {
    const doc = addDevice(addDevice(emptyRegistry(), k1, { theatre: 'n', unit: 'u' }), k2, { theatre: 'n', unit: 'u' });
    const file = join(dir, 'registry.json');
    writeRegistryFile(file, doc);
    const identityB64 = Buffer.from(identity).toString('base64');
    const edited = { ...doc, devices: [doc.devices[0], { ...doc.devices[1], keys: { '1': { ...doc.devices[1]!.keys['1']!, sign: identityB64 } } }] };
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(edited));
    const e = errorOf(() => readRegistryFile(bad));
    expect(isVigilError(e, 'VIGIL_E_KEY_INVALID')).toBe(true);
    expect(e.message).toBe(`${bad}: device "uav-2" epoch 1: Ed25519 (signing) public key is a point of small order (the identity or a torsion point: anyone can forge signatures under it); generate new keys (vigil keys gen device) and enrol those`);
    expect(e.message).not.toContain(identityB64);
    expect(isVigilError(errorOf(() => FileRegistry.open(bad)), 'VIGIL_E_KEY_INVALID')).toBe(true);

    const reg = FileRegistry.open(file, { pollMs: 50 });
    try {
      writeFileSync(file, JSON.stringify(edited));
      expect(reg.reload()).toBe(false);
      expect(Buffer.from(reg.get('uav-2')!.keys.get(1)!.signPublicKey)).toEqual(Buffer.from(k2.signPublicKey));
    } finally {
      await reg.close();
    }
  });
});

describe('MemoryRegistry', () => {
  it('emits one event per changed device and none for an identical snapshot', () => {
    const doc = addDevice(addDevice(emptyRegistry(), k1, { theatre: 'n', unit: 'u' }), k2, { theatre: 'n', unit: 'u' });
    const reg = new MemoryRegistry();
    const events: RegistryEvent[] = [];
    reg.subscribe((e) => events.push(e));
    reg.applySnapshot(doc.devices.map(toDeviceEntry));
    expect(events.map((e) => e.type)).toEqual(['upsert', 'upsert']);
    reg.applySnapshot(doc.devices.map(toDeviceEntry));
    expect(events).toHaveLength(2);
    const revoked = revokeDevice(doc, 'uav-1');
    reg.applySnapshot([toDeviceEntry(revoked.devices[0]!)]);
    expect(events.slice(2).map((e) => [e.type, e.type === 'error' ? '' : e.type === 'remove' ? e.before.deviceId : e.after.deviceId])).toEqual([
      ['remove', 'uav-2'],
      ['upsert', 'uav-1'],
    ]);
    expect(reg.get('uav-1')?.status).toBe('revoked');
    expect(reg.size).toBe(1);
  });

  it('keeps notifying the other listeners when one throws', () => {
    const reg = new MemoryRegistry();
    const seen: string[] = [];
    reg.subscribe(() => {
      throw new Error('bad listener');
    });
    const stop = reg.subscribe((e) => seen.push(e.type));
    reg.upsert(toDeviceEntry(addDevice(emptyRegistry(), k1, { theatre: 'n', unit: 'u' }).devices[0]!));
    stop();
    reg.remove('uav-1');
    expect(seen).toEqual(['upsert']);
  });
});

describe('FileRegistry', () => {
  it('applies a revocation written to the file within one second, without restart', async () => {
    const file = join(dir, 'registry.yaml');
    const doc = addDevice(emptyRegistry(), k1, { theatre: 'north', unit: 'a' });
    writeRegistryFile(file, doc);
    const reg = FileRegistry.open(file, { pollMs: 100 });
    try {
      expect(reg.get('uav-1')?.status).toBe('active');
      const events: RegistryEvent[] = [];
      reg.subscribe((e) => events.push(e));
      writeRegistryFile(file, revokeDevice(doc, 'uav-1'));
      const took = await until(() => reg.get('uav-1')?.status === 'revoked', 1000);
      expect(took).toBeLessThan(1000);
      expect(events).toEqual([expect.objectContaining({ type: 'upsert' })]);
      expect(reg.reloads.applied).toBe(1);
    } finally {
      await reg.close();
    }
  });

  it('keeps the last good version when the file turns bad, and reports it', async () => {
    const file = join(dir, 'registry.json');
    writeRegistryFile(file, addDevice(emptyRegistry(), k1, { theatre: 'north', unit: 'a' }));
    const reg = FileRegistry.open(file, { pollMs: 50 });
    try {
      const errors: Error[] = [];
      reg.subscribe((e) => {
        if (e.type === 'error') errors.push(e.error);
      });
      writeFileSync(file, '{ "format": 1, "devices": [ { "id": "uav-1" } ] }');
      await until(() => errors.length > 0, 1000);
      expect(errors[0]?.message).toMatch(/theatre/);
      expect(reg.get('uav-1')?.status).toBe('active');
      expect(reg.reloads.refused).toBeGreaterThanOrEqual(1);
    } finally {
      await reg.close();
    }
  });

  it('refuses to start on a bad file', () => {
    const file = join(dir, 'registry.yaml');
    writeFileSync(file, 'format: 1\ndevices: [ { id: "x" } ]\n');
    expect(isVigilError(errorOf(() => FileRegistry.open(file)), 'VIGIL_E_REGISTRY_INVALID')).toBe(true);
  });
});
