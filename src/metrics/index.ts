export { createMetrics, type MetricsOptions, type VigilMetrics } from './vigil-metrics';
