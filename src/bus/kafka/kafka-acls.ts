import { VigilError } from '../../errors';

/** Who a Kafka user is to Vigil (issue 12): what it may read and write, nothing more. */
export const KAFKA_ROLES = ['gateway', 'worker', 'analyst', 'relay', 'relay-destination'] as const;
export type KafkaRole = (typeof KAFKA_ROLES)[number];

export type KafkaAclOperation = 'READ' | 'WRITE' | 'DESCRIBE' | 'DESCRIBE_CONFIGS';

/** One ALLOW rule: `operation` on a topic or consumer group named `name` (or every name starting with it, `prefixed`). */
export interface KafkaAcl {
  readonly principal: string;
  readonly resource: 'topic' | 'group';
  readonly name: string;
  readonly prefixed: boolean;
  readonly operation: KafkaAclOperation;
}

export interface RoleAclOptions {
  /** `kafka.topicPrefix` of the deployment. */
  readonly topicPrefix?: string;
  /** analyst: the pipelines whose derived stream it may read (required). worker: limits it to these pipelines (default: all). */
  readonly pipelines?: readonly string[];
  /** analyst: further topics it reads, full names (a command centre's relayed streams, e.g. theatre.north.derived.vitals); no topicPrefix is added. */
  readonly topics?: readonly string[];
  /**
   * relay and relay-destination (required): the relay's name (its policy's), the theatre
   * streams it reads (without topicPrefix) and the destination topics it writes.
   */
  readonly relay?: { readonly name: string; readonly sources: readonly string[]; readonly destinations: readonly string[] };
}

const USER = /^[A-Za-z0-9._@=-]{1,256}$/;
const PIPELINE = /^[A-Za-z0-9._-]{1,64}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

function rules(principal: string, resource: KafkaAcl['resource'], name: string, prefixed: boolean, operations: readonly KafkaAclOperation[]): KafkaAcl[] {
  return operations.map((operation) => ({ principal, resource, name, prefixed, operation }));
}

/**
 * The ACLs of a role (least privilege; the brokers run the StandardAuthorizer with no access
 * where no ACL allows it, and only the admin creates or deletes topics):
 *
 * - **gateway** writes `telemetry.*` (readings and `telemetry.rejected`);
 * - **worker** reads `telemetry.*`, writes `derived.<pipeline>` and reads and writes
 *   `vigil.changelog.<pipeline>` and `vigil.repartition.<pipeline>` (a second stage's re-keyed input), in its groups `vigil.pipeline.<pipeline>` (with
 *   `pipelines`: only those; otherwise every pipeline);
 * - **analyst** reads `derived.<pipeline>` of the pipelines it is given (and, at a command
 *   centre, the relayed topics it is given by full name), in private `vigil.tap.*` groups;
 * - **relay** (on the theatre cluster) reads the streams its policy relays, in its groups
 *   `vigil.relay.<name>…`, and reads and writes its audit topic `vigil.audit.relay.<name>`;
 * - **relay-destination** (on the command cluster) writes its destination topics and reads
 *   them back (after a cut) in its groups `vigil.relay.<name>…`, nothing else. Destination
 *   topics are full names: no topicPrefix.
 *
 * Every topic and group name carries `topicPrefix`, as the processes use them (tap groups
 * excepted: the tap names its private groups without it).
 *
 * @example
 * roleAcls('analyst', 'alice', { pipelines: ['vitals'] });
 */
export function roleAcls(role: KafkaRole, user: string, options: RoleAclOptions = {}): KafkaAcl[] {
  if (!(KAFKA_ROLES as readonly string[]).includes(role)) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', `Kafka role ${JSON.stringify(role)} is not one of ${KAFKA_ROLES.join(', ')}`, { details: { role: String(role) } });
  }
  if (typeof user !== 'string' || !USER.test(user)) throw new VigilError('VIGIL_E_BUS_OPTIONS', `Kafka user ${JSON.stringify(user)} is not allowed; expected 1-256 characters of [A-Za-z0-9._@=-]`, { details: { user: String(user) } });
  const p = options.topicPrefix ?? '';
  const pipelines = options.pipelines;
  for (const name of pipelines ?? []) if (!PIPELINE.test(name)) throw new VigilError('VIGIL_E_BUS_OPTIONS', `pipeline name ${JSON.stringify(name)} is not a pipeline name`, { details: { pipeline: name } });
  const principal = `User:${user}`;
  if (role === 'gateway') return rules(principal, 'topic', `${p}telemetry.`, true, ['WRITE', 'DESCRIBE']);
  if (role === 'worker') {
    // DESCRIBE_CONFIGS: a worker checks its sources and its changelog (compacted, co-partitioned) before it starts.
    const read = rules(principal, 'topic', `${p}telemetry.`, true, ['READ', 'DESCRIBE', 'DESCRIBE_CONFIGS']);
    if (pipelines === undefined || pipelines.length === 0) {
      return [
        ...read,
        ...rules(principal, 'topic', `${p}derived.`, true, ['WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS']),
        ...rules(principal, 'topic', `${p}vigil.changelog.`, true, ['READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS']),
        ...rules(principal, 'topic', `${p}vigil.repartition.`, true, ['READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS']),
        ...rules(principal, 'group', `${p}vigil.pipeline.`, true, ['READ', 'DESCRIBE']),
      ];
    }
    return [
      ...read,
      ...pipelines.flatMap((n) => [
        ...rules(principal, 'topic', `${p}derived.${n}`, false, ['WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS']),
        ...rules(principal, 'topic', `${p}vigil.changelog.${n}`, false, ['READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS']),
        ...rules(principal, 'topic', `${p}vigil.repartition.${n}`, false, ['READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS']),
        ...rules(principal, 'group', `${p}vigil.pipeline.${n}`, false, ['READ', 'DESCRIBE']),
      ]),
    ];
  }
  if (role === 'relay' || role === 'relay-destination') return relayAcls(role, principal, p, options.relay);
  const topics = options.topics ?? [];
  if ((pipelines ?? []).length === 0 && topics.length === 0) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', 'an analyst reads the derived streams it is given: name at least one pipeline (or relayed topic)', { details: { role } });
  }
  for (const t of topics) if (!TOPIC.test(t)) throw new VigilError('VIGIL_E_BUS_OPTIONS', `topic ${JSON.stringify(t)} is not a topic name`, { details: { topic: t } });
  return [
    ...(pipelines ?? []).flatMap((n) => rules(principal, 'topic', `${p}derived.${n}`, false, ['READ', 'DESCRIBE', 'DESCRIBE_CONFIGS'])),
    ...topics.flatMap((t) => rules(principal, 'topic', t, false, ['READ', 'DESCRIBE', 'DESCRIBE_CONFIGS'])),
    ...rules(principal, 'group', 'vigil.tap.', true, ['READ', 'DESCRIBE']),
  ];
}

function relayAcls(role: 'relay' | 'relay-destination', principal: string, p: string, relay: RoleAclOptions['relay']): KafkaAcl[] {
  if (relay === undefined || relay.sources.length === 0 || relay.destinations.length === 0) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', `the ${role} role needs the relay's name, sources and destinations (its policy)`, { details: { role } });
  }
  if (!PIPELINE.test(relay.name)) throw new VigilError('VIGIL_E_BUS_OPTIONS', `relay name ${JSON.stringify(relay.name)} is not allowed; expected 1-64 characters of [A-Za-z0-9._-]`, { details: { relay: relay.name } });
  for (const t of [...relay.sources, ...relay.destinations]) if (!TOPIC.test(t)) throw new VigilError('VIGIL_E_BUS_OPTIONS', `topic ${JSON.stringify(t)} is not a topic name`, { details: { topic: t } });
  if (role === 'relay') {
    return [
      ...relay.sources.flatMap((t) => rules(principal, 'topic', `${p}${t}`, false, ['READ', 'DESCRIBE'])),
      ...rules(principal, 'topic', `${p}vigil.audit.relay.${relay.name}`, false, ['READ', 'WRITE', 'DESCRIBE']),
      // Its consumer group, and the throw-away groups it reads its audit topic back with (vigil.relay.<name>.audit.<random>).
      ...rules(principal, 'group', `${p}vigil.relay.${relay.name}`, false, ['READ', 'DESCRIBE']),
      ...rules(principal, 'group', `${p}vigil.relay.${relay.name}.`, true, ['READ', 'DESCRIBE']),
    ];
  }
  // The throw-away groups of the read-back after a cut: vigil.relay.<name>.reconcile.<random>.
  // DESCRIBE_CONFIGS: whether the broker stamps the topic's timestamps (the read-back by time needs the writer's).
  return [...relay.destinations.flatMap((t) => rules(principal, 'topic', t, false, ['READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS'])), ...rules(principal, 'group', `vigil.relay.${relay.name}.`, true, ['READ', 'DESCRIBE'])];
}
