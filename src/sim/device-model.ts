import type { ReadingInput } from '../device';
import type { Archetype } from './fleet-config';

/**
 * Where a model puts its readings. A callback rather than returned arrays: the fleet steps
 * thousands of devices per tick and this path should allocate nothing but the readings.
 */
export type ReadingSink = (deviceId: string, reading: ReadingInput, atMs: number) => void;

/** One simulated device's behaviour. */
export interface DeviceModel {
  readonly deviceId: string;
  readonly archetype: Archetype;
  /**
   * Advances the device to `timeMs` (called with increasing times, one call per model step)
   * and emits the readings taken at that step, all stamped `timeMs`.
   */
  step(timeMs: number, emit: ReadingSink): void;
}

/** A window of simulated time, absolute ms: `fromMs` inclusive, `untilMs` exclusive. */
export interface TimeWindow {
  readonly fromMs: number;
  readonly untilMs: number;
}

/** True when `t` lies in the window. */
export function inWindow(w: TimeWindow | undefined, t: number): boolean {
  return w !== undefined && t >= w.fromMs && t < w.untilMs;
}
