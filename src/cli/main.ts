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
import { consoleCommand } from './console-command';
import { kafkaCommand } from './kafka-command';
import { pkiCommand } from './pki-command';
import { workerCommand } from './worker-command';
import { relayCommand } from './relay-command';
import { addRunOptions, simCommand } from './sim-command';
import { tapCommand } from './tap-command';
import { cotCommand } from './cot-command';
import { examples } from './output';

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
    .addHelpText('after', examples('vigil demo', 'vigil keys gen ingest ingest-1 -o keys/ingest.key.json', 'vigil gateway --config vigil.yaml', 'vigil <command> --help'))
    .version(version())
    .showHelpAfterError()
    // A command's options apply where they are given: vigil relay --policy and vigil relay verify-audit --policy are not one option.
    .enablePositionalOptions()
    .exitOverride();
  program.addCommand(configCommand());
  program.addCommand(keysCommand());
  program.addCommand(pkiCommand());
  program.addCommand(kafkaCommand());
  program.addCommand(deviceCommand());
  program.addCommand(frameCommand());
  program.addCommand(simCommand());
  program.addCommand(addRunOptions(new Command('simulate')));
  program.addCommand(gatewayCommand());
  program.addCommand(tapCommand());
  program.addCommand(workerCommand());
  program.addCommand(consoleCommand());
  program.addCommand(cotCommand());
  program.addCommand(demoCommand());
  program.addCommand(auditCommand());
  program.addCommand(relayCommand());
  exitOverrideEverywhere(program);
  return program;
}

/**
 * Commands added with addCommand do not inherit exitOverride; errors must reach main(), not
 * process.exit. The argument parser's own errors carry VIGIL_E_CLI_USAGE like every other.
 */
function exitOverrideEverywhere(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({ outputError: (str, write) => write(`vigil: VIGIL_E_CLI_USAGE: ${str.replace(/^error: /, '')}`) });
  for (const sub of cmd.commands) exitOverrideEverywhere(sub);
}

/** Commander's codes for help and version output: not errors. */
const NOT_ERRORS = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version', 'commander.executeSubCommandAsync']);

/**
 * `vigil config options | head`: a reader that goes away ends the output quietly, not with a
 * stack trace. Added once per stream, found by name: a module loaded again (each jest test
 * file) must not add another listener to the same process.stdout (MaxListenersExceededWarning).
 */
function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listeners('error').some((l) => l.name === 'vigilQuietOnClosedPipe')) continue;
    stream.on('error', function vigilQuietOnClosedPipe(err: NodeJS.ErrnoException) {
      if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      throw err;
    });
  }
}

/** Entry point of `bin/vigil.js`. Errors become one clear line on stderr and a non-zero exit. */
export async function main(argv: readonly string[]): Promise<void> {
  quietOnClosedPipe();
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // A usage error exits 2, as other refused input does; help and --version exit 0.
      process.exitCode = NOT_ERRORS.has(err.code) || err.exitCode === 0 ? err.exitCode : 2;
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
