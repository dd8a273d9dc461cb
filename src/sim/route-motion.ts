import type { Prng } from './prng';
import type { Route, RoutePoint } from './route';

/** How a group moves along its route: cruising legs at varying speed, with occasional halts. */
export interface MotionProfile {
  /** Cruise speed range, m/s. */
  readonly cruiseMps: readonly [number, number];
  /** Duration range of one leg at constant speed, ms. */
  readonly legMs: readonly [number, number];
  /** Probability that a leg is a halt (speed 0). */
  readonly haltChance: number;
  /** Duration range of a halt, ms. */
  readonly haltMs: readonly [number, number];
  /** No halt starts before this many ms after the start (keeps scenario timing predictable). */
  readonly noHaltBeforeMs?: number;
}

const MAX_LEGS = 256;

interface Leg {
  readonly startMs: number;
  readonly startDistance: number;
  readonly speedMps: number;
}

/** A group member's state at an instant. */
export interface MotionState extends RoutePoint {
  readonly speedMps: number;
}

/**
 * The movement of a group (a convoy, a patrol) along a route, shared by its members: each
 * member asks where the group's lead is at its own reading times, minus its place in the
 * column, so the column keeps its order and spacing. The speed profile is a list of legs
 * drawn lazily from the group's own generator; being a function of time only (not of who
 * asks, or how often), it gives the same answer whatever the order and rate of the queries.
 */
export class RouteMotion {
  private readonly legs: Leg[] = [];
  private legEnd: number;

  constructor(
    readonly route: Route,
    private readonly prng: Prng,
    private readonly profile: MotionProfile,
    private readonly startMs: number,
    startDistance = 0,
  ) {
    this.legs.push({ startMs, startDistance, speedMps: this.drawSpeed(false) });
    this.legEnd = startMs + this.drawLegMs(false);
  }

  /** The lead's distance along the route at `timeMs`. */
  distanceAt(timeMs: number): number {
    const leg = this.legAt(timeMs);
    return leg.startDistance + (leg.speedMps * (Math.max(timeMs, this.startMs) - leg.startMs)) / 1000;
  }

  /** State of a member `behindM` metres behind the lead at `timeMs`. */
  at(timeMs: number, behindM = 0): MotionState {
    const leg = this.legAt(timeMs);
    const d = leg.startDistance + (leg.speedMps * (Math.max(timeMs, this.startMs) - leg.startMs)) / 1000;
    const p = this.route.pointAt(d - behindM);
    return { x: p.x, y: p.y, headingDeg: p.headingDeg, speedMps: leg.speedMps };
  }

  private legAt(timeMs: number): Leg {
    while (timeMs >= this.legEnd) {
      const prev = this.legs[this.legs.length - 1] as Leg;
      const startDistance = prev.startDistance + (prev.speedMps * (this.legEnd - prev.startMs)) / 1000;
      // Never two halts in a row: a halt is always followed by movement.
      const halt = prev.speedMps > 0 && this.legEnd >= this.startMs + (this.profile.noHaltBeforeMs ?? 0) && this.prng.chance(this.profile.haltChance);
      this.legs.push({ startMs: this.legEnd, startDistance, speedMps: this.drawSpeed(halt) });
      this.legEnd += this.drawLegMs(halt);
      // Members query times within a tick of each other; legs hours old are never asked for
      // again, so a long run keeps a bounded history.
      if (this.legs.length > MAX_LEGS) this.legs.splice(0, this.legs.length - MAX_LEGS / 2);
    }
    // Most queries are for the newest leg or the one before; search backwards from the end.
    for (let i = this.legs.length - 1; i > 0; i--) {
      const leg = this.legs[i] as Leg;
      if (leg.startMs <= timeMs) return leg;
    }
    return this.legs[0] as Leg;
  }

  private drawSpeed(halt: boolean): number {
    return halt ? 0 : this.prng.range(this.profile.cruiseMps[0], this.profile.cruiseMps[1]);
  }

  private drawLegMs(halt: boolean): number {
    const [min, max] = halt ? this.profile.haltMs : this.profile.legMs;
    return Math.round(this.prng.range(min, max));
  }
}
