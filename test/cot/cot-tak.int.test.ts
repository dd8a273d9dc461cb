import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { KafkaBus } from '../../src/bus';
import { makeLabel, RecordCodec, type ClassificationLabel, type DerivedRecord, type TelemetryRecord } from '../../src/codec';
import { startCot, type RunningCot } from '../../src/cot';
import { generateStreamKey, type StreamDataKey } from '../../src/crypto';
import { until } from '../harness/until';

const brokers = (process.env.VIGIL_KAFKA_BROKERS as string).split(',');
const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);

interface Received {
  uid: string;
  type: string;
  how: string;
  time: string;
  stale: string;
  lat: number;
  lon: number;
  ce: number;
  callsign: string;
  remarks: string;
  label: string;
  invalid?: string;
}

/** The independent receiver (tak-receiver.mjs, @tak-ps/node-cot) on `port` (0: a free one). */
async function receiver(port = 0): Promise<{ child: ChildProcess; port: number; events: Received[] }> {
  const child = spawn(process.execPath, [join(__dirname, 'tak-receiver.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const events: Received[] = [];
  let buffer = '';
  let resolvePort: (p: number) => void = () => undefined;
  const ready = new Promise<number>((r) => (resolvePort = r));
  child.stdout?.on('data', (c: Buffer) => {
    buffer += c.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffer.slice(0, nl)) as Received & { port?: number };
      buffer = buffer.slice(nl + 1);
      if (line.port !== undefined) resolvePort(line.port);
      else events.push(line);
    }
  });
  return { child, port: await ready, events };
}

// Issue 13 item 4: positions and alerts of the streams `vigil cot` holds keys for reach a TAK
// endpoint as Cursor-on-Target, checked by an independent implementation (@tak-ps/node-cot,
// in its own process, parsing a real TCP stream); a record above the link's ceiling never
// does; a cut link is reconnected and what waited is sent.
describe('vigil cot → TAK over TCP (real Kafka, node-cot on the receiving side)', () => {
  const prefix = `cot${randomUUID().slice(0, 6)}.`;
  const bus = new KafkaBus({ brokers, clientId: `cot-test-${prefix}`, logLevel: 'nothing' });
  const codec = new RecordCodec();
  const keys: Record<string, StreamDataKey> = {
    'telemetry.position': generateStreamKey('telemetry-cot'),
    'derived.geofence': generateStreamKey('derived.geofence-cot'),
    'derived.vitals': generateStreamKey('derived.vitals-cot'),
  };
  let cot: RunningCot | undefined;
  const children: ChildProcess[] = [];
  const restricted = makeLabel('RESTRICTED', ['GBR']);

  afterAll(async () => {
    await cot?.stop();
    for (const c of children) c.kill('SIGKILL');
    await bus.close();
  });

  const produce = async (stream: string, records: Array<TelemetryRecord | DerivedRecord>): Promise<void> => {
    const p = bus.producer();
    await p.send(prefix + stream, records.map((r) => {
      const s = codec.seal(r, keys[stream] as StreamDataKey);
      return { key: r.type === 'telemetry' ? r.deviceId : r.key, value: Buffer.from(s.value), headers: { 'vigil-key-id': s.keyId } };
    }));
    await p.close();
  };
  const fix = (deviceId: string, lat: number, lon: number, label: ClassificationLabel = restricted, seq = 1n): TelemetryRecord => ({
    type: 'telemetry', deviceId, seq, eventTimeMs: T0, ingestTimeMs: T0, gatewayId: 'gw-1', kind: 'position', label,
    readings: [{ kind: 'position', offsetMs: 0, lat, lon, altM: 120, speedMps: 1.5, headingDeg: 90, accuracyM: 4 }],
  });
  const derived = (pipeline: string, key: string, values: DerivedRecord['values'], label = restricted): DerivedRecord => ({
    type: 'derived', pipeline, key, windowStartMs: T0 + 5000, windowEndMs: T0 + 5000, values, revision: 0, label, provenance: [],
  });

  it('sends every device position and the alerts with the right type, uid, time, stale and point, and nothing above the ceiling', async () => {
    await bus.admin().ensureTopics(Object.keys(keys).map((s) => ({ topic: prefix + s, partitions: 2 })));
    await produce('telemetry.position', [fix('sol-001', 51.5, -0.12), fix('veh-002', 51.51, -0.13), fix('uav-003', 51.52, -0.14), fix('sol-009', 51.6, -0.2, makeLabel('SECRET', ['GBR']))]);
    await produce('derived.geofence', [derived('geofence', 'sol-001/zone-a/enter', { event: 'enter', inside: true, zone: 'zone-a', zoneName: 'Airfield <A>', zoneClass: 'no-go', latDeg: 51.5001, lonDeg: -0.1201 })]);
    await produce('derived.vitals', [derived('vitals', 'sol-001/tachycardia/raised', { condition: 'tachycardia', heartRateBpm: 171 })]);

    const tak = await receiver();
    children.push(tak.child);
    cot = await startCot({
      bus, streams: Object.fromEntries(Object.entries(keys).map(([s, k]) => [prefix + s, [k]])),
      link: { url: `tcp://127.0.0.1:${tak.port}`, retryMinMs: 100, retryMaxMs: 500 }, ceiling: makeLabel('RESTRICTED', ['GBR']), staleMs: 300_000, fromBeginning: true,
    });
    const c = cot;
    await until(() => tak.events.length >= 5 && c.stats().refusedAboveCeiling >= 1, 60_000, 'five events at the receiver', 100);
    expect(tak.events.filter((e) => e.invalid !== undefined)).toEqual([]);
    const byUid = new Map(tak.events.map((e) => [e.uid, e]));
    for (const [id, type, lat] of [['sol-001', 'a-f-G-U-C-I', 51.5], ['veh-002', 'a-f-G-E-V', 51.51], ['uav-003', 'a-f-A-M-F-Q', 51.52]] as const) {
      expect(byUid.get(`vigil.${id}`)).toMatchObject({ type, how: 'm-g', time: new Date(T0).toISOString(), stale: new Date(T0 + 300_000).toISOString(), lat, ce: 4, callsign: id, label: 'RESTRICTED//REL TO GBR' });
    }
    expect(byUid.get('vigil.alert.sol-001.zone-a')).toMatchObject({ type: 'b-a-g', lat: 51.5001, lon: -0.1201, time: new Date(T0 + 5000).toISOString(), callsign: 'sol-001 enter Airfield <A>' });
    // A vitals alert has no position of its own: it is placed at the device's last fix.
    expect(byUid.get('vigil.alert.sol-001.tachycardia')).toMatchObject({ type: 'b-a-o-tbl', lat: 51.5, lon: -0.12 });
    expect(byUid.has('vigil.sol-009')).toBe(false); // SECRET: above the link's ceiling, never sent
    expect(c.stats().refusedAboveCeiling).toBe(1);

    // The link is cut (the receiver dies); events meanwhile wait, and go out once it is back on the same port.
    tak.child.kill('SIGKILL');
    await until(() => !c.stats().link.up, 10_000, 'link down', 50);
    await produce('telemetry.position', [fix('sol-001', 51.7, -0.3, restricted, 2n)]);
    await until(() => c.stats().link.backlog >= 1, 30_000, 'event held while the link is down', 50);
    const again = await receiver(tak.port);
    children.push(again.child);
    await until(() => again.events.some((e) => e.uid === 'vigil.sol-001' && e.lat === 51.7), 30_000, 'the held event after the reconnect', 100);
    expect(c.stats().link.reconnects).toBeGreaterThanOrEqual(1);
    expect(c.stats().link.dropped).toBe(0);
  }, 120_000);
});
