import { Command } from 'commander';
import { loadConfig } from '../config';
import { configBaseDir } from './tls-files';
import { pipelineCatalogue } from './pipeline-catalogue';
import { runUntilSignal } from './run-until-signal';
import { limitHeapGrowth } from './worker-heap';
import { startWorker } from './worker-runner';
import { examples } from './output';

/** `vigil worker --config <file>`: runs pipeline workers until SIGTERM or SIGINT. */
export function workerCommand(): Command {
  return new Command('worker')
    .description('run pipeline workers: telemetry from Kafka through the pipelines to derived.<pipeline> (several processes split the partitions)')
    .addHelpText('after', examples('vigil worker --config vigil.yaml', 'vigil worker --config vigil.yaml -p vitals geofence'))
    .option('-c, --config <file>', 'YAML or JSON config file (default: $VIGIL_CONFIG); relative paths in it are taken from its folder')
    .option('-p, --pipeline <name...>', 'pipelines to run (default: worker.pipelines, or all)')
    .action(async (o: { config?: string; pipeline?: string[] }) => {
      const base = loadConfig(o.config === undefined ? {} : { file: o.config });
      const cfg = o.pipeline ? { ...base, worker: { ...base.worker, pipelines: o.pipeline } } : base;
      limitHeapGrowth(cfg.worker.heapGrowingPercent);
      const running = await startWorker(cfg, pipelineCatalogue(), { baseDir: configBaseDir(o.config ?? process.env.VIGIL_CONFIG) });
      running.log.info({ pipelines: [...running.workers.keys()], http: running.http.url }, 'worker started');
      // SIGTERM/SIGINT stop it; SIGHUP reads the stream key rings again (also re-read within a second of changing).
      await runUntilSignal(running);
    });
}
