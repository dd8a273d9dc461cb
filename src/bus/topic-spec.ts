import { VigilError } from '../errors';
import type { TopicSpec } from './admin';

// Kafka's own rule for topic names.
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * Checks topic specs once, before any is created, so a bad list creates nothing.
 *
 * @example
 * validateTopicSpecs([{ topic: 'telemetry.position', partitions: 12 }]);
 */
export function validateTopicSpecs(specs: readonly TopicSpec[]): void {
  if (!Array.isArray(specs)) throw new VigilError('VIGIL_E_BUS_OPTIONS', 'ensureTopics needs an array of topic specs');
  for (const s of specs) {
    if (typeof s?.topic !== 'string' || !TOPIC_NAME.test(s.topic) || s.topic === '.' || s.topic === '..') {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', `topic name ${JSON.stringify(s?.topic)} is not allowed: 1-249 of [a-zA-Z0-9._-]`, { details: { topic: String(s?.topic) } });
    }
    if (!Number.isInteger(s.partitions) || s.partitions < 1) {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', `topic "${s.topic}": partitions must be an integer ≥ 1, got ${String(s.partitions)}`, { details: { topic: s.topic, partitions: s.partitions } });
    }
    if (s.retentionMs !== undefined && (!Number.isInteger(s.retentionMs) || s.retentionMs < -1)) {
      throw new VigilError('VIGIL_E_BUS_OPTIONS', `topic "${s.topic}": retentionMs must be an integer ≥ -1, got ${String(s.retentionMs)}`, { details: { topic: s.topic, retentionMs: s.retentionMs } });
    }
  }
}
