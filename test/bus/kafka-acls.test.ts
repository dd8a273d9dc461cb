import { roleAcls } from '../../src/bus';
import { isVigilError } from '../../src/errors';

const rows = (role: Parameters<typeof roleAcls>[0], user: string, o?: Parameters<typeof roleAcls>[2]): string[] => roleAcls(role, user, o).map((a) => `${a.principal} ${a.operation} ${a.resource} ${a.name}${a.prefixed ? '*' : ''}`);

describe('roleAcls (what vigil kafka grant creates)', () => {
  it('gives a gateway telemetry to write and nothing to read', () => {
    expect(rows('gateway', 'gw-1', { topicPrefix: 'ex1.' })).toEqual(['User:gw-1 WRITE topic ex1.telemetry.*', 'User:gw-1 DESCRIBE topic ex1.telemetry.*']);
  });

  it('gives a worker telemetry to read, derived streams, changelogs and second-stage topics to write, in its groups; limited to pipelines when named', () => {
    expect(rows('worker', 'w')).toEqual([
      'User:w READ topic telemetry.*',
      'User:w DESCRIBE topic telemetry.*',
      'User:w DESCRIBE_CONFIGS topic telemetry.*',
      'User:w WRITE topic derived.*',
      'User:w DESCRIBE topic derived.*',
      'User:w DESCRIBE_CONFIGS topic derived.*',
      'User:w READ topic vigil.changelog.*',
      'User:w WRITE topic vigil.changelog.*',
      'User:w DESCRIBE topic vigil.changelog.*',
      'User:w DESCRIBE_CONFIGS topic vigil.changelog.*',
      'User:w READ topic vigil.repartition.*',
      'User:w WRITE topic vigil.repartition.*',
      'User:w DESCRIBE topic vigil.repartition.*',
      'User:w DESCRIBE_CONFIGS topic vigil.repartition.*',
      'User:w READ group vigil.pipeline.*',
      'User:w DESCRIBE group vigil.pipeline.*',
    ]);
    const one = rows('worker', 'w', { pipelines: ['vitals'] });
    expect(one).toContain('User:w WRITE topic derived.vitals');
    expect(one).toContain('User:w READ group vigil.pipeline.vitals');
    expect(rows('worker', 'w', { pipelines: ['unit-picture'] })).toContain('User:w WRITE topic vigil.repartition.unit-picture');
    expect(one.filter((r) => r.includes('derived.') && r.endsWith('*'))).toEqual([]);
  });

  it('gives an analyst exactly the derived streams it is given, read only, and private tap groups', () => {
    expect(rows('analyst', 'alice', { pipelines: ['vitals', 'geofence'] })).toEqual([
      'User:alice READ topic derived.vitals',
      'User:alice DESCRIBE topic derived.vitals',
      'User:alice DESCRIBE_CONFIGS topic derived.vitals',
      'User:alice READ topic derived.geofence',
      'User:alice DESCRIBE topic derived.geofence',
      'User:alice DESCRIBE_CONFIGS topic derived.geofence',
      'User:alice READ group vigil.tap.*',
      'User:alice DESCRIBE group vigil.tap.*',
    ]);
  });

  it('gives a relay, at the theatre, its sources to read, its audit topic, and its own groups; at the destination its topics only', () => {
    const relay = { name: 'north', sources: ['derived.vitals'], destinations: ['theatre.north.derived.vitals'] };
    expect(rows('relay', 'r', { topicPrefix: 'ex1.', relay })).toEqual([
      'User:r READ topic ex1.derived.vitals',
      'User:r DESCRIBE topic ex1.derived.vitals',
      'User:r READ topic ex1.vigil.audit.relay.north',
      'User:r WRITE topic ex1.vigil.audit.relay.north',
      'User:r DESCRIBE topic ex1.vigil.audit.relay.north',
      'User:r READ group ex1.vigil.relay.north',
      'User:r DESCRIBE group ex1.vigil.relay.north',
      'User:r READ group ex1.vigil.relay.north.*',
      'User:r DESCRIBE group ex1.vigil.relay.north.*',
    ]);
    // Destination topics are the policy's full names: the theatre's topicPrefix does not apply.
    expect(rows('relay-destination', 'r', { topicPrefix: 'ex1.', relay })).toEqual([
      'User:r READ topic theatre.north.derived.vitals',
      'User:r WRITE topic theatre.north.derived.vitals',
      'User:r DESCRIBE topic theatre.north.derived.vitals',
      'User:r DESCRIBE_CONFIGS topic theatre.north.derived.vitals',
      'User:r READ group vigil.relay.north.*',
      'User:r DESCRIBE group vigil.relay.north.*',
    ]);
    expect(() => roleAcls('relay', 'r')).toThrow(expect.objectContaining({ code: 'VIGIL_E_BUS_OPTIONS', message: "the relay role needs the relay's name, sources and destinations (its policy)" }) as Error);
    expect(() => roleAcls('relay-destination', 'r', { relay: { ...relay, destinations: ['a/b'] } })).toThrow(/topic "a\/b" is not a topic name/);
  });

  it('gives an analyst at a command centre the relayed topics it is given, by full name', () => {
    expect(rows('analyst', 'cmd-1', { topicPrefix: 'ex1.', topics: ['theatre.north.derived.vitals'] })).toEqual([
      'User:cmd-1 READ topic theatre.north.derived.vitals',
      'User:cmd-1 DESCRIBE topic theatre.north.derived.vitals',
      'User:cmd-1 DESCRIBE_CONFIGS topic theatre.north.derived.vitals',
      'User:cmd-1 READ group vigil.tap.*',
      'User:cmd-1 DESCRIBE group vigil.tap.*',
    ]);
    expect(() => roleAcls('analyst', 'cmd-1', { topics: ['theatre.*'] })).toThrow(/is not a topic name/);
  });

  it.each([
    ['an unknown role', () => roleAcls('admin' as 'gateway', 'x')],
    ['a user with a space', () => roleAcls('gateway', 'a b')],
    ['an analyst without pipelines', () => roleAcls('analyst', 'alice')],
    ['a pipeline name with a wildcard', () => roleAcls('worker', 'w', { pipelines: ['*'] })],
  ])('refuses %s with VIGIL_E_BUS_OPTIONS', (_, fn) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_BUS_OPTIONS')).toBe(true);
  });
});
