import { MemoryBus } from '../../src/bus';
import { generateStreamKey, StreamKeyring } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { StreamTap, type TapRecord } from '../../src/tap';
import { position, produce, sealed, until } from './helpers';

/** A bounded replay (the map's default: the last hour), without reading what came before. */
describe('StreamTap from a time', () => {
  const key = generateStreamKey('telemetry.position-1');
  const now = Date.now();

  it('starts each partition at the first record produced at or after the time, then follows live', async () => {
    const bus = new MemoryBus();
    await bus.admin().ensureTopics([{ topic: 'telemetry.position', partitions: 2 }]);
    // Two hours, one record a minute per device, with the bus timestamps a gateway would have set.
    const old = Array.from({ length: 120 }, (_, i) => ({ ...sealed(position(i % 2 === 0 ? 'veh-001' : 'veh-002', i), key), timestamp: now - (120 - i) * 60_000 }));
    await produce(bus, 'telemetry.position', old);
    const seen: TapRecord[] = [];
    const tap = await StreamTap.open({ bus, stream: 'telemetry.position', keyring: new StreamKeyring([key]), fromTimestampMs: now - 30 * 60_000, onRecord: (r) => void seen.push(r) });
    try {
      await until(() => seen.length >= 30, 5000, 'the last 30 minutes');
      await produce(bus, 'telemetry.position', [sealed(position('veh-003', 500), key)]);
      await until(() => seen.some((r) => r.record.type === 'telemetry' && r.record.deviceId === 'veh-003'), 5000, 'a live record');
      expect(seen).toHaveLength(31);
      expect(Math.min(...seen.map((r) => r.timestamp))).toBeGreaterThanOrEqual(now - 30 * 60_000);
      expect(tap.stats().records).toBe(31);
    } finally {
      await tap.close();
      await bus.close();
    }
  });

  it('says when the stream does not exist, and refuses a time that is not one', async () => {
    const bus = new MemoryBus();
    const missing = await StreamTap.open({ bus, stream: 'telemetry.nothing', keyring: new StreamKeyring([key]), fromTimestampMs: now, onRecord: () => undefined }).catch((e: unknown) => e);
    expect(isVigilError(missing, 'VIGIL_E_BUS_TOPIC_UNKNOWN') && missing.message).toContain('telemetry.nothing');
    const bad = await StreamTap.open({ bus, stream: 'telemetry.position', keyring: new StreamKeyring([key]), fromTimestampMs: -5, onRecord: () => undefined }).catch((e: unknown) => e);
    expect(isVigilError(bad, 'VIGIL_E_TAP_OPTIONS')).toBe(true);
    await bus.close();
  });
});
