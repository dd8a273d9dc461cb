import { z } from 'zod';

/**
 * The configuration schema. Every option has its default and meaning beside it
 * (`.describe()`); `docs/configuration.md` lists them and a test keeps it in step.
 * Objects are strict: an unknown key is an error, never silently ignored.
 */

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, { message: 'expected "host:port", e.g. "127.0.0.1:9092"' });

/** `<section>.ssl`: TLS to a Kafka cluster (`kafka.ssl` for the deployment's own, `relay.ssl` for a relay's destination). */
function kafkaSslSchema(section: string) {
  return z
    .strictObject({
      caFile: z.string().min(1).describe("PEM file of the CA that signed the brokers' certificates."),
      certFile: z.string().min(1).optional().describe("PEM file of this client's certificate, when the brokers ask for one (ssl.client.auth)."),
      keyFile: z.string().min(1).optional().describe("PEM file of this client's private key; must not be readable by group or others (chmod 600)."),
      serverName: z.string().min(1).optional().describe("Name the brokers' certificates must hold, when not the host of each broker address."),
    })
    .optional()
    .describe(`TLS to the brokers${section === 'kafka' ? '' : ' of ' + section + '.brokers'} (their SSL or SASL_SSL listener).`);
}

/** `<section>.sasl`: SCRAM credentials, the password from a 0600 file or a variable, never the config file. */
function kafkaSaslSchema(section: string) {
  return z
    .strictObject({
      mechanism: z.enum(['scram-sha-512', 'scram-sha-256']).default('scram-sha-512').describe('SASL mechanism the brokers enable for this user.'),
      username: z.string().min(1).max(256).describe('Kafka user (its ACLs decide what this process may do: vigil kafka grant).'),
      passwordFile: z.string().min(1).optional().describe('File holding the password on one line; must not be readable by group or others (chmod 600).'),
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { message: 'expected an environment variable name' }).optional().describe('Environment variable holding the password (instead of passwordFile).'),
      password: z.unknown().optional().describe('Refused: a password never goes in the config file.'),
    })
    .superRefine((v, ctx) => {
      if (v.password !== undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: `a password never goes in the config file in clear: put it in a file (${section}.sasl.passwordFile, mode 0600) or an environment variable (${section}.sasl.passwordEnv)` });
      if ((v.passwordFile === undefined) === (v.passwordEnv === undefined)) ctx.addIssue({ code: 'custom', path: [v.passwordFile === undefined ? 'passwordFile' : 'passwordEnv'], message: `give exactly one of ${section}.sasl.passwordFile and ${section}.sasl.passwordEnv` });
    })
    .optional()
    .describe(`SASL authentication to the brokers${section === 'kafka' ? '' : ' of ' + section + '.brokers'} (SASL_SSL with ${section}.ssl); without it, no authentication.`);
}

function sslPairCheck(section: string, k: { ssl?: { certFile?: string | undefined; keyFile?: string | undefined } | undefined }, ctx: z.RefinementCtx): void {
  if (k.ssl !== undefined && (k.ssl.certFile === undefined) !== (k.ssl.keyFile === undefined)) ctx.addIssue({ code: 'custom', path: ['ssl', k.ssl.certFile === undefined ? 'certFile' : 'keyFile'], message: `give both ${section}.ssl.certFile and ${section}.ssl.keyFile, or neither` });
}

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
      tls: z
        .strictObject({
          caFile: z.string().min(1).describe('PEM file of the CA that signed the broker\'s certificate (and, with require_certificate, ours).'),
          certFile: z.string().min(1).optional().describe('PEM file of this client\'s certificate (Mosquitto with use_identity_as_username takes its CN as the MQTT user).'),
          keyFile: z.string().min(1).optional().describe('PEM file of this client\'s private key; must not be readable by group or others (chmod 600).'),
          serverName: z.string().min(1).optional().describe('Name the broker\'s certificate must hold, when not the host of mqtt.url.'),
        })
        .optional()
        .describe('TLS to the broker (mqtts:// URLs), with a client certificate when certFile and keyFile are given.'),
      username: z.string().min(1).max(256).optional().describe('MQTT user of this process (a broker with password authentication); with TLS client certificates the certificate is the identity instead.'),
      passwordFile: z.string().min(1).optional().describe('File holding the MQTT password on one line; must not be readable by group or others (chmod 600).'),
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { message: 'expected an environment variable name' }).optional().describe('Environment variable holding the MQTT password (instead of passwordFile).'),
      password: z.unknown().optional().describe('Refused: a password never goes in the config file.'),
    })
    .superRefine((m, ctx) => {
      if (m.password !== undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'a password never goes in the config file in clear: put it in a file (mqtt.passwordFile, mode 0600) or an environment variable (mqtt.passwordEnv)' });
      if (m.username !== undefined && (m.passwordFile === undefined) === (m.passwordEnv === undefined)) ctx.addIssue({ code: 'custom', path: [m.passwordFile === undefined ? 'passwordFile' : 'passwordEnv'], message: 'with mqtt.username, give exactly one of mqtt.passwordFile and mqtt.passwordEnv' });
      if (m.username === undefined && (m.passwordFile !== undefined || m.passwordEnv !== undefined)) ctx.addIssue({ code: 'custom', path: ['username'], message: 'a password without mqtt.username: give the user too' });
      if (m.tls !== undefined && !/^(mqtts|tls|wss):/.test(m.url)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'mqtt.tls is set, so the URL must be mqtts:// (or wss://)' });
      if (m.tls !== undefined && (m.tls.certFile === undefined) !== (m.tls.keyFile === undefined)) ctx.addIssue({ code: 'custom', path: ['tls', m.tls.certFile === undefined ? 'certFile' : 'keyFile'], message: 'give both mqtt.tls.certFile and mqtt.tls.keyFile, or neither' });
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
      sendTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('A write Kafka has not acknowledged by then fails (retriably): the gateway spools instead.'),
      partitions: z.number().int().min(1).max(1024).default(6).describe('Partitions of the topics this process creates up front.'),
      replicationFactor: z
        .number()
        .int()
        .refine((v) => v === -1 || (v >= 1 && v <= 32767), { message: "expected -1 (the brokers' default.replication.factor) or a replication factor from 1 to 32767" })
        .default(-1)
        .describe("Replication factor of the topics this process creates: -1 takes the brokers' default.replication.factor; 3 in production (with min.insync.replicas=2)."),
      topicPrefix: z.string().regex(/^[A-Za-z0-9._-]{0,100}$/, { message: 'expected up to 100 characters of [A-Za-z0-9._-]' }).default('').describe('Prefix of every topic and consumer group this process uses (several deployments on one cluster).'),
      ssl: kafkaSslSchema('kafka'),
      sasl: kafkaSaslSchema('kafka'),
    })
    .superRefine((k, ctx) => sslPairCheck('kafka', k, ctx))
    .prefault({}),
  crypto: z
    .strictObject({
      backend: z.enum(['auto', 'tweetnacl', 'sodium']).default('auto').describe('NaCl implementation: sodium-native when it loads (auto), or forced.'),
    })
    .prefault({}),
  gateway: z
    .strictObject({
      id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'expected 1-64 characters of [A-Za-z0-9._-]' }).default('gw-1').describe('Gateway id: in records, logs, metrics labels and its MQTT client id.'),
      group: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'expected 1-64 characters of [A-Za-z0-9._-]' }).default('vigil-gateways').describe('MQTT shared-subscription group: gateways of one group split the frames.'),
      subscription: z.string().min(1).default('vigil/v1/+/+/+/telemetry').describe('Topic filter of device frames (subscribed as $share/<group>/<filter>).'),
      registryFile: z.string().min(1).default('registry.yaml').describe('Device registry file (YAML/JSON), reloaded within a second when it changes.'),
      ingestKeyFile: z.string().min(1).default('keys/ingest.key.json').describe('Ingest key file (mode 0600): devices seal frames to its public half.'),
      streamKeyFile: z.string().min(1).default('keys/telemetry.key.json').describe('Stream data key file (mode 0600) that seals telemetry records in Kafka.'),
      dataDir: z.string().min(1).default('data').describe('Where the gateway keeps its spool (spool/) and replay windows (replay/).'),
      spoolBudgetBytes: z.number().int().min(1 << 20).max(2 ** 45).default(256 * 1024 * 1024).describe('Most bytes the spool holds while Kafka is unreachable; routine frames are shed first.'),
      spoolWhenFull: z.enum(['backpressure', 'shed']).default('backpressure').describe('A full spool: backpressure = stop acknowledging until it drains (nothing acknowledged is ever dropped); shed = drop routine, then immediate frames for room (counted), flash never.'),
      fsync: z.enum(['always', 'interval', 'never']).default('always').describe('Spool durability: always = fsync before acknowledging (the delivery contract); interval/never trade it for speed.'),
      maxClockSkewMs: z.number().int().min(0).max(86_400_000).default(300_000).describe('Largest amount a frame event time may be ahead of gateway time.'),
      maxFrameAgeMs: z.number().int().min(0).max(30 * 86_400_000).default(86_400_000).describe('Oldest frame event time admitted, behind gateway time: frames held by devices or the broker through an outage arrive old.'),
      receiveMaximum: z.number().int().min(1).max(65_535).default(1000).describe('Frames the broker may have in flight to this gateway (MQTT 5 Receive Maximum).'),
      lingerMs: z.number().int().min(0).max(100).default(5).describe('A batch waits until its first frame is this old (ms) before it is written, unless it holds 256 frames or a flash frame: fewer, larger Kafka requests and replay fsyncs (about a fifth less CPU per frame at 3,000-6,000 frames/s) for at most this much added latency. 0 = write as soon as the lane is free.'),
      kafkaLanes: z.number().int().min(1).max(16).default(1).describe('Kafka batches in flight at once: one producer per lane, each device always on the same lane (its frames stay in order), so one slow acknowledgement holds only its lane.'),
      receipts: z.boolean().default(true).describe('Publish durable receipts to vigil/v1/<theatre>/<unit>/<device>/receipt, so devices keep frames until they are durable here.'),
      receiptIntervalMs: z.number().int().min(10).max(10_000).default(200).describe('Receipts are coalesced per device over this interval.'),
    })
    .prefault({}),
  worker: z
    .strictObject({
      pipelines: z.array(z.string().regex(/^[a-z0-9-]{1,64}$/, { message: 'expected a pipeline name of [a-z0-9-]' })).default([]).describe('Pipelines this worker runs; empty runs every pipeline in pipelines/.'),
      telemetryKeyFile: z.string().min(1).default('keys/telemetry.key.json').describe('Stream key file that opens the telemetry records (the one the gateways seal with).'),
      keyDir: z.string().min(1).default('keys').describe('Folder of derived stream keys: derived.<pipeline>.key.json seals what each pipeline publishes.'),
      checkpointIntervalMs: z.number().int().min(100).max(3_600_000).default(30_000).describe('How often the state entries changed since the last commit, and the offsets, are committed to vigil.changelog.<pipeline> (checked after each batch). Longer: fewer changelog writes (an entry changed many times is written once); shorter: less input re-read after a crash.'),
      stateDir: z.string().min(1).default('data/state').describe('Local state stores (LMDB, one folder per pipeline): state beyond the cache spills here, and a restart on the same folder restores from it plus the changelog tail. A cache of Kafka: safe to delete.'),
      stateCacheBytes: z.number().int().min(1_048_576).max(68_719_476_736).default(201_326_592).describe('Heap budget of the state caches of each pipeline, in bytes; beyond it, committed state is evicted to stateDir.'),
      heapGrowingPercent: z.number().int().min(0).max(300).default(60).describe('How far V8 lets the heap grow past what survived its last full GC before the next, in percent (vigil worker sets --heap-growing-percent at start). 0 leaves V8 its own sizing (up to 4x the live heap on a large machine) and any NODE_OPTIONS alone. Lower: less RSS, more GC.'),
    })
    .prefault({}),
  console: z
    .strictObject({
      streams: z
        .array(z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, { message: 'expected a stream (topic) name without kafka.topicPrefix, e.g. derived.vitals' }))
        .default([])
        .describe('Streams the console offers (map and WebSocket tap), without kafka.topicPrefix; empty = derived.<pipeline> of every pipeline whose key is in keyDir.'),
      keyDir: z.string().min(1).default('keys').describe('Folder of the stream keys, one <stream>.key.json per stream (as the workers name them); a stream is opened only with its own key.'),
      tiles: z
        .string()
        .regex(/^(https?:\/\/[^\s/]+)?\/[^\s]*\{z\}[^\s]*$/, { message: 'expected a tile URL template with {z}, {x} and {y}, e.g. https://tiles.cp.local/{z}/{x}/{y}.png or /tiles/{z}/{x}/{y}.png' })
        .optional()
        .describe('Basemap tile URL template for the map ({z}, {x}, {y}, optionally {s}): a site\'s offline tile server. Without it the map draws a plain background with a latitude/longitude grid; nothing is fetched from the internet.'),
    })
    .prefault({}),
  http: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1').describe('Address the HTTP server (/metrics, /healthz, /readyz) binds to.'),
      port: z.number().int().min(0).max(65535).default(9464).describe('Port of the HTTP server; 0 takes a free port.'),
      tls: z
        .strictObject({
          certFile: z.string().min(1).describe('PEM certificate of the HTTPS server (vigil pki issue console <name>).'),
          keyFile: z.string().min(1).describe('PEM private key of certFile; must not be readable by group or others (chmod 600).'),
        })
        .optional()
        .describe('HTTPS instead of HTTP (the console\'s map and tap carry stream data: use it off loopback).'),
    })
    .prefault({}),
  relay: z
    .strictObject({
      policyFile: z.string().min(1).default('relay-policy.yaml').describe('Relay policy (YAML/JSON): streams to relay, destination topics, the destination ceiling and releasability, sampling and redaction (docs/relay.md).'),
      brokers: z.array(hostPort).default([]).describe('Bootstrap brokers of the destination (command) Kafka, "host:port"; comma-separated in the environment. Required by vigil relay.'),
      clientId: z.string().min(1).max(128).default('vigil-relay').describe('Kafka client id of the relay on the destination.'),
      dataDir: z.string().min(1).default('data/relay').describe('Where the relay keeps its durable queue (spool/) between the theatre consumer and the destination producer.'),
      spoolBudgetBytes: z.number().int().min(1 << 20).max(2 ** 45).default(256 * 1024 * 1024).describe('Most bytes the relay queue holds while the link is down; when full, routine records are shed first (counted), flash never.'),
      maxBytesPerSecond: z.number().int().min(0).max(2 ** 40).default(0).describe('Bandwidth budget of the link, bytes per second of record bytes after compression (token bucket, one second of burst); 0 = unlimited.'),
      compression: z.enum(['none', 'gzip', 'lz4']).default('gzip').describe('Compression of the batches sent to the destination (Kafka record batches): none, gzip, or lz4 (a fraction of gzip\'s CPU, the same bytes saved on sealed records).'),
      recordCompression: z.enum(['none', 'deflate']).default('none').describe('deflate: compress each released record before sealing it (record version 2); every reader at the destination must read version 2 first. none: version 1.'),
      batchMaxRecords: z.number().int().min(1).max(10_000).optional().describe('Most records in one batch sent to the destination. Default 2000 on an unbudgeted link (relay.maxBytesPerSecond 0), 500 with a budget.'),
      batchMaxBytes: z.number().int().min(1024).max(900 * 1024).optional().describe('Most record bytes (before compression) in one batch sent to the destination. Default 900 KiB on an unbudgeted link, 256 KiB with a budget.'),
      releaseThread: z.enum(['auto', 'on', 'off']).default('auto').describe("Open, judge and re-seal records on a thread of their own while the relay's thread fetches, queues and sends: on, off, or auto (on with two cores or more)."),
      ssl: kafkaSslSchema('relay'),
      sasl: kafkaSaslSchema('relay'),
      signingKeyFile: z.string().min(1).default('keys/relay-signing.key.json').describe("The relay's own Ed25519 key file (mode 0600, vigil keys gen signing): it signs the release summaries written to the theatre's audit topic."),
      auditIntervalSeconds: z.number().int().min(1).max(86_400).default(60).describe('Period of the signed release summaries (one more at a clean stop), seconds.'),
    })
    .superRefine((r, ctx) => sslPairCheck('relay', r, ctx))
    .prefault({}),
});

/** The validated, defaulted, frozen configuration. */
export type VigilConfig = z.output<typeof configSchema>;
/** What a config file may contain (every key optional where it has a default). */
export type VigilConfigInput = z.input<typeof configSchema>;
