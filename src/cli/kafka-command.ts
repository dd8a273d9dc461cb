import { Command } from 'commander';
import { KAFKA_ROLES, KafkaBus, roleAcls, type KafkaRole, type TopicSpec } from '../bus';
import { loadConfig, type VigilConfig } from '../config';
import { VigilError } from '../errors';
import { GATEWAY_TOPICS } from './gateway-runner';
import { printJson, examples } from './output';
import { pipelineCatalogue } from './pipeline-catalogue';
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
    .action(async (o: { config?: string; pipeline?: string[] }) => {
      const catalogue = pipelineCatalogue();
      const names = o.pipeline ?? [...catalogue.keys()];
      for (const n of names) if (!catalogue.has(n)) throw new VigilError('VIGIL_E_CLI_USAGE', `--pipeline ${n}: not a pipeline; allowed: ${[...catalogue.keys()].join(', ')}`, { details: { option: 'pipeline' } });
      const { cfg, bus } = adminBus(o.config);
      try {
        const specs = deploymentTopics(cfg, names);
        await bus.admin().ensureTopics(specs);
        printJson({ brokers: cfg.kafka.brokers, topics: specs.map((s) => s.topic) });
      } finally {
        await bus.close();
      }
    });
  kafka
    .command('grant <role> <user>')
    .description(`give a Kafka user the ACLs of a role (${KAFKA_ROLES.join(', ')}): a gateway writes telemetry.*; a worker reads telemetry.*, writes derived.* and its changelogs in its groups; an analyst reads the derived streams of --pipeline`)
    .addHelpText('after', examples('vigil kafka grant gateway gw-1 --config admin.yaml', 'vigil kafka grant analyst alice --config admin.yaml -p vitals --dry-run'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); its kafka section says where and as whom')
    .option('-p, --pipeline <name...>', 'analyst: the pipelines whose derived stream it reads (required); worker: only these pipelines (default: all)')
    .option('--dry-run', 'print the ACLs without creating them')
    .action(async (role: string, user: string, o: { config?: string; pipeline?: string[]; dryRun?: boolean }) => {
      if (!(KAFKA_ROLES as readonly string[]).includes(role)) throw new VigilError('VIGIL_E_CLI_USAGE', `role "${role}" is not one of ${KAFKA_ROLES.join(', ')}`, { details: { argument: 'role' } });
      const catalogue = pipelineCatalogue();
      for (const n of o.pipeline ?? []) if (!catalogue.has(n)) throw new VigilError('VIGIL_E_CLI_USAGE', `--pipeline ${n}: not a pipeline; allowed: ${[...catalogue.keys()].join(', ')}`, { details: { option: 'pipeline' } });
      if (role === 'analyst' && (o.pipeline ?? []).length === 0) throw new VigilError('VIGIL_E_CLI_USAGE', 'an analyst reads the derived streams it is given: name them with --pipeline', { details: { option: 'pipeline' } });
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const acls = roleAcls(role as KafkaRole, user, { topicPrefix: cfg.kafka.topicPrefix, ...(o.pipeline === undefined ? {} : { pipelines: o.pipeline }) });
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
