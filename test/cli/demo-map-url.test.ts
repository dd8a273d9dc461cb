import { demoMapUrl } from '../../src/cli/demo/demo';
import { generateStreamKey } from '../../src/crypto';
import { tapToken } from '../../src/tap';

describe('the demo map link', () => {
  it('replays from the beginning and names every alert stream the demo runs, each with its own token', () => {
    const telemetry = generateStreamKey('telemetry-demo');
    const keys = new Map(['vitals', 'geofence', 'unit-picture', 'sensor-health'].map((n) => [n, generateStreamKey(`derived.${n}-1`)] as const));
    const url = new URL(demoMapUrl('http://127.0.0.1:9464', telemetry, keys));
    expect(url.pathname).toBe('/map');
    const p = new URLSearchParams(url.hash.slice(1));
    expect(p.get('from')).toBe('beginning');
    expect(p.get('stream')).toBe('telemetry.position');
    expect(p.get('token')).toBe(tapToken(telemetry, 'telemetry.position'));
    // unit-picture is positions per unit, not alerts: not in the list.
    const alerts = (p.get('alerts') as string).split(',');
    expect(alerts).toEqual(['derived.geofence', 'derived.vitals', 'derived.sensor-health']);
    expect((p.get('alertsToken') as string).split(',')).toEqual(alerts.map((s) => tapToken(keys.get(s.slice('derived.'.length)) as ReturnType<typeof generateStreamKey>, s)));
  });
});
