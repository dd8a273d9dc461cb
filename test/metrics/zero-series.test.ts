import { channels } from '../../src/instrument';
import { createMetrics } from '../../src/metrics';

describe('metrics that alerts depend on exist at zero from the start', () => {
  it('a gateway has its frame and spool-loss counters, a worker each pipeline\'s counters and restart reasons', async () => {
    const gateway = createMetrics({ processMetrics: false, gateway: true });
    const worker = createMetrics({ processMetrics: false, pipelines: ['vitals', 'geofence'] });
    try {
      const g = await gateway.registry.metrics();
      expect(g).toContain('vigil_gateway_frames_total{result="accepted",reason="none"} 0');
      for (const reason of ['shed', 'expired', 'corrupt']) for (const priority of ['flash', 'immediate', 'routine']) {
        expect(g).toContain(`vigil_spool_dropped_frames_total{reason="${reason}",priority="${priority}"} 0`);
      }
      expect(g).not.toContain('vigil_pipeline_records_total{');
      const w = await worker.registry.metrics();
      for (const p of ['vitals', 'geofence']) {
        expect(w).toContain(`vigil_pipeline_records_total{pipeline="${p}"} 0`);
        expect(w).toContain(`vigil_pipeline_checkpoints_total{pipeline="${p}"} 0`);
        expect(w).toMatch(new RegExp(`vigil_pipeline_last_checkpoint_timestamp_seconds\\{pipeline="${p}"\\} \\d{10}`));
        expect(w).toContain(`vigil_pipeline_failures_total{pipeline="${p}",reason="VIGIL_E_BUS_UNAVAILABLE",action="restart"} 0`);
      }
      expect(w).not.toContain('vigil_spool_dropped_frames_total{');
      // The zero series count on as events arrive.
      channels.pipelineFailure.publish({ pipeline: 'vitals', reason: 'VIGIL_E_BUS_UNAVAILABLE', action: 'restart' });
      expect(await worker.registry.metrics()).toContain('vigil_pipeline_failures_total{pipeline="vitals",reason="VIGIL_E_BUS_UNAVAILABLE",action="restart"} 1');
    } finally {
      gateway.close();
      worker.close();
    }
  });
});
