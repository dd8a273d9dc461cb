import { channels } from '../../instrument';

/**
 * `diagnostics_channel` names the spool publishes on (docs/architecture.md §8.7: metrics and logs
 * subscribe; the spool never imports them). The channels themselves live in
 * `src/instrument` with every other instrumentation event. Messages: `SpoolDropEvent` on the
 * drop channels, `SpoolRecoveryReport` (plus `dir`) on `recovered`.
 */
export const SPOOL_CHANNELS = Object.freeze({
  shed: channels.spoolShed.name,
  expired: channels.spoolExpired.name,
  corrupt: channels.spoolCorrupt.name,
  recovered: channels.spoolRecovered.name,
});

export const shedChannel = channels.spoolShed;
export const expiredChannel = channels.spoolExpired;
export const corruptChannel = channels.spoolCorrupt;
export const recoveredChannel = channels.spoolRecovered;
