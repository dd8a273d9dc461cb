import pino, { type Logger } from 'pino';
import type { KafkaLogEntry } from '../bus';

/**
 * The parts of a process a log line comes from: the `component` field of every line, each
 * documented in docs/operations.md, "Log fields" (a test holds them in step). Bound once in
 * a child logger, never repeated per call.
 */
export const LOG_COMPONENTS = ['gateway', 'admission', 'mqtt', 'kafka', 'spool', 'replay', 'registry', 'keys', 'worker', 'pipeline', 'state', 'console', 'tap'] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];

/** Who the process is, in every line: `gatewayId` (gateway), `worker` (worker: its Kafka client id), `console` (console: its Kafka client id). */
export type ProcessIdentity = { readonly gatewayId: string } | { readonly worker: string } | { readonly console: string };

/** The fields a log line's own object must not override: what the process's logger binds. */
const BOUND = new Set(['level', 'time', 'msg', 'component', 'gatewayId', 'worker', 'pipeline', 'console']);
/** kafkajs extras that could carry credentials or TLS material: never logged. */
const SECRET = /pass|secret|token|sasl|ssl|cert|key$|^key|auth/i;

/**
 * A process's root JSON logger: every line carries the process identity. Components log
 * through `componentLog(root, …)`; the root itself is not logged through.
 */
export function processLogger(identity: ProcessIdentity, level: string, stream: NodeJS.WritableStream = process.stdout): Logger {
  return pino({ level, base: { ...identity } }, stream);
}

/** A child of `root` whose lines carry `component` (and e.g. `pipeline`). */
export function componentLog(root: Logger, component: LogComponent, bindings: Readonly<Record<string, string>> = {}): Logger {
  return root.child({ component, ...bindings });
}

/**
 * Routes kafkajs' own log lines into `root` with `component: "kafka"`, `kafka` (its
 * namespace) and its extras, kafkajs' `error` as `err`; extras that could carry credentials,
 * its stacks, and any that would shadow the bound fields are dropped. kafkajs errors are
 * logged at `warn` (as before: a broker outage is retried, and the gateway or worker says
 * what it means for it at its own level); its info and debug lines at theirs.
 */
export function kafkaLogSink(root: Logger): (entry: KafkaLogEntry) => void {
  const log = componentLog(root, 'kafka');
  return (e) => {
    const fields: Record<string, unknown> = { kafka: e.namespace };
    for (const [k, v] of Object.entries(e.extra)) {
      if (k === 'error') fields.err = v;
      else if (k !== 'stack' && !BOUND.has(k) && !SECRET.test(k)) fields[k] = v;
    }
    if (e.level === 'info' || e.level === 'debug') log[e.level](fields, e.message);
    else log.warn(fields, e.message);
  };
}
