import { Command } from 'commander';
import { KAFKA_ROLES, KafkaBus, roleAcls, type KafkaRole, type TopicSpec } from '../bus';
import { loadConfig, type VigilConfig } from '../config';
import { VigilError } from '../errors';
import { GATEWAY_TOPICS } from './gateway-runner';
import { printJson, examples } from './output';
import { pipelineCatalogue } from './pipeline-catalogue';
import { relayAuditTopic, type RelayPolicy } from '../relay';
import { loadPolicyDocument } from './relay-command';
import { configRelative, kafkaSecurity } from './tls-files';

function adminBus(configFile: string | undefined): { cfg: VigilConfig; bus: KafkaBus } {
  const cfg = loadConfig(configFile === undefined ? {} : { file: configFile });
  const bus = new KafkaBus({ brokers: cfg.kafka.brokers, ...kafkaSecurity(cfg.kafka, configRelative(configFile ?? process.env.VIGIL_CONFIG)), clientId: `${cfg.kafka.clientId}-admin`, logLevel: 'nothing', retries: 2, maxRetryTimeMs: 2000 });
  return { cfg, bus };
}

/** Every topic of a deployment: what gateways write, and each pipeline's derived stream and changelog (co-partitioned with the sources). */
export function deploymentTopics(cfg: VigilConfig, pipelines: readonly string[]): TopicSpec[] {
  const p = cfg.kafka.topicPrefix;
  const partitions = cfg.kafka.partitions;
  const catalogue = pipelineCatalogue();
  return [
    ...GATEWAY_TOPICS.map((t) => ({ topic: p + t, partitions })),
    ...pipelines.flatMap((n) => [
      { topic: `${p}derived.${n}`, partitions },
      { topic: `${p}vigil.changelog.${n}`, partitions, compacted: true },
      // A pipeline with a second stage re-keys its first stage's results through this topic (as many partitions as its sources).
      ...(catalogue.get(n)?.repartition === undefined ? [] : [{ topic: `${p}vigil.repartition.${n}`, partitions }]),
    ]),
  ];
}

/** The topics a relay writes at its destination: the policy's full names, `kafka.partitions` each (what the relay's own check asks for). */
export function relayDestinationTopics(cfg: VigilConfig, policy: RelayPolicy): TopicSpec[] {
  return policy.streams.map((s) => ({ topic: s.destination, partitions: cfg.kafka.partitions }));
}

/**
 * `vigil kafka init|grant`: provisions a cluster that runs with ACLs (issue 12), as its admin
 * user (kafka.sasl of the config): the topics, so no other role needs to create any, and
 * each role's ACLs.
 */
export function kafkaCommand(): Command {
  const kafka = new Command('kafka').description("provision Kafka for Vigil as the cluster's admin user (kafka.sasl of the config): topics, and ACLs per role").addHelpText('after', examples('vigil kafka init --config admin.yaml', 'vigil kafka grant gateway gw-1 --config admin.yaml'));
  kafka
    .command('init')
    .description('create every topic of the deployment: telemetry.<kind>, telemetry.rejected, derived.<pipeline>, vigil.changelog.<pipeline> (compacted) and vigil.repartition.<pipeline> (pipelines with a second stage), with kafka.partitions partitions; existing ones are left as they are')
    .addHelpText('after', examples('vigil kafka init --config admin.yaml', 'vigil kafka init --config admin.yaml -p vitals geofence'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); its kafka section says where and as whom')
    .option('-p, --pipeline <name...>', 'pipelines whose topics to create (default: all)')
    .option('--relay <policy>', "theatre cluster: also the audit topic of the relay of this policy (vigil.audit.relay.<name>, one partition, kept for ever)")
    .option('--relay-destination <policy>', 'command cluster: create only the destination topics of this relay policy (kafka.partitions partitions each, as the relay asks for), nothing of the deployment')
    .action(async (o: { config?: string; pipeline?: string[]; relay?: string; relayDestination?: string }) => {
      const catalogue = pipelineCatalogue();
      const names = o.pipeline ?? [...catalogue.keys()];
      for (const n of names) if (!catalogue.has(n)) throw new VigilError('VIGIL_E_CLI_USAGE', `--pipeline ${n}: not a pipeline; allowed: ${[...catalogue.keys()].join(', ')}`, { details: { option: 'pipeline' } });
      if (o.relayDestination !== undefined && (o.pipeline !== undefined || o.relay !== undefined)) throw new VigilError('VIGIL_E_CLI_USAGE', '--relay-destination creates a command cluster\'s relay topics only: not with --pipeline or --relay', { details: { option: 'relay-destination' } });
      const theatreRelay = o.relay === undefined ? undefined : loadPolicyDocument(o.relay);
      const destinationRelay = o.relayDestination === undefined ? undefined : loadPolicyDocument(o.relayDestination);
      const { cfg, bus } = adminBus(o.config);
      try {
        const specs = destinationRelay !== undefined ? relayDestinationTopics(cfg, destinationRelay) : [...deploymentTopics(cfg, names), ...(theatreRelay === undefined ? [] : [{ topic: relayAuditTopic(theatreRelay, cfg.kafka.topicPrefix), partitions: 1, retentionMs: -1 }])];
        await bus.admin().ensureTopics(specs);
        printJson({ brokers: cfg.kafka.brokers, topics: specs.map((s) => s.topic) });
      } finally {
        await bus.close();
      }
    });
  kafka
    .command('grant <role> <user>')
    .description(`give a Kafka user the ACLs of a role (${KAFKA_ROLES.join(', ')}): a gateway writes telemetry.*; a worker reads telemetry.*, writes derived.* and its changelogs in its groups; an analyst reads the derived streams of --pipeline; a relay (theatre cluster) reads the streams of its --policy and writes its audit topic; relay-destination (command cluster) writes the policy's destination topics`)
    .addHelpText('after', examples('vigil kafka grant gateway gw-1 --config admin.yaml', 'vigil kafka grant analyst alice --config admin.yaml -p vitals --dry-run', 'vigil kafka grant relay relay-north --policy relay-policy.yaml --config theatre-admin.yaml', 'vigil kafka grant relay-destination relay-north --policy relay-policy.yaml --config command-admin.yaml'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); its kafka section says where and as whom')
    .option('-p, --pipeline <name...>', 'analyst: the pipelines whose derived stream it reads (required); worker: only these pipelines (default: all)')
    .option('--policy <file>', 'relay, relay-destination: the relay policy (its name, sources and destination topics); required')
    .option('-t, --topic <name...>', 'analyst at a command centre: relayed topics it reads, full names (e.g. theatre.north.derived.vitals)')
    .option('--dry-run', 'print the ACLs without creating them')
    .action(async (role: string, user: string, o: { config?: string; pipeline?: string[]; policy?: string; topic?: string[]; dryRun?: boolean }) => {
      if (!(KAFKA_ROLES as readonly string[]).includes(role)) throw new VigilError('VIGIL_E_CLI_USAGE', `role "${role}" is not one of ${KAFKA_ROLES.join(', ')}`, { details: { argument: 'role' } });
      const catalogue = pipelineCatalogue();
      for (const n of o.pipeline ?? []) if (!catalogue.has(n)) throw new VigilError('VIGIL_E_CLI_USAGE', `--pipeline ${n}: not a pipeline; allowed: ${[...catalogue.keys()].join(', ')}`, { details: { option: 'pipeline' } });
      if (role === 'analyst' && (o.pipeline ?? []).length === 0 && (o.topic ?? []).length === 0) throw new VigilError('VIGIL_E_CLI_USAGE', 'an analyst reads the derived streams it is given: name them with --pipeline (or relayed topics with --topic)', { details: { option: 'pipeline' } });
      if (o.topic !== undefined && role !== 'analyst') throw new VigilError('VIGIL_E_CLI_USAGE', `--topic is for the analyst role, not ${role}`, { details: { option: 'topic' } });
      const relayRole = role === 'relay' || role === 'relay-destination';
      if (relayRole !== (o.policy !== undefined)) throw new VigilError('VIGIL_E_CLI_USAGE', relayRole ? `the ${role} role is granted for one relay: give its policy with --policy` : `--policy is for the relay and relay-destination roles, not ${role}`, { details: { option: 'policy' } });
      const policy = o.policy === undefined ? undefined : loadPolicyDocument(o.policy);
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const acls = roleAcls(role as KafkaRole, user, {
        topicPrefix: cfg.kafka.topicPrefix,
        ...(o.pipeline === undefined ? {} : { pipelines: o.pipeline }),
        ...(o.topic === undefined ? {} : { topics: o.topic }),
        ...(policy === undefined ? {} : { relay: { name: policy.name, sources: policy.streams.map((s) => s.source), destinations: policy.streams.map((s) => s.destination) } }),
      });
      if (o.dryRun !== true) {
        const { bus } = adminBus(o.config);
        try {
          await bus.createAcls(acls);
        } finally {
          await bus.close();
        }
      }
      printJson({ role, user, created: o.dryRun !== true, acls: acls.map((a) => `${a.operation} ${a.resource} ${a.name}${a.prefixed ? '*' : ''}`) });
    });
  return kafka;
}
