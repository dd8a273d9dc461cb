import { Command, Option } from 'commander';
import { configOptions, loadConfig } from '../config';
import { checkConfigFiles } from './config-files';
import { configRelative } from './tls-files';
import { examples } from './output';

const ROLES = ['gateway', 'worker', 'console'] as const;

/** `vigil config check|options`: validate a config file, list every option. */
export function configCommand(): Command {
  const cmd = new Command('config').description('check a configuration or list the options').addHelpText('after', examples('vigil config check -c vigil.yaml', 'vigil config options | grep kafka'));
  cmd
    .command('check')
    .description('validate a config file plus VIGIL_* overrides and print the effective configuration')
    .addHelpText('after', examples('vigil config check -c vigil.yaml', 'VIGIL_KAFKA_BROKERS=kafka-1:9092 vigil config check -c vigil.yaml', 'vigil config check --files gateway -c deploy/gateway/vigil.yaml'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG)')
    .addOption(new Option('--files <role>', 'also check every file the role reads at start, as it will read them (keys and their modes, registry, TLS certificates and keys, passwords; no secret is printed): exit 2 if any is unusable').choices(ROLES))
    .action(async (opts: { config?: string; files?: (typeof ROLES)[number] }) => {
      const cfg = loadConfig(opts.config === undefined ? {} : { file: opts.config });
      if (opts.files === undefined) {
        process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
        return;
      }
      const role = opts.files;
      const roles = new Set([role, 'kafka', 'http', ...(role === 'gateway' ? ['mqtt'] : [])] as const);
      const checks = await checkConfigFiles(cfg, configRelative(opts.config ?? process.env.VIGIL_CONFIG), roles as Parameters<typeof checkConfigFiles>[2]);
      for (const c of checks) process.stdout.write(`${c.ok ? 'ok     ' : 'FAILED '} ${c.key}: ${c.what}${c.ok ? '' : ` — ${c.code}: ${c.message}`}\n`);
      const failed = checks.filter((c) => !c.ok).length;
      process.stdout.write(`${checks.length - failed} ok, ${failed} failed\n`);
      if (failed > 0) process.exitCode = 2;
    });
  cmd
    .command('options')
    .description('list every option with its environment variable and default')
    .addHelpText('after', examples('vigil config options', 'vigil config options | grep ^gateway', 'vigil config options | head'))
    .action(() => {
      for (const o of configOptions()) {
        process.stdout.write(`${o.key.padEnd(22)} ${o.env.padEnd(26)} default ${JSON.stringify(o.defaultValue)}  ${o.description}\n`);
      }
    });
  return cmd;
}
