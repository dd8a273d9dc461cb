import { startKafka } from './kafka';
import { startMosquitto } from './mosquitto';

/** Addresses of the services for a run, plus how to stop the ones this call started. */
export interface RunningServices {
  readonly kafkaBrokers: string;
  readonly mqttUrl: string;
  /** Human-readable account of what was started or reused. */
  readonly summary: string;
  stop(): Promise<void>;
}

/**
 * Starts Mosquitto and Kafka side by side, unless the environment points at running ones
 * (`VIGIL_MQTT_URL`, `VIGIL_KAFKA_BROKERS`). If one fails, the other is stopped too.
 */
export async function startServices(env: Readonly<Record<string, string | undefined>> = process.env, log: (line: string) => void = () => undefined): Promise<RunningServices> {
  const t0 = Date.now();
  const [mq, kf] = await Promise.allSettled([
    env.VIGIL_MQTT_URL ? Promise.resolve(null) : startMosquitto(),
    env.VIGIL_KAFKA_BROKERS ? Promise.resolve(null) : startKafka({ log }),
  ]);
  const started = [mq, kf].flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const failed = [mq, kf].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  const m = mq.status === 'fulfilled' ? mq.value : null;
  const k = kf.status === 'fulfilled' ? kf.value : null;
  const mqttUrl = m ? m.url : (env.VIGIL_MQTT_URL as string);
  const kafkaBrokers = k ? k.brokers : (env.VIGIL_KAFKA_BROKERS as string);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const summary =
    `mosquitto ${mqttUrl} ${m ? `(started, pid ${m.pid})` : '(from VIGIL_MQTT_URL)'}, ` +
    `kafka ${kafkaBrokers} ${k ? `(started, pid ${k.pid})` : '(from VIGIL_KAFKA_BROKERS)'}; ready in ${secs} s`;
  return {
    kafkaBrokers,
    mqttUrl,
    summary,
    async stop() {
      await Promise.all(started.map((s) => s.stop()));
    },
  };
}
