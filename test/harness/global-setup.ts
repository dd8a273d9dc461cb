import { startServices, type RunningServices } from '../../scripts/services';

/**
 * Starts real Mosquitto and Kafka for the integration project (or reuses the ones named by
 * VIGIL_MQTT_URL / VIGIL_KAFKA_BROKERS) and hands their addresses to the test workers
 * through the environment, which they inherit.
 */
export default async function globalSetup(): Promise<void> {
  const services = await startServices(process.env, (line) => process.stderr.write(`\n[vigil services] ${line}\n`));
  process.env.VIGIL_MQTT_URL = services.mqttUrl;
  process.env.VIGIL_KAFKA_BROKERS = services.kafkaBrokers;
  process.stderr.write(`\n[vigil services] ${services.summary}\n`);
  (globalThis as { __vigilServices?: RunningServices }).__vigilServices = services;
}
