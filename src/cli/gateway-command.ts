import { Command } from 'commander';
import { loadConfig } from '../config';
import { startGateway } from './gateway-runner';
import { configBaseDir } from './tls-files';
import { runUntilSignal } from './run-until-signal';
import { examples } from './output';

/** `vigil gateway --config <file>`: runs an edge gateway until SIGTERM or SIGINT (a stop is bounded: see runUntilSignal). */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run an edge gateway: MQTT frames in, admitted sealed records to Kafka (spooled to disk while Kafka is unreachable)')
    .addHelpText('after', examples('vigil gateway --config vigil.yaml', 'VIGIL_CONFIG=/etc/vigil/gateway.yaml vigil gateway'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); relative paths in it are taken from its folder')
    .action(async (o: { config?: string }) => {
      const cfg = loadConfig(o.config === undefined ? {} : { file: o.config });
      const running = await startGateway(cfg, { baseDir: configBaseDir(o.config ?? process.env.VIGIL_CONFIG) });
      // SIGTERM/SIGINT stop it; SIGHUP reads the stream key rings again (also re-read within a second of changing).
      await runUntilSignal(running);
    });
}
