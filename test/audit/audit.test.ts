import { MemoryBus } from '../../src/bus';
import { generateStreamKey, StreamKeyring } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { AckedLog, auditReportJson, DeliveryAudit, formatAuditTable, parseAckedLine, runAudit, telemetryTopics, type AuditReport, type DeviceAudit } from '../../src/audit';
import { ackedLines, range, store, telemetryMessage } from './helpers';

const key = generateStreamKey('telemetry-1');
const otherKey = generateStreamKey('telemetry-other');
const POWER = 'telemetry.power';
const VITALS = 'telemetry.vitals';

function row(report: AuditReport, deviceId: string): Omit<DeviceAudit, 'lostRanges' | 'outOfOrderRecords' | 'lostRangeCount' | 'duplicateRecords' | 'outOfOrderResent' | 'outOfOrderUnacknowledged'> {
  const d = report.devices.find((x) => x.deviceId === deviceId);
  if (d === undefined) throw new Error(`no row for ${deviceId}`);
  const { lostRanges: _l, outOfOrderRecords: _o, lostRangeCount: _c, duplicateRecords: _d, outOfOrderResent: _r, outOfOrderUnacknowledged: _u, ...counts } = d;
  return counts;
}

describe('runAudit on the memory bus', () => {
  let bus: MemoryBus;
  beforeEach(async () => {
    bus = new MemoryBus();
    await bus.admin().ensureTopics([POWER, VITALS, 'telemetry.position', 'telemetry.rejected'].map((topic) => ({ topic, partitions: 2 })));
  });
  afterEach(() => bus.close());

  const audit = async (lines: string[], extra: { keys?: typeof key[]; prefix?: string } = {}): Promise<AuditReport> =>
    runAudit({ bus, keyring: new StreamKeyring(extra.keys ?? [key]), acked: await AckedLog.fromLines(lines, 'acked.jsonl'), ...(extra.prefix !== undefined ? { topicPrefix: extra.prefix } : {}) });

  it('passes when every acknowledged frame is stored once, in order', async () => {
    await store(bus, POWER, 'ugv-1', range(1, 50), key);
    await store(bus, POWER, 'ugv-2', range(100, 120), key);
    // Stored but never acknowledged (in flight when the devices stopped): fine.
    const report = await audit([...ackedLines('ugv-1', range(1, 48)), ...ackedLines('ugv-2', range(100, 120))]);
    expect(row(report, 'ugv-1')).toEqual({ deviceId: 'ugv-1', acknowledged: 48, stored: 50, lost: 0, outOfOrder: 0, duplicates: 0 });
    expect(row(report, 'ugv-2')).toEqual({ deviceId: 'ugv-2', acknowledged: 21, stored: 21, lost: 0, outOfOrder: 0, duplicates: 0 });
    expect(report.ok).toBe(true);
    expect(report.totals).toMatchObject({ devices: 2, acknowledged: 69, stored: 71, lost: 0, outOfOrder: 0, duplicates: 0, records: 71, unreadable: 0 });
    expect(formatAuditTable(report)).toContain('OK: every acknowledged frame is stored');
  });

  it('finds lost frames, as ranges of the acked order', async () => {
    await store(bus, POWER, 'ugv-1', [...range(1, 10), ...range(21, 30), 32], key);
    const report = await audit(ackedLines('ugv-1', range(1, 33)));
    expect(row(report, 'ugv-1')).toMatchObject({ acknowledged: 33, stored: 21, lost: 12, outOfOrder: 0 });
    const d = report.devices[0] as DeviceAudit;
    expect(d.lostRanges).toEqual([{ first: 11n, last: 20n, count: 10 }, { first: 31n, last: 31n, count: 1 }, { first: 33n, last: 33n, count: 1 }]);
    expect(d.lostRangeCount).toBe(3);
    expect(report.ok).toBe(false);
    expect(formatAuditTable(report)).toContain('lost ugv-1: 12 frames in 3 ranges: 11..20 (10), 31, 33');
  });

  it('counts a frame stored after a larger one of its device in its partition as out of order; a redelivered copy is a duplicate instead', async () => {
    // 1 2 3 5 4 6: 4 is a first occurrence after 5 (out of order); then 2 and 6 again (duplicates).
    await store(bus, POWER, 'ugv-1', [1, 2, 3, 5, 4, 6, 2, 6, 7], key);
    const report = await audit(ackedLines('ugv-1', range(1, 7)));
    expect(row(report, 'ugv-1')).toEqual({ deviceId: 'ugv-1', acknowledged: 7, stored: 7, lost: 0, outOfOrder: 1, duplicates: 2 });
    const d = report.devices[0] as DeviceAudit;
    expect(d.outOfOrderRecords).toEqual([{ topic: POWER, partition: expect.any(Number) as number, offset: '4', seq: 4n, after: 5n, sent: 'sent-once' }]);
    expect(d.duplicateRecords).toBe(2);
    expect(report.ok).toBe(false);
    expect(formatAuditTable(report)).toMatch(/out of order ugv-1: 1: 4 after 5 at telemetry\.power\[\d\]@4/);
  });

  it('tells which out-of-order frames the device resent (the acked log marks them)', async () => {
    // 4 and 5 were lost on the way, resent after 6-8 were stored.
    await store(bus, POWER, 'ugv-1', [1, 2, 3, 6, 7, 8, 4, 5], key);
    const lines = ackedLines('ugv-1', [1, 2, 3, 6, 7, 8]).concat(['{"deviceId":"ugv-1","seq":"4","resent":true}', '{"deviceId":"ugv-1","seq":"5"}']);
    const report = await audit(lines);
    expect(report.devices[0]).toMatchObject({ outOfOrder: 2, outOfOrderResent: 1, lost: 0 });
    expect(formatAuditTable(report)).toContain('out of order ugv-1: 2 (1 of them resent by the device)');
    expect(report.ok).toBe(false); // 5 was sent once: a real disorder
  });

  it('passes when every out-of-order frame is one the device resent (late by necessity), and says so', async () => {
    await store(bus, POWER, 'ugv-1', [1, 2, 3, 6, 7, 8, 4, 5], key);
    const lines = ackedLines('ugv-1', [1, 2, 3, 6, 7, 8]).concat(['{"deviceId":"ugv-1","seq":"4","resent":true}', '{"deviceId":"ugv-1","seq":"5","resent":true}']);
    const report = await audit(lines);
    expect(report.totals).toMatchObject({ outOfOrder: 2, outOfOrderResent: 2, lost: 0 });
    expect(report.ok).toBe(true);
    expect(formatAuditTable(report)).toContain('2 resent frames arrived late');
  });

  it('does not hold a frame no device was told is durable to its order: the acked log does not know how often it was sent', async () => {
    // Chaos seed 435755603: after a broker restart the broker held frames 4 and 5 back and
    // delivered them only after 6-8; their device resent them (no receipt came), and no
    // receipt ever covered them, so the acked log has no line for them, hence no "resent".
    await store(bus, POWER, 'ugv-1', [1, 2, 3, 6, 7, 8, 4, 5], key);
    const report = await audit(ackedLines('ugv-1', [1, 2, 3, 6, 7, 8]));
    expect(report.devices[0]).toMatchObject({ outOfOrder: 2, outOfOrderResent: 0, outOfOrderUnacknowledged: 2, lost: 0 });
    expect(report.devices[0]?.outOfOrderRecords.map((r) => [r.seq, r.sent])).toEqual([[4n, 'unacknowledged'], [5n, 'unacknowledged']]);
    expect(report.totals).toMatchObject({ outOfOrder: 2, outOfOrderResent: 0, outOfOrderUnacknowledged: 2 });
    expect(report.ok).toBe(true);
    expect(formatAuditTable(report)).toContain('out of order ugv-1: 2 (2 never acknowledged): 4 after 8 at');
    expect(formatAuditTable(report)).toContain('OK: every acknowledged frame is stored, in order per device (2 frames never acknowledged arrived late');

    // An acknowledged frame sent once that arrives late is still a failure, beside them.
    await store(bus, POWER, 'ugv-2', [1, 2, 6, 7, 4, 5, 3], key);
    const mixed = await audit([...ackedLines('ugv-2', [1, 2, 3, 6, 7]), '{"deviceId":"ugv-2","seq":"4","resent":true}']);
    expect(mixed.devices.find((d) => d.deviceId === 'ugv-2')).toMatchObject({ outOfOrder: 3, outOfOrderResent: 1, outOfOrderUnacknowledged: 1 });
    expect(mixed.devices.find((d) => d.deviceId === 'ugv-2')?.outOfOrderRecords.map((r) => r.sent)).toEqual(['resent', 'unacknowledged', 'sent-once']);
    expect(mixed.ok).toBe(false);
    expect(formatAuditTable(mixed)).toContain('FAILED: 0 lost, 1 out of order');
  });

  it('passes with duplicates only: a redelivery is counted, never a failure', async () => {
    await store(bus, POWER, 'ugv-1', [...range(1, 20), ...range(15, 25)], key);
    const report = await audit(ackedLines('ugv-1', range(1, 25)));
    expect(row(report, 'ugv-1')).toEqual({ deviceId: 'ugv-1', acknowledged: 25, stored: 25, lost: 0, outOfOrder: 0, duplicates: 6 });
    expect(report.ok).toBe(true);
  });

  it('counts a frame of several kinds once: one record per kind topic, order judged per topic', async () => {
    // Frames 1-10 carry power and vitals; 11-20 power only. Vitals are written in order, power too.
    await store(bus, POWER, 'sol-1', range(1, 20), key, 'power');
    await store(bus, VITALS, 'sol-1', range(1, 10), key, 'vitals');
    // Another soldier: vitals 1..5 of which 3 comes last in vitals: out of order there only.
    await store(bus, POWER, 'sol-2', range(1, 5), key, 'power');
    await store(bus, VITALS, 'sol-2', [1, 2, 4, 5, 3], key, 'vitals');
    const report = await audit([...ackedLines('sol-1', range(1, 20)), ...ackedLines('sol-2', range(1, 5))]);
    expect(row(report, 'sol-1')).toEqual({ deviceId: 'sol-1', acknowledged: 20, stored: 20, lost: 0, outOfOrder: 0, duplicates: 0 });
    expect(row(report, 'sol-2')).toEqual({ deviceId: 'sol-2', acknowledged: 5, stored: 5, lost: 0, outOfOrder: 1, duplicates: 0 });
    expect(report.devices.find((d) => d.deviceId === 'sol-2')?.outOfOrderRecords[0]).toMatchObject({ topic: VITALS, seq: 3n, after: 5n });
    expect(report.totals.records).toBe(40);
  });

  it('counts records under a key not given, and without a key header, as unreadable: their frames are not stored', async () => {
    await store(bus, POWER, 'ugv-1', range(1, 5), key);
    await store(bus, POWER, 'ugv-1', range(6, 8), otherKey);
    const producer = bus.producer();
    await producer.send(POWER, [{ key: 'ugv-1', value: Buffer.from('junk') }, { key: 'ugv-1', value: null }]);
    // Changed bytes under the right key id: fails authentication.
    const m = telemetryMessage('ugv-1', 9n, key);
    const changed = Buffer.from(m.value as Buffer);
    changed[changed.length - 1] ^= 1;
    await producer.send(POWER, [{ ...m, value: changed }]);
    await producer.close();
    const report = await audit(ackedLines('ugv-1', range(1, 9)));
    expect(row(report, 'ugv-1')).toMatchObject({ acknowledged: 9, stored: 5, lost: 4 });
    expect(report.totals).toMatchObject({ records: 5, unreadable: 5, tombstones: 1, unreadableByCode: { VIGIL_E_KEY_UNKNOWN: 3, VIGIL_E_RECORD_INVALID: 1, VIGIL_E_RECORD_AUTH: 1 } });
    expect(formatAuditTable(report)).toContain('unreadable records: 5 (VIGIL_E_KEY_UNKNOWN 3, VIGIL_E_RECORD_INVALID 1, VIGIL_E_RECORD_AUTH 1)');
    // With both keys (a rotation), the frames under the other key count.
    const both = await audit(ackedLines('ugv-1', range(1, 8)), { keys: [key, otherKey] });
    expect(row(both, 'ugv-1')).toMatchObject({ acknowledged: 8, stored: 8, lost: 0 });
  });

  it('reads only <prefix>telemetry.<kind> topics, up to the end offsets taken at its start', async () => {
    await bus.admin().ensureTopics([{ topic: 'run-7.telemetry.power', partitions: 3 }]);
    await store(bus, 'run-7.telemetry.power', 'ugv-1', range(1, 10), key);
    await store(bus, POWER, 'ugv-1', range(100, 110), key); // another deployment's topic: not read
    const report = await audit(ackedLines('ugv-1', range(1, 10)), { prefix: 'run-7.' });
    expect(row(report, 'ugv-1')).toMatchObject({ acknowledged: 10, stored: 10, lost: 0 });
    expect(report.topics.map((t) => t.topic)).toEqual(['run-7.telemetry.power', 'run-7.telemetry.power', 'run-7.telemetry.power']);
    expect(telemetryTopics(['telemetry.power', 'telemetry.rejected', 'x.telemetry.power', 'telemetry.power.y', 'derived.vitals'], '')).toEqual(['telemetry.power']);
  });

  it('terminates while a producer keeps writing: records after the snapshot are not judged', async () => {
    await store(bus, POWER, 'ugv-1', range(1, 100), key);
    let n = 101;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await store(bus, POWER, 'ugv-1', [n++], key);
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      const report = await audit(ackedLines('ugv-1', range(1, 100)));
      expect(row(report, 'ugv-1')).toMatchObject({ acknowledged: 100, lost: 0 });
      expect(report.totals.records).toBeLessThan(n);
    } finally {
      writing = false;
      await writer;
    }
  });

  it('refuses an empty keyring and a bad prefix; fails, never hangs, when the bus is down', async () => {
    const acked = await AckedLog.fromLines([], 'x');
    await expect(runAudit({ bus, keyring: new StreamKeyring([]), acked })).rejects.toMatchObject({ code: 'VIGIL_E_AUDIT_OPTIONS' });
    await expect(runAudit({ bus, keyring: new StreamKeyring([key]), acked, topicPrefix: 'a b' })).rejects.toMatchObject({ code: 'VIGIL_E_AUDIT_OPTIONS' });
    bus.broker.setAvailable(false);
    await expect(runAudit({ bus, keyring: new StreamKeyring([key]), acked })).rejects.toMatchObject({ code: 'VIGIL_E_BUS_UNAVAILABLE' });
  });

  it('reports in JSON with sequence numbers as strings', async () => {
    await store(bus, POWER, 'ugv-1', [1, 3], key);
    const json = auditReportJson(await audit(ackedLines('ugv-1', [1, 2, 3]))) as { devices: Array<{ lostRanges: unknown }> };
    expect(json.devices[0]?.lostRanges).toEqual([{ first: '2', last: '2', count: 1 }]);
  });
});

describe('acked log', () => {
  it('parses lines and refuses bad ones naming file:line and what is wrong', async () => {
    expect(parseAckedLine('{"deviceId":"uav-1","seq":"18446744073709551615"}', 'a.jsonl', 1)).toEqual({ deviceId: 'uav-1', seq: 18446744073709551615n, resent: false });
    expect(parseAckedLine('{"deviceId":"uav-1","seq":"7","resent":true}', 'a.jsonl', 1)).toEqual({ deviceId: 'uav-1', seq: 7n, resent: true });
    const cases: Array<[string, RegExp]> = [
      ['{"deviceId":"uav-1","seq":"1"', /a\.jsonl:3: not JSON/],
      ['[1,2]', /a\.jsonl:3: not a JSON object/],
      ['{"seq":"1"}', /a\.jsonl:3: deviceId must be .* got nothing/],
      ['{"deviceId":"a b","seq":"1"}', /deviceId must be/],
      ['{"deviceId":"uav-1","seq":1}', /a\.jsonl:3: seq must be a decimal string, got 1/],
      ['{"deviceId":"uav-1","seq":"-1"}', /seq must be a decimal string/],
      ['{"deviceId":"uav-1","seq":"18446744073709551616"}', /above 2\^64-1/],
      ['{"deviceId":"uav-1","seq":"1","resent":"yes"}', /a\.jsonl:3: resent must be true or false, got "yes"/],
    ];
    for (const [line, why] of cases) {
      let err: unknown;
      try {
        parseAckedLine(line, 'a.jsonl', 3);
      } catch (e) {
        err = e;
      }
      expect(isVigilError(err, 'VIGIL_E_AUDIT_ACKED_LOG')).toBe(true);
      expect((err as Error).message).toMatch(why);
    }
    await expect(AckedLog.fromLines(['{"deviceId":"a","seq":"1"}', '', 'oops'], 'log.jsonl')).rejects.toThrow(/log\.jsonl:3: not JSON/);
  });

  it('keeps distinct sequence numbers per device, sorted', async () => {
    const log = await AckedLog.fromLines(['{"deviceId":"a","seq":"3"}', '{"deviceId":"a","seq":"1"}', '{"deviceId":"a","seq":"3"}', '', '{"deviceId":"b","seq":"2","extra":true}'], 'x');
    expect([...log.sorted('a')]).toEqual([1n, 3n]);
    expect(log.deviceIds()).toEqual(['a', 'b']);
    expect(log.size).toBe(4);
  });
});

describe('DeliveryAudit at scale', () => {
  it('judges a million frames of 8 devices (typed arrays, no bigint per entry)', () => {
    const audit = new DeliveryAudit();
    const acked = new AckedLog();
    const devices = 8;
    const perDevice = 125_000;
    for (let i = 0; i < perDevice; i++) {
      for (let d = 0; d < devices; d++) {
        const seq = 1_700_000_000_000n + BigInt(i);
        acked.add(`dev-${d}`, seq);
        // Device 0 loses one frame; device 1 has one duplicate.
        if (!(d === 0 && i === 777)) audit.record('telemetry.power', d % 3, String(i), `dev-${d}`, seq);
        if (d === 1 && i === 999) audit.record('telemetry.power', d % 3, String(i), `dev-${d}`, seq);
      }
    }
    const report = audit.report(acked);
    expect(report.totals).toMatchObject({ devices: 8, acknowledged: 1_000_000, stored: 999_999, lost: 1, outOfOrder: 0, duplicates: 1 });
    expect(report.devices[0]?.lostRanges).toEqual([{ first: 1_700_000_000_777n, last: 1_700_000_000_777n, count: 1 }]);
  });
});
