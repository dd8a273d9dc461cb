/**
 * Rounds to `decimals` places. Sensors report at their own resolution (whole bpm, 0.1 °C,
 * 1e-7° of latitude ≈ 1 cm); doing the same keeps simulated data looking like field data
 * and keeps values that detectors compare reproducible to the printed digit.
 */
export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** `value` limited to [min, max]. */
export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** Moves `current` towards `target` as a first-order lag with time constant `tauMs` over `dtMs`. */
export function approach(current: number, target: number, dtMs: number, tauMs: number): number {
  return target + (current - target) * Math.exp(-Math.max(0, dtMs) / tauMs);
}
