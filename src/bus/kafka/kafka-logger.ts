import { logLevel, type logCreator } from 'kafkajs';
import type { KafkaLogEntry, KafkaLogLevel } from './kafka-options';

const TO_KAFKAJS: Record<KafkaLogLevel, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

function levelName(l: logLevel): KafkaLogEntry['level'] {
  if (l <= logLevel.ERROR) return 'error';
  if (l === logLevel.WARN) return 'warn';
  if (l === logLevel.INFO) return 'info';
  return 'debug';
}

/** The kafkajs level for ours. */
export function kafkajsLogLevel(level: KafkaLogLevel): logLevel {
  return TO_KAFKAJS[level];
}

/**
 * Routes kafkajs logs to `sink` instead of its own console logger (kafkajs' default prints
 * unstructured lines; Vigil logs JSON through pino).
 */
export function kafkaLogCreator(sink: ((entry: KafkaLogEntry) => void) | undefined): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      if (sink === undefined) return;
      const { message, ...extra } = log;
      sink({ level: levelName(level), namespace, message, extra });
    };
}
