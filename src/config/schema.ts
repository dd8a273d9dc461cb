import { z } from 'zod';

/**
 * The configuration schema. Every option has its default and meaning beside it
 * (`.describe()`); `docs/configuration.md` lists them and a test keeps it in step.
 * Objects are strict: an unknown key is an error, never silently ignored.
 */

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, { message: 'expected "host:port", e.g. "127.0.0.1:9092"' });

export const configSchema = z.strictObject({
  log: z
    .strictObject({
      level: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info')
        .describe('Minimum level of the JSON log lines written to stdout.'),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      url: z
        .string()
        .regex(/^(mqtt|mqtts|ws|wss|tcp|tls):\/\/[^\s]+$/, { message: 'expected an mqtt://, mqtts://, ws:// or wss:// URL' })
        .default('mqtt://127.0.0.1:1883')
        .describe('MQTT broker the gateway subscribes to and devices publish to.'),
      clientId: z.string().min(1).max(128).default('vigil').describe('Prefix of the MQTT client ids this process uses.'),
    })
    .prefault({}),
  kafka: z
    .strictObject({
      brokers: z
        .array(hostPort)
        .min(1, { message: 'expected at least one broker' })
        .default(['127.0.0.1:9092'])
        .describe('Kafka bootstrap brokers, "host:port"; comma-separated in the environment.'),
      clientId: z.string().min(1).max(128).default('vigil').describe('Kafka client id of this process.'),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1').describe('Address the HTTP server (/metrics, /healthz, /readyz) binds to.'),
      port: z.number().int().min(0).max(65535).default(9464).describe('Port of the HTTP server; 0 takes a free port.'),
    })
    .prefault({}),
});

/** The validated, defaulted, frozen configuration. */
export type VigilConfig = z.output<typeof configSchema>;
/** What a config file may contain (every key optional where it has a default). */
export type VigilConfigInput = z.input<typeof configSchema>;
