import { VigilError } from '../../errors';

/** Who a Kafka user is to Vigil (issue 12): what it may read and write, nothing more. */
export const KAFKA_ROLES = ['gateway', 'worker', 'analyst'] as const;
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
}

const USER = /^[A-Za-z0-9._@=-]{1,256}$/;
const PIPELINE = /^[A-Za-z0-9._-]{1,64}$/;

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
 * - **analyst** reads `derived.<pipeline>` of the pipelines it is given, in private
 *   `vigil.tap.*` groups.
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
  if (pipelines === undefined || pipelines.length === 0) {
    throw new VigilError('VIGIL_E_BUS_OPTIONS', 'an analyst reads the derived streams it is given: name at least one pipeline', { details: { role } });
  }
  return [...pipelines.flatMap((n) => rules(principal, 'topic', `${p}derived.${n}`, false, ['READ', 'DESCRIBE', 'DESCRIBE_CONFIGS'])), ...rules(principal, 'group', 'vigil.tap.', true, ['READ', 'DESCRIBE'])];
}
