import { invalid, optionalNumber, requirePositive } from './options';

/**
 * Fixed-size windows `[k·size + offset, (k+1)·size + offset)`; each record in exactly one.
 */
export interface TumblingWindow {
  readonly kind: 'tumbling';
  readonly size: number;
  readonly offset: number;
}

/** Fixed-size windows starting every `slide` ms; each record in ⌈size/slide⌉ windows. */
export interface HoppingWindow {
  readonly kind: 'hopping';
  readonly size: number;
  readonly slide: number;
  readonly offset: number;
}

/**
 * One window per distinct record time `t` of a key: `[t − size + 1, t + 1)`, i.e. the
 * `size` ms up to and including that record ("the last 5 minutes, at every reading").
 */
export interface SlidingWindow {
  readonly kind: 'sliding';
  readonly size: number;
}

/**
 * Activity sessions: records of a key less than `gap` ms apart share a window
 * `[first record time, last record time + gap)`; a record that bridges two sessions
 * merges them.
 */
export interface SessionWindow {
  readonly kind: 'session';
  readonly gap: number;
}

export type WindowSpec = TumblingWindow | HoppingWindow | SlidingWindow | SessionWindow;

/** @example tumbling(60_000) — one-minute windows aligned to the epoch. */
export function tumbling(size: number, offset = 0): TumblingWindow {
  const s = requirePositive('tumbling', 'size', size, true);
  const o = optionalNumber('tumbling', 'offset', offset, 0, 0, true);
  if (o >= s) invalid('tumbling', 'offset', offset, `expected an offset below size ${s}`);
  return Object.freeze({ kind: 'tumbling', size: s, offset: o });
}

/** @example hopping(60_000, 10_000) — one-minute windows every ten seconds. */
export function hopping(size: number, slide: number, offset = 0): HoppingWindow {
  const s = requirePositive('hopping', 'size', size, true);
  const h = requirePositive('hopping', 'slide', slide, true);
  if (h > s) invalid('hopping', 'slide', slide, `expected a slide no larger than size ${s}`);
  const o = optionalNumber('hopping', 'offset', offset, 0, 0, true);
  if (o >= h) invalid('hopping', 'offset', offset, `expected an offset below slide ${h}`);
  return Object.freeze({ kind: 'hopping', size: s, slide: h, offset: o });
}

/** @example sliding(300_000) — at every reading, the five minutes up to it. */
export function sliding(size: number): SlidingWindow {
  return Object.freeze({ kind: 'sliding', size: requirePositive('sliding', 'size', size, true) });
}

/** @example session(120_000) — a session ends after two minutes without a record. */
export function session(gap: number): SessionWindow {
  return Object.freeze({ kind: 'session', gap: requirePositive('session', 'gap', gap, true) });
}

/** Start of the last window (of length `slide` grid) that starts at or before `time`. */
export function alignedStart(time: number, slide: number, offset: number): number {
  return time - ((((time - offset) % slide) + slide) % slide);
}

export function describeWindow(spec: WindowSpec): string {
  switch (spec.kind) {
    case 'tumbling':
      return `tumbling(${spec.size},${spec.offset})`;
    case 'hopping':
      return `hopping(${spec.size},${spec.slide},${spec.offset})`;
    case 'sliding':
      return `sliding(${spec.size})`;
    case 'session':
      return `session(${spec.gap})`;
  }
}
