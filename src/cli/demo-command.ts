import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config';
import { runDemo } from './demo/demo';
import { pipelineCatalogue } from './pipeline-catalogue';
import { examples } from './output';
import { limitHeapGrowth } from './worker-heap';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port number 0..65535');
  return n;
}

/** `vigil demo`: everything in one process, no server to install. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run everything in one process: embedded MQTT broker, in-memory bus, gateway, all pipelines, a simulated fleet, /metrics and a live tap')
    .addHelpText('after', examples('vigil demo', 'vigil demo --duration 60 --mqtt-port 0', 'vigil demo --kafka 127.0.0.1:9092 --mqtt-url mqtt://127.0.0.1:1883'))
    .option('--dir <dir>', 'where keys, registry, spool and logs go', '.vigil/demo')
    .option('--mqtt-port <port>', 'port of the embedded MQTT broker (a free one when taken)', port, 1883)
    .option('--http-port <port>', 'port of /metrics, /healthz, /readyz (a free one when taken)', port, 9464)
    .option('--mqtt-url <url>', 'use this MQTT 5 broker instead of the embedded one')
    .option('--kafka <brokers>', 'use this Kafka (host:port,…) instead of the in-memory bus', (v: string) => v.split(',').map((s) => s.trim()))
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', (v: string) => Number(v))
    .action(async (o: { dir: string; mqttPort: number; httpPort: number; mqttUrl?: string; kafka?: string[]; duration?: number }) => {
      // The demo runs the pipelines in this process: the worker's heap growth cap applies
      // (worker.heapGrowingPercent, from VIGIL_WORKER_HEAP_GROWING_PERCENT or its default).
      const heapEnv = 'VIGIL_WORKER_HEAP_GROWING_PERCENT';
      limitHeapGrowth(loadConfig({ env: process.env[heapEnv] === undefined ? {} : { [heapEnv]: process.env[heapEnv] } }).worker.heapGrowingPercent);
      const demo = await runDemo(pipelineCatalogue(), {
        dir: o.dir, mqttPort: o.mqttPort, httpPort: o.httpPort,
        ...(o.mqttUrl ? { mqttUrl: o.mqttUrl } : {}),
        ...(o.kafka ? { kafkaBrokers: o.kafka } : {}),
      });
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.stdout.write('\nstopping the demo…\n');
          void demo.stop().then(() => {
            const seen = [...demo.derivedSeen].map(([t, n]) => `${t} ${n}`).join(', ');
            process.stdout.write(`stopped. derived records seen: ${seen || 'none'}\n`);
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        if (o.duration !== undefined && Number.isFinite(o.duration)) setTimeout(stop, o.duration * 1000).unref();
      });
    });
}
