import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVigilError } from '../errors';
import { auditCommand } from './audit-command';
import { configCommand } from './config-command';
import { demoCommand } from './demo-command';
import { deviceCommand } from './device-command';
import { frameCommand } from './frame-command';
import { gatewayCommand } from './gateway-command';
import { keysCommand } from './keys-command';
import { workerCommand } from './worker-command';
import { addRunOptions, simCommand } from './sim-command';
import { tapCommand } from './tap-command';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Builds the `vigil` command tree; the composition root of the product. */
export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil: telemetry ingestion and stream analytics for military IoT')
    .version(version())
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(configCommand());
  program.addCommand(keysCommand());
  program.addCommand(deviceCommand());
  program.addCommand(frameCommand());
  program.addCommand(simCommand());
  program.addCommand(addRunOptions(new Command('simulate')));
  program.addCommand(gatewayCommand());
  program.addCommand(tapCommand());
  program.addCommand(workerCommand());
  program.addCommand(demoCommand());
  program.addCommand(auditCommand());
  exitOverrideEverywhere(program);
  return program;
}

/** Commands added with addCommand do not inherit exitOverride; errors must reach main(), not process.exit. */
function exitOverrideEverywhere(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOverrideEverywhere(sub);
}

/** Entry point of `bin/vigil.js`. Errors become one clear line on stderr and a non-zero exit. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (isVigilError(err)) {
      process.stderr.write(`vigil: ${err.code}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`vigil: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
