import { Counter, Gauge } from 'prom-client';
import { followingCounter } from './tap-metrics';
import { RELAY_WITHHELD_REASONS, type RelayAuditStats, type RelayStats } from '../instrument';
import type { VigilMetrics } from './vigil-metrics';

/** Reads the relay's counters (`Relay.stats()`) at each scrape. */
export type RelayStatsSource = () => RelayStats;

/** A labelled counter that follows totals kept elsewhere, one child per label value, all present from the start. */
function followingCounters(metrics: VigilMetrics, name: string, help: string, label: string, values: readonly string[], totals: () => Readonly<Record<string, number>>): void {
  const seen = new Map<string, number>(values.map((v) => [v, 0]));
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [metrics.registry],
    collect() {
      const now = totals();
      for (const v of values) {
        const n = now[v] ?? 0;
        this.labels(v).inc(n - (seen.get(v) ?? 0));
        seen.set(v, n);
      }
    },
  });
}

function gauge(metrics: VigilMetrics, name: string, help: string, value: () => number): void {
  new Gauge({
    name,
    help,
    registers: [metrics.registry],
    collect() {
      this.set(value());
    },
  });
}

/**
 * The relay's series (docs/relay.md), read from its counters at each scrape: link state,
 * backlog, records relayed and withheld by reason, bytes before and after compression.
 * Every reason and priority exists at zero from the start, so alerts see the first one.
 */
export function registerRelayMetrics(metrics: VigilMetrics, stats: RelayStatsSource): void {
  gauge(metrics, 'vigil_relay_link_up', '1 when the link to the destination Kafka is up (last send or read-back succeeded).', () => (stats().link === 'up' ? 1 : 0));
  gauge(metrics, 'vigil_relay_backlog_records', 'Records in the relay queue, waiting or in flight.', () => stats().backlogRecords);
  gauge(metrics, 'vigil_relay_backlog_bytes', 'Bytes the relay queue holds (its budget measure).', () => stats().backlogBytes);
  gauge(metrics, 'vigil_relay_backlog_age_seconds', 'Age of the oldest record in the relay queue; 0 when empty.', () => stats().backlogOldestAgeMs / 1000);
  followingCounter(metrics.registry, 'vigil_relay_records_total', 'Records the destination acknowledged.', () => stats().relayed);
  followingCounters(metrics, 'vigil_relay_withheld_total', 'Records never sent, by reason: above-ceiling, not-releasable, unreadable (cannot be opened or its label parsed).', 'reason', RELAY_WITHHELD_REASONS, () => stats().withheld);
  followingCounter(metrics.registry, 'vigil_relay_sampled_total', "Records left out by a stream's down-sampling.", () => stats().sampled);
  followingCounter(metrics.registry, 'vigil_relay_redacted_fields_total', 'Derived values dropped by redaction before release.', () => stats().redactedFields);
  followingCounter(metrics.registry, 'vigil_relay_duplicates_skipped_total', 'Queued records not sent again because the destination already held them (after a cut or a restart).', () => stats().duplicatesSkipped);
  followingCounters(metrics, 'vigil_relay_shed_total', 'Records shed from the full relay queue, by priority (flash never).', 'priority', ['flash', 'immediate', 'routine'], () => stats().shed);
  followingCounters(
    metrics,
    'vigil_relay_sent_bytes_total',
    'Bytes sent to the destination: the records (keys, values, headers) before compression, and what its connections carried for them (compressed batches, Kafka framing included).',
    'stage',
    ['uncompressed', 'compressed'],
    () => ({ uncompressed: stats().bytesBeforeCompression, compressed: stats().bytesAfterCompression }),
  );
  followingCounter(metrics.registry, 'vigil_relay_send_failures_total', 'Sends to the destination that failed (the batch stays queued; the destination is read back before the next).', () => stats().sendFailures);
}

/**
 * The relay's audit trail (docs/federation.md): summaries written and failed writes, and when
 * the last one was written, so an alert can say that the theatre is no longer proving what
 * it releases.
 */
export function registerRelayAuditMetrics(metrics: VigilMetrics, stats: () => RelayAuditStats): void {
  followingCounter(metrics.registry, 'vigil_relay_audit_summaries_total', "Signed release summaries written to the theatre's audit topic.", () => stats().written);
  followingCounter(metrics.registry, 'vigil_relay_audit_write_failures_total', 'Failed writes of a release summary (it is kept and written again, unchanged, before the next).', () => stats().failed);
  gauge(metrics, 'vigil_relay_audit_last_written_timestamp_seconds', 'When the last release summary was written (Unix time); 0 before the first.', () => stats().lastWrittenAtMs / 1000);
}
