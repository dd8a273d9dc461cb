import { map, merge, share } from 'rxjs';
import {
  aggregate,
  combinedLabel,
  count,
  definePipeline,
  keyedWindow,
  rateDetector,
  silenceDetector,
  sum,
  thresholdDetector,
  tumbling,
  type PipelineDefinition,
  type PipelineReading,
  type PowerReading,
  type RejectedFrameReading,
  type VigilErrorCode,
} from '../src';
import { DEFAULT_CEILING, DEFAULT_LATENESS_MS, keepKind, keepRecords, pointEvent, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

export interface SensorHealthPipelineOptions extends CommonPipelineOptions {
  /**
   * Event-time ms without a power reading after which a device is reported silent.
   * Default 90,000: every simulated device class reports power at least every 30 s, so
   * this is three missed reports.
   */
  readonly silentAfterMs?: number;
  /** Battery state of charge (%) below which `battery-low` is raised. Default 20. */
  readonly batteryLowPct?: number;
  /** State of charge (%) above which it clears again; the band stops a battery hovering at the level from flapping. Default 25. */
  readonly batteryClearPct?: number;
  /** Span of the rejected-frame alarm, ms. Default 60,000. */
  readonly rejectedOverMs?: number;
  /** Rejected frames of one claimed device within `rejectedOverMs` that raise `rejected-frames`. Default 5. */
  readonly rejectedRaise?: number;
  /** It clears when that count falls to this or below. Default 1. */
  readonly rejectedClear?: number;
  /** Length of the tumbling window of rejected-frame counts per device, ms. Default 60,000. */
  readonly rejectedWindowMs?: number;
}

type Power = PipelineReading<PowerReading>;
type Rejected = PipelineReading<RejectedFrameReading>;

/** How rejection reasons are grouped in the rate windows. */
export const REJECTION_GROUPS: Readonly<Record<'replay' | 'forged' | 'identity', readonly VigilErrorCode[]>> = Object.freeze({
  /** An old frame sent again: a replay attack, or a device whose sequence counter went back. */
  replay: ['VIGIL_E_REPLAY', 'VIGIL_E_SEQ_TOO_OLD'],
  /** A frame whose MAC or signature fails, or published on another device's topic: tampering or a forger. */
  forged: ['VIGIL_E_FRAME_AUTH', 'VIGIL_E_FRAME_SIGNATURE', 'VIGIL_E_TOPIC_MISMATCH'],
  /** A device the registry does not know, has revoked, or a retired key epoch: a lost or cloned device. */
  identity: ['VIGIL_E_DEVICE_UNKNOWN', 'VIGIL_E_DEVICE_REVOKED', 'VIGIL_E_KEY_EPOCH_STALE'],
});
type RejectionGroup = keyof typeof REJECTION_GROUPS | 'other';
const GROUP_OF: ReadonlyMap<VigilErrorCode, RejectionGroup> = new Map(
  (Object.entries(REJECTION_GROUPS) as Array<[RejectionGroup, readonly VigilErrorCode[]]>).flatMap(([group, codes]) => codes.map((c) => [c, group] as const)),
);
const inGroup = (group: RejectionGroup) => (r: Rejected): number => ((GROUP_OF.get(r.reading.reason) ?? 'other') === group ? 1 : 0);

/**
 * `sensor-health` — device silence and low battery from `telemetry.power`, and frames the
 * gateways rejected per device from `telemetry.rejected` (possible tampering).
 *
 * Every device class sends power readings as a heartbeat, so their absence is the
 * device's silence. What an analyst of `derived.sensor-health` sees:
 *
 * - **Silence**, key `<deviceId>/silence/<silent|resumed>`, a point window: `event`
 *   (`silent`/`resumed`), `silent` (true while silent), `lastSeenMs` (event time of the
 *   device's last power reading before the gap) and `gapS` (seconds since it: the
 *   threshold for `silent`, the whole gap for `resumed`). `silent` is judged in event time
 *   when the partition's watermark passes last seen + 90 s, so it needs other devices of
 *   the same partition to keep reporting; a partition that falls quiet as a whole reports
 *   nothing until data arrives again (the runtime has no processing-time idleness, by
 *   design: results must not depend on when a worker ran).
 * - **Battery**, key `<deviceId>/battery-low/<raised|cleared>`, a point window:
 *   `condition` (`battery-low`), `state`, `alarm`, `batteryPct` and `sinceMs`. Raised
 *   below 20 %, cleared above 25 %; readings without a state of charge are ignored.
 *
 * - **Rejected frames, alarm**, key `<deviceId>/rejected-frames/<raised|cleared>`, a point
 *   window: `condition` (`rejected-frames`), `state`, `alarm`, `count` (rejections within
 *   the span), `overS` and `sinceMs`. Raised on the rejection that makes 5 within 60 s (it
 *   does not wait for the window to close: rejections are sparse), cleared once the count
 *   within 60 s has fallen to 1 (judged on the rejected topic's watermark).
 * - **Rejected frames, rate**, key `<deviceId>/rejected-rate`, 60 s tumbling windows:
 *   `rejected` (all), `perMinute`, and by group `replay`, `forged`, `identity`, `other`
 *   (`REJECTION_GROUPS`). A window is final when the rejected topic's watermark passes its
 *   end, so it appears with the next rejections on that partition; late ones revise it.
 *
 * `deviceId` of a rejection is what the frame's clear header claims, unverified, so an
 * attacker can make any device look attacked (still worth an alarm), and frames whose
 * header did not decode count under `unattributed` (per source partition). Event time of a
 * rejection is the gateway's clock when it refused the frame; its label is UNCLASSIFIED, as
 * it holds only what travelled in the clear. Rejections are not deduplicated: a gateway
 * that switches to its spool can record one twice.
 *
 * Events judge readings in arrival order and are never revised. Label: the partition's
 * running label (never less restrictive than the truth).
 */
export function sensorHealthPipeline(options: SensorHealthPipelineOptions = {}): PipelineDefinition<'power' | 'rejected'> {
  const after = options.silentAfterMs ?? 90_000;
  const low = options.batteryLowPct ?? 20;
  const clear = options.batteryClearPct ?? 25;
  const over = options.rejectedOverMs ?? 60_000;
  const window = options.rejectedWindowMs ?? 60_000;
  return definePipeline({
    name: 'sensor-health',
    sources: ['telemetry.power', 'telemetry.rejected'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) => {
      // One chain per source partition: a chain sees power or rejections, never both, and
      // registers every operator in the same order (silence, battery, alarm, rate) either
      // way, because checkpoints restore by position.
      const all$ = events$.pipe(share());
      const shared$ = all$.pipe(keepKind('power'));
      const rejected$ = all$.pipe(keepKind('rejected'), share());
      const silence$ = shared$.pipe(
        ctx.state('silence', silenceDetector({ key: (r: Power) => r.deviceId, after })),
        map((e) =>
          pointEvent(`${e.key}/silence/${e.type}`, e.time, {
            event: e.type,
            silent: e.type === 'silent',
            lastSeenMs: e.lastSeen,
            gapS: (e.time - e.lastSeen) / 1000,
          }),
        ),
      );
      const battery$ = shared$.pipe(
        keepRecords((r: Power) => r.reading.batteryPct !== null),
        ctx.state('battery', thresholdDetector({ key: (r: Power) => r.deviceId, value: (r: Power) => r.reading.batteryPct as number, direction: 'below', raise: low, clear })),
        map((e) =>
          pointEvent(`${e.key}/battery-low/${e.type}`, e.time, {
            condition: 'battery-low',
            state: e.type,
            alarm: e.type === 'raised',
            batteryPct: e.value,
            sinceMs: e.since,
          }),
        ),
      );
      const alarm$ = rejected$.pipe(
        ctx.state('rejections', rateDetector({ key: (r: Rejected) => r.deviceId, over, raise: options.rejectedRaise ?? 5, clear: options.rejectedClear ?? 1 })),
        map((e) =>
          pointEvent(`${e.key}/rejected-frames/${e.type}`, e.time, {
            condition: 'rejected-frames',
            state: e.type,
            alarm: e.type === 'raised',
            count: e.count,
            overS: over / 1000,
            sinceMs: e.since,
          }),
        ),
      );
      const rate$ = rejected$.pipe(
        ctx.state(
          'rejection-stats',
          keyedWindow({
            key: (r: Rejected) => r.deviceId,
            window: tumbling(window),
            allowedLateness: DEFAULT_LATENESS_MS,
            aggregate: aggregate({ n: count(), replay: sum(inGroup('replay')), forged: sum(inGroup('forged')), identity: sum(inGroup('identity')), other: sum(inGroup('other')), label: combinedLabel() }),
          }),
        ),
        map((w) => ({
          key: `${w.key}/rejected-rate`,
          windowStartMs: w.window.start,
          windowEndMs: w.window.end,
          revision: w.revision,
          label: w.value.label,
          values: { rejected: w.value.n, perMinute: (w.value.n * 60_000) / window, replay: w.value.replay, forged: w.value.forged, identity: w.value.identity, other: w.value.other },
        })),
      );
      return merge(silence$, battery$, alarm$, rate$);
    },
  });
}

/** The `sensor-health` pipeline with its default settings. */
export const sensorHealth = sensorHealthPipeline();
