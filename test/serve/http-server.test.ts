import { execFileSync } from 'node:child_process';
import { channels } from '../../src/instrument';
import { createMetrics, type VigilMetrics } from '../../src/metrics';
import { startHttpServer, type VigilHttpServer } from '../../src/serve';
import { isVigilError } from '../../src/errors';

describe('operations HTTP endpoints', () => {
  let metrics: VigilMetrics;
  let server: VigilHttpServer;
  let ready: Record<string, boolean>;

  beforeEach(async () => {
    metrics = createMetrics({ labels: { gateway: 'gw-test' } });
    ready = { kafka: true, mqtt: false };
    server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, readiness: () => ready });
  });
  afterEach(async () => {
    await server.close();
    metrics.close();
  });

  it('serves metrics fed by the diagnostics channels, in a form promtool accepts', async () => {
    channels.frameAdmission.publish({ result: 'accepted', reason: null, readings: 16, bytes: 900 });
    channels.frameAdmission.publish({ result: 'accepted', reason: null, readings: 4, bytes: 300 });
    channels.frameAdmission.publish({ result: 'rejected', reason: 'VIGIL_E_REPLAY', readings: 0, bytes: 120 });
    channels.durability.publish({ sink: 'kafka', frames: 2, seconds: 0.004, writeSeconds: 0.002 });
    channels.spoolShed.publish({ reason: 'shed', priority: 'routine', deviceId: 'd1', bytes: 300, enqueuedAt: 0, at: 1 });
    channels.connection.publish({ peer: 'kafka', connected: true });
    channels.gauges.publish({ component: 'spool', values: { depth_entries: 42, bytes: 4096 } });
    channels.gauges.publish({ component: 'spool', values: { 'bad name!': 1 } });
    channels.pipelineBatch.publish({ pipeline: 'vitals', topic: 'telemetry.vitals', partition: 3, lag: 1234, watermarkMs: 1_764_000_000_500, records: 10, outputs: 2, seconds: 0.002 });
    channels.pipelineBatch.publish({ pipeline: 'vitals', topic: 'telemetry.vitals', partition: 4, lag: 7, watermarkMs: null, records: 0, outputs: 0, seconds: 0.001 });
    channels.pipelineRevoke.publish({ pipeline: 'vitals', partitions: [{ topic: 'telemetry.vitals', partition: 4 }] });
    channels.pipelineCheckpoint.publish({ pipeline: 'vitals', partitions: 3, records: 12, bytes: 2048, maxRecordBytes: 300, seconds: 0.01 });
    channels.pipelineDrop.publish({ pipeline: 'vitals', stage: 'duplicate', reason: 'duplicate' });
    channels.pipelineFailure.publish({ pipeline: 'vitals', reason: 'VIGIL_E_BUS_UNAVAILABLE', action: 'restart' });

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('vigil_gateway_frames_total{result="accepted",reason="none",gateway="gw-test"} 2');
    expect(text).toContain('vigil_gateway_frames_total{result="rejected",reason="VIGIL_E_REPLAY",gateway="gw-test"} 1');
    expect(text).toContain('vigil_gateway_readings_total{gateway="gw-test"} 20');
    expect(text).toContain('vigil_gateway_frame_bytes_total{gateway="gw-test"} 1320');
    expect(text).toContain('vigil_gateway_durable_seconds_bucket{le="0.005",gateway="gw-test",sink="kafka"} 1');
    expect(text).toContain('vigil_gateway_durable_frames_total{sink="kafka",gateway="gw-test"} 2');
    expect(text).toContain('vigil_spool_dropped_frames_total{reason="shed",priority="routine",gateway="gw-test"} 1');
    expect(text).toContain('vigil_connection_up{peer="kafka",gateway="gw-test"} 1');
    expect(text).toContain('vigil_spool_depth_entries{gateway="gw-test"} 42');
    // Standard process and Node.js metrics under their conventional names, for stock dashboards.
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).not.toContain('vigil_process_');
    // Lag and watermark per source partition; a partition given up (rebalance) goes.
    expect(text).toContain('vigil_pipeline_consumer_lag_records{pipeline="vitals",topic="telemetry.vitals",partition="3",gateway="gw-test"} 1234');
    expect(text).toContain('vigil_pipeline_watermark_timestamp_seconds{pipeline="vitals",topic="telemetry.vitals",partition="3",gateway="gw-test"} 1764000000.5');
    expect(text).not.toContain('partition="4"');
    expect(text).not.toContain('bad name');
    expect(text).toContain('vigil_pipeline_records_total{pipeline="vitals",gateway="gw-test"} 10');
    expect(text).toContain('vigil_pipeline_outputs_total{pipeline="vitals",gateway="gw-test"} 2');
    expect(text).toContain('vigil_pipeline_checkpoint_bytes{pipeline="vitals",gateway="gw-test"} 2048');
    expect(text).toMatch(/vigil_pipeline_last_checkpoint_timestamp_seconds\{pipeline="vitals",gateway="gw-test"\} \d{10}/);
    expect(text).toContain('vigil_pipeline_dropped_total{pipeline="vitals",stage="duplicate",reason="duplicate",gateway="gw-test"} 1');
    expect(text).toContain('vigil_pipeline_failures_total{pipeline="vitals",reason="VIGIL_E_BUS_UNAVAILABLE",action="restart",gateway="gw-test"} 1');

    // promtool (Debian package `prometheus`) is the judge of the exposition format and naming.
    const lint = execFileSync('promtool', ['check', 'metrics'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    expect(lint).toBe('');
  });

  it('answers /healthz always and /readyz by the readiness checks', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not ready', checks: { kafka: true, mqtt: false } });
    ready.mqtt = true;
    const isReady = await fetch(`${server.url}/readyz`);
    expect(isReady.status).toBe(200);
    expect(((await isReady.json()) as { status: string }).status).toBe("ready");
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('says clearly when its port is taken', async () => {
    let err: unknown;
    try {
      await startHttpServer({ host: '127.0.0.1', port: server.port, metrics });
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_E_PORT_IN_USE')).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${server.port} is already in use`);
  });

  it('stops counting after close', async () => {
    metrics.close();
    channels.frameAdmission.publish({ result: 'accepted', reason: null, readings: 1, bytes: 1 });
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/vigil_gateway_frames_total\{result="accepted"/);
  });
});
