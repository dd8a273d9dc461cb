export { createMetrics, type MetricsOptions, type VigilMetrics } from './vigil-metrics';
export { registerTapMetrics, type TapStatsSource } from './tap-metrics';
export { registerRelayMetrics, registerRelayAuditMetrics, type RelayStatsSource } from './relay-metrics';
