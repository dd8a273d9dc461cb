import { makeLabel, type DerivedRecord } from '../../src/codec';
import { formatDerived } from '../../src/cli/demo/demo';
import { alertState, emphasise, TapTable, type TapRecord } from '../../src/tap';

const T0 = Date.UTC(2026, 11, 5, 23, 59, 50);
const rec = (key: string, values: DerivedRecord['values'], span = 10_000, pipeline = 'vitals'): DerivedRecord => ({
  type: 'derived', pipeline, key, windowStartMs: T0, windowEndMs: T0 + span, values, revision: 0, label: makeLabel('SECRET', ['GBR', 'USA']), provenance: [],
});
const tapped = (r: DerivedRecord): TapRecord => ({ stream: `derived.${r.pipeline}`, partition: 0, offset: '0', keyId: 'k', timestamp: 0, record: r });

// Issue 13 item 6: the terminal feeds are for people.
describe('terminal feeds (vigil tap table, the demo lines)', () => {
  it('tell alerts and their ends from statistics', () => {
    expect(alertState(rec('sol-1/tachycardia/raised', {}, 0))).toBe('raised');
    expect(alertState(rec('sol-1/zone-a/enter', {}, 0, 'geofence'))).toBe('raised');
    expect(alertState(rec('sol-1/zone-a/exit', {}, 0, 'geofence'))).toBe('cleared');
    expect(alertState(rec('sol-1', {}))).toBeUndefined();
    expect(emphasise('x', 'raised', true)).toBe('\u001b[1;31mx\u001b[0m');
    expect(emphasise('x', 'raised', false)).toBe('x');
  });

  it('demo: UTC clock times, internal merge values hidden, alerts marked, 100 columns at most', () => {
    const unit = formatDerived(rec('patrol-1', { unit: 'patrol-1', members: 8, meanLatDeg: 51.123456789, meanLonDeg: -0.1, m2LatDeg2: 1e-9, m2LonDeg2: 2e-9, partition: 2, spreadM: 40.5 }, 60_000, 'unit-picture'));
    expect(unit).toContain('23:59:50–00:00:50Z');
    expect(unit).toContain('members=8 meanLatDeg=51.12');
    expect(unit).not.toMatch(/m2LatDeg2|m2LonDeg2|partition=/);
    expect(unit.length).toBeLessThanOrEqual(100);
    const alert = formatDerived(rec('sol-1/tachycardia/raised', { condition: 'tachycardia', heartRateBpm: 171, note: 'x'.repeat(200) }, 0));
    expect(alert.startsWith('▲ vitals')).toBe(true);
    expect(alert).toContain('23:59:50Z');
    expect(alert.length).toBe(100);
    expect(alert.endsWith('…')).toBe(true);
  });

  it('tap table: a date line when the date changes, alerts marked in the key column, every line within the width', () => {
    const table = new TapTable({ width: 100 });
    const a = table.lines(tapped(rec('sol-1', { heartRateBpm: 80 })));
    const b = table.lines(tapped(rec('sol-1/tachycardia/raised', { heartRateBpm: 171 }, 0)));
    const c = table.lines(tapped({ ...rec('sol-1', { heartRateBpm: 81 }), windowStartMs: T0 + 20_000, windowEndMs: T0 + 30_000 }));
    expect(a[0]).toBe('── 2026-12-05 ──');
    expect(b[0]?.startsWith('23:59:50.000Z ▲ sol-1/tachy')).toBe(true);
    expect(c[0]).toBe('── 2026-12-06 ──');
    expect(c[1]?.startsWith('00:00:10.000Z sol-1')).toBe(true);
    for (const l of [...a, ...b, ...c]) expect(l.length).toBeLessThanOrEqual(100);
  });
});
