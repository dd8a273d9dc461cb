/**
 * Ground height above the WGS 84 ellipsoid, metres, at a local point: gentle rolling hills
 * as a smooth function of position, so that every device at the same place reports the same
 * ground and a vehicle's altitude changes plausibly as it drives.
 */
export function terrainAltM(x: number, y: number): number {
  return 220 + 45 * Math.sin(x / 1700) + 30 * Math.cos(y / 1300) + 12 * Math.sin((x + y) / 450);
}
