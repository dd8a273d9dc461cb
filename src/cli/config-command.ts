import { Command } from 'commander';
import { configOptions, loadConfig } from '../config';

/** `vigil config check|options`: validate a config file, list every option. */
export function configCommand(): Command {
  const cmd = new Command('config').description('check a configuration or list the options');
  cmd
    .command('check')
    .description('validate a config file plus VIGIL_* overrides and print the effective configuration')
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG)')
    .action((opts: { config?: string }) => {
      const cfg = loadConfig(opts.config === undefined ? {} : { file: opts.config });
      process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
    });
  cmd
    .command('options')
    .description('list every option with its environment variable and default')
    .action(() => {
      for (const o of configOptions()) {
        process.stdout.write(`${o.key.padEnd(22)} ${o.env.padEnd(26)} default ${JSON.stringify(o.defaultValue)}  ${o.description}\n`);
      }
    });
  return cmd;
}
