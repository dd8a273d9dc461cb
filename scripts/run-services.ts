/**
 * `npm run services`: starts real Mosquitto and Kafka on free loopback ports for manual
 * work, prints the environment to point Vigil (or `npm test`) at them, and stops both on
 * Ctrl-C. `npm run services -- --fetch-only` only fills the Kafka jar cache (CI uses it).
 */
import { ensureKafkaJars, ensureMosquitto, startServices } from './services';

async function run(): Promise<void> {
  if (process.argv.includes('--fetch-only')) {
    console.log(`kafka jars: ${ensureKafkaJars((l) => console.log(l))}`);
    console.log(`mosquitto: ${ensureMosquitto()}`);
    return;
  }
  const s = await startServices(process.env, (l) => console.error(l));
  console.log(s.summary);
  console.log(`export VIGIL_MQTT_URL=${s.mqttUrl}`);
  console.log(`export VIGIL_KAFKA_BROKERS=${s.kafkaBrokers}`);
  console.log('Ctrl-C stops them.');
  const stop = (): void => {
    void s.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  setInterval(() => undefined, 1 << 30);
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
