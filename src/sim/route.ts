import { bearingDeg, type LocalPoint } from './geo';

/** Where a point `d` metres along a route lies, and which way the route goes there. */
export interface RoutePoint {
  readonly x: number;
  readonly y: number;
  /** Bearing of the route at that point, degrees true. */
  readonly headingDeg: number;
}

/**
 * A closed loop of waypoints in the local plane, walked by distance: after the last
 * waypoint it returns to the first. Loops rather than open paths so a simulation can run
 * for any length of time without devices running off the end of their world.
 */
export class Route {
  /** Total length of the loop, metres. */
  readonly length: number;
  private readonly cumulative: number[];
  private readonly headings: number[];

  constructor(readonly waypoints: readonly LocalPoint[]) {
    if (waypoints.length < 2) throw new RangeError('a route needs at least two waypoints');
    this.cumulative = [0];
    this.headings = [];
    let total = 0;
    for (let i = 0; i < waypoints.length; i++) {
      const a = waypoints[i] as LocalPoint;
      const b = waypoints[(i + 1) % waypoints.length] as LocalPoint;
      total += Math.hypot(b.x - a.x, b.y - a.y);
      this.cumulative.push(total);
      this.headings.push(bearingDeg(b.x - a.x, b.y - a.y));
    }
    this.length = total;
  }

  /** The point `distance` metres along the loop (any real number; wraps both ways). */
  pointAt(distance: number): RoutePoint {
    const d = ((distance % this.length) + this.length) % this.length;
    // Binary search for the leg holding d: routes have few waypoints, but this runs per reading.
    let lo = 0;
    let hi = this.waypoints.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.cumulative[mid] as number) <= d) lo = mid;
      else hi = mid - 1;
    }
    const a = this.waypoints[lo] as LocalPoint;
    const b = this.waypoints[(lo + 1) % this.waypoints.length] as LocalPoint;
    const legStart = this.cumulative[lo] as number;
    const legLength = (this.cumulative[lo + 1] as number) - legStart;
    const f = legLength > 0 ? (d - legStart) / legLength : 0;
    return { x: a.x + (b.x - a.x) * f, y: a.y + (b.y - a.y) * f, headingDeg: this.headings[lo] as number };
  }
}
