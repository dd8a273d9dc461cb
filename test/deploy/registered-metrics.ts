import { gatewayGauges } from '../../src/cli/gateway-runner';
import { channels } from '../../src/instrument';
import { createMetrics } from '../../src/metrics';

/**
 * Every metric name a gateway and a pipeline worker register, as Prometheus sees them
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
