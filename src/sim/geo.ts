/** A WGS 84 point, degrees. */
export interface LatLon {
  readonly lat: number;
  readonly lon: number;
}

/** A point in a local east/north plane around a centre, metres. */
export interface LocalPoint {
  readonly x: number;
  readonly y: number;
}

const EARTH_RADIUS_M = 6_371_008.8;
const DEG = Math.PI / 180;

/**
 * Converts between a local east/north plane (metres) and latitude/longitude with an
 * equirectangular projection around `centre`. A simulated theatre spans a few tens of
 * kilometres, where the error of this projection (well under 0.1 %) is far below GPS noise,
 * and it is cheap enough for thousands of devices per tick.
 */
export class LocalFrame {
  private readonly metresPerDegLat: number;
  private readonly metresPerDegLon: number;

  constructor(readonly centre: LatLon) {
    this.metresPerDegLat = EARTH_RADIUS_M * DEG;
    this.metresPerDegLon = EARTH_RADIUS_M * DEG * Math.cos(centre.lat * DEG);
  }

  /** Latitude/longitude of a local point. */
  toLatLon(p: LocalPoint): LatLon {
    return { lat: this.centre.lat + p.y / this.metresPerDegLat, lon: wrapLon(this.centre.lon + p.x / this.metresPerDegLon) };
  }

  /** Local point of a latitude/longitude. */
  toLocal(p: LatLon): LocalPoint {
    return { x: wrapLon(p.lon - this.centre.lon) * this.metresPerDegLon, y: (p.lat - this.centre.lat) * this.metresPerDegLat };
  }
}

/** Longitude folded into [−180, 180). */
export function wrapLon(lon: number): number {
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

/** Compass bearing (degrees true, 0 ≤ b < 360) of the vector (dx east, dy north). */
export function bearingDeg(dx: number, dy: number): number {
  const b = Math.atan2(dx, dy) / DEG;
  return normaliseDeg(b);
}

/** An angle folded into [0, 360); safe against rounding producing exactly 360. */
export function normaliseDeg(deg: number): number {
  const d = ((deg % 360) + 360) % 360;
  return d >= 360 ? 0 : d;
}

/** The point `distance` metres from `p` along compass bearing `bearing` (degrees). */
export function offset(p: LocalPoint, bearing: number, distance: number): LocalPoint {
  return { x: p.x + distance * Math.sin(bearing * DEG), y: p.y + distance * Math.cos(bearing * DEG) };
}

/** Ray-casting point-in-polygon test on `[lon, lat]` vertices (GeoJSON order, as geofences use). */
export function insidePolygon(p: LatLon, polygon: ReadonlyArray<readonly [number, number]>): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i] as readonly [number, number];
    const [xj, yj] = polygon[j] as readonly [number, number];
    if (yi > p.lat !== yj > p.lat && p.lon < ((xj - xi) * (p.lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
