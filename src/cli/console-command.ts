import { Command } from 'commander';
import { loadConfig } from '../config';
import { startConsole } from './console-runner';
import { pipelineCatalogue } from './pipeline-catalogue';
import { runUntilSignal } from './run-until-signal';
import { configBaseDir } from './tls-files';
import { examples } from './output';

/** `vigil console --config <file>`: the analysts' map and WebSocket tap against Kafka, until SIGTERM or SIGINT. */
export function consoleCommand(): Command {
  return new Command('console')
    .description('serve the live map (/map) and the WebSocket tap (/tap/<stream>) of the derived streams whose keys it holds, against Kafka, with /metrics, /healthz, /readyz; HTTPS with http.tls; loopback unless http.host says otherwise')
    .addHelpText('after', examples('vigil console --config vigil.yaml', 'vigil console --config vigil.yaml -s derived.vitals derived.geofence'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); relative paths in it are taken from its folder')
    .option('-s, --stream <name...>', 'streams to offer, without kafka.topicPrefix (default: console.streams, or derived.<pipeline> of every key in console.keyDir)')
    .action(async (o: { config?: string; stream?: string[] }) => {
      const base = loadConfig(o.config === undefined ? {} : { file: o.config });
      const cfg = o.stream ? { ...base, console: { ...base.console, streams: o.stream } } : base;
      const running = await startConsole(cfg, pipelineCatalogue(), { baseDir: configBaseDir(o.config ?? process.env.VIGIL_CONFIG) });
      running.log.info({ http: running.http.url, map: `${running.http.url}/map`, streams: running.streams }, 'console started');
      // SIGTERM/SIGINT stop it; SIGHUP reads the stream key rings again (also re-read within a second of changing).
      await runUntilSignal(running);
    });
}
