import { gatewayGauges } from '../../src/cli/gateway-runner';
import { channels } from '../../src/instrument';
import { createMetrics, registerRelayAuditMetrics, registerRelayMetrics } from '../../src/metrics';

/**
 * Every metric name a gateway, a pipeline worker and a relay register, as Prometheus sees them
 * (histograms with their `_bucket`, `_sum` and `_count` series): what alert rules and
 * dashboards may query. Series that appear only on a first event are made to appear.
 */
export async function registeredMetricNames(): Promise<Set<string>> {
  const metrics = createMetrics({ gateway: true, pipelines: ['vitals'] });
  try {
    for (const g of gatewayGauges({ spool: { entries: 1, bytes: 1, budgetBytes: 2, oldestAgeMs: 1 }, devices: 1, inflight: 0, spooling: false })) channels.gauges.publish(g);
    channels.connection.publish({ peer: 'kafka', connected: true });
    channels.durability.publish({ sink: 'kafka', frames: 1, seconds: 0.001, writeSeconds: 0.001 });
    channels.release.publish({ frames: 1, replayFlushSeconds: 0.001 });
    channels.pipelineBatch.publish({ pipeline: 'vitals', topic: 't', partition: 0, lag: 0, watermarkMs: 1, records: 1, outputs: 0, seconds: 0 });
    channels.pipelineCheckpoint.publish({ pipeline: 'vitals', partitions: 1, records: 1, bytes: 1, maxRecordBytes: 1, seconds: 0 });
    channels.pipelineDrop.publish({ pipeline: 'vitals', stage: 'duplicate', reason: 'duplicate' });
    const none = { 'above-ceiling': 0, 'not-releasable': 0, unreadable: 0 };
    registerRelayMetrics(metrics, () => ({ link: 'up', relayed: 0, queued: 0, withheld: none, sampled: 0, redactedFields: 0, duplicatesSkipped: 0, shed: { flash: 0, immediate: 0, routine: 0 }, backlogRecords: 0, backlogBytes: 0, backlogOldestAgeMs: 0, bytesBeforeCompression: 0, bytesAfterCompression: 0, sendFailures: 0, reconciliations: 0 }));
    registerRelayAuditMetrics(metrics, () => ({ written: 0, failed: 0, lastWrittenAtMs: 0 }));
    const names = new Set<string>();
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
    return names;
  } finally {
    metrics.close();
  }
}
