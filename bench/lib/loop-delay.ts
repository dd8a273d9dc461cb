import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram, type PerformanceEntry } from 'node:perf_hooks';

/**
 * Event-loop delay as the bench reports it. Node's `monitorEventLoopDelay` records the whole
 * interval between its timer's runs, so an idle loop already reads its `resolution` (10 ms:
 * p99 ≈ 10.2 ms on an idle process): what is reported here is the delay beyond that, the time
 * the loop was late.
 */
export class LoopDelay {
  private readonly h: IntervalHistogram;
  constructor(private readonly resolutionMs = 10) {
    this.h = monitorEventLoopDelay({ resolution: resolutionMs });
    this.h.enable();
  }

  reset(): void {
    this.h.reset();
  }

  private late(ns: number): number {
    return Math.max(0, ns / 1e6 - this.resolutionMs);
  }

  /** p50 / p99 / max delay beyond the timer's interval, ms. */
  read(): { p50Ms: number; p99Ms: number; maxMs: number } {
    return { p50Ms: this.late(this.h.percentile(50)), p99Ms: this.late(this.h.percentile(99)), maxMs: this.late(this.h.max) };
  }
}

/** Garbage collections since the last reset: count and total pause, ms, minor (scavenge) and major (mark-compact, incremental marking) apart. */
export class GcTally {
  private minor = { count: 0, ms: 0 };
  private major = { count: 0, ms: 0 };
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = ((e as PerformanceEntry & { detail?: { kind?: number } | null }).detail)?.kind;
      const t = kind === constants.NODE_PERFORMANCE_GC_MINOR ? this.minor : this.major;
      t.count++;
      t.ms += e.duration;
    }
  });
  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  reset(): void {
    this.minor = { count: 0, ms: 0 };
    this.major = { count: 0, ms: 0 };
  }

  read(): { minor: { count: number; ms: number }; major: { count: number; ms: number } } {
    const r = (t: { count: number; ms: number }): { count: number; ms: number } => ({ count: t.count, ms: Number(t.ms.toFixed(1)) });
    return { minor: r(this.minor), major: r(this.major) };
  }

  stop(): void {
    this.observer.disconnect();
  }
}
