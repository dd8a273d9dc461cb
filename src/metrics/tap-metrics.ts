import { Counter, Gauge, type Registry } from 'prom-client';
import type { VigilMetrics } from './vigil-metrics';

/** What the WebSocket tap counts (`TapEndpoint.stats()`). */
export interface TapStatsSource {
  (): { readonly clients: number; readonly refused: number; readonly dropped: number };
}

/** A counter that follows a total kept elsewhere: each scrape adds what it grew by since the last. */
export function followingCounter(registry: Registry, name: string, help: string, total: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = total();
      this.inc(now - seen);
      seen = now;
    },
  });
}

/**
 * The WebSocket tap's series, read from its counters at each scrape: clients connected now,
 * upgrades refused and records dropped for slow clients since start.
 */
export function registerTapMetrics(metrics: VigilMetrics, stats: TapStatsSource): void {
  new Gauge({
    name: 'vigil_tap_clients',
    help: 'WebSocket tap clients connected now.',
    registers: [metrics.registry],
    collect() {
      this.set(stats().clients);
    },
  });
  followingCounter(metrics.registry, 'vigil_tap_refused_total', 'WebSocket tap upgrades refused (wrong or missing token, stream not offered or absent).', () => stats().refused);
  followingCounter(metrics.registry, 'vigil_tap_dropped_total', 'Records dropped for slow WebSocket tap clients (oldest first; each client is told).', () => stats().dropped);
}
