import { deviceSymbol } from '../serve';
import { formatLabel, type ClassificationLabel, type DerivedRecord, type PositionReading, type TelemetryRecord, type VigilRecord } from '../codec';

/**
 * Cursor-on-Target (CoT 2.0) events from Vigil records, for TAK (ATAK, WinTAK, WebTAK, a TAK
 * server). One XML `<event>` per position fix, unit picture or alert:
 *
 * - a device's position (`telemetry.position`): uid `vigil.<deviceId>`, type from its class
 *   (`COT_TYPES`), how `m-g` (machine, GPS), stale after `staleMs`;
 * - a unit's picture (`derived.unit-picture`): uid `vigil.unit.<unit>`, a friendly ground
 *   unit at the members' mean position, `ce` = their spread;
 * - an alert (`derived.geofence` enter/dwell, `derived.vitals` raised): type `b-a-g` (geofence
 *   breach) or `b-a-o-tbl` (trouble), and a clear (geofence exit, vitals cleared) as
 *   `b-a-o-can`, uid stable per device and condition so TAK replaces rather than piles up.
 *
 * Every event carries the record's classification label in `<remarks>` and in a
 * `<__vigil label="…"/>` detail, so it travels with the data.
 */
export interface CotEvent {
  readonly uid: string;
  readonly type: string;
  readonly how: string;
  readonly timeMs: number;
  readonly staleMs: number;
  readonly lat: number;
  readonly lon: number;
  /** Height above the ellipsoid, m; 9999999 = unknown (CoT's convention). */
  readonly hae: number;
  /** Circular and linear error, m; 9999999 = unknown. */
  readonly ce: number;
  readonly le: number;
  readonly callsign: string;
  readonly remarks: string;
  readonly label: ClassificationLabel;
}

/** MIL-STD-2525 / CoT type of a friendly device by its registry class (the id's prefix for the simulator's fleet). */
export const COT_TYPES: Readonly<Record<string, string>> = {
  soldier: 'a-f-G-U-C-I', // ground unit, combat, infantry
  vehicle: 'a-f-G-E-V', // ground equipment, vehicle
  uav: 'a-f-A-M-F-Q', // air, military, fixed wing, UAV
  ugs: 'a-f-G-E-S', // ground equipment, sensor
  unit: 'a-f-G-U-C', // ground unit, combat
  generic: 'a-f-G', // friendly ground
};

/** A device's class: `classOf` (a registry) when it knows the device, else the map's reading of its id's prefix (`deviceSymbol`), else `generic`. */
export function deviceClass(deviceId: string, classOf?: (deviceId: string) => string | undefined): string {
  return classOf?.(deviceId) ?? deviceSymbol(deviceId).deviceClass;
}

const UNKNOWN = 9_999_999;


/** What `toCotEvents` needs beyond the record. */
export interface CotContext {
  /** How long a position stays current in TAK, ms. */
  readonly staleMs: number;
  /** How long an alert stays on the map, ms. */
  readonly alertStaleMs: number;
  readonly classOf?: (deviceId: string) => string | undefined;
  /** Last known position per device, for alerts that carry none (vitals); kept up to date by `toCotEvents`. */
  readonly lastFix: Map<string, { lat: number; lon: number; hae: number }>;
}

/** The CoT events of one record (none for a record kind TAK has no use for). */
export function toCotEvents(record: VigilRecord, ctx: CotContext): CotEvent[] {
  return record.type === 'telemetry' ? telemetryEvents(record, ctx) : derivedEvents(record, ctx);
}

function telemetryEvents(r: TelemetryRecord, ctx: CotContext): CotEvent[] {
  const out: CotEvent[] = [];
  const cls = deviceClass(r.deviceId, ctx.classOf);
  for (const reading of r.readings) {
    if (reading.kind !== 'position') continue;
    const p = reading as PositionReading;
    const timeMs = r.eventTimeMs + p.offsetMs;
    const hae = p.altM ?? UNKNOWN;
    ctx.lastFix.set(r.deviceId, { lat: p.lat, lon: p.lon, hae });
    out.push({
      uid: `vigil.${r.deviceId}`, type: COT_TYPES[cls] ?? (COT_TYPES.generic as string), how: 'm-g', timeMs, staleMs: timeMs + ctx.staleMs,
      lat: p.lat, lon: p.lon, hae, ce: p.accuracyM ?? UNKNOWN, le: UNKNOWN, callsign: r.deviceId,
      remarks: `${formatLabel(r.label)} — ${cls} ${r.deviceId}${p.speedMps === null ? '' : `, ${p.speedMps.toFixed(1)} m/s`}${p.headingDeg === null ? '' : `, heading ${p.headingDeg.toFixed(0)}°`}`,
      label: r.label,
    });
  }
  return out;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function derivedEvents(r: DerivedRecord, ctx: CotContext): CotEvent[] {
  const v = r.values;
  if (r.pipeline === 'unit-picture') {
    const lat = num(v.meanLatDeg);
    const lon = num(v.meanLonDeg);
    const unit = typeof v.unit === 'string' ? v.unit : r.key.split('/')[0] ?? r.key;
    if (lat === undefined || lon === undefined) return [];
    return [{
      uid: `vigil.unit.${unit}`, type: COT_TYPES.unit as string, how: 'h-e', timeMs: r.windowEndMs, staleMs: r.windowEndMs + ctx.staleMs,
      lat, lon, hae: UNKNOWN, ce: num(v.spreadM) ?? UNKNOWN, le: UNKNOWN, callsign: unit,
      remarks: `${formatLabel(r.label)} — unit ${unit}: ${num(v.members) ?? '?'} members, spread ${(num(v.spreadM) ?? 0).toFixed(0)} m`, label: r.label,
    }];
  }
  if (r.pipeline === 'geofence') {
    const [deviceId = r.key, zone = '?', event = '?'] = r.key.split('/');
    const lat = num(v.latDeg);
    const lon = num(v.lonDeg);
    if (lat === undefined || lon === undefined) return [];
    const clear = event === 'exit';
    return [{
      uid: `vigil.alert.${deviceId}.${zone}`, type: clear ? 'b-a-o-can' : 'b-a-g', how: 'h-e', timeMs: r.windowEndMs, staleMs: r.windowEndMs + ctx.alertStaleMs,
      lat, lon, hae: UNKNOWN, ce: UNKNOWN, le: UNKNOWN, callsign: `${deviceId} ${event} ${String(v.zoneName ?? zone)}`,
      remarks: `${formatLabel(r.label)} — geofence: ${deviceId} ${event} ${String(v.zoneClass ?? '')} zone ${String(v.zoneName ?? zone)}`, label: r.label,
    }];
  }
  // Alerts of the other pipelines: key `<deviceId>/<condition>/<raised|cleared>` (vitals, vehicle-anomaly, sensor-health).
  const parts = r.key.split('/');
  if (parts.length === 3 && (parts[2] === 'raised' || parts[2] === 'cleared')) {
    const [deviceId, condition, state] = parts as [string, string, string];
    const fix = ctx.lastFix.get(deviceId);
    return [{
      uid: `vigil.alert.${deviceId}.${condition}`, type: state === 'raised' ? 'b-a-o-tbl' : 'b-a-o-can', how: 'h-e', timeMs: r.windowEndMs, staleMs: r.windowEndMs + ctx.alertStaleMs,
      lat: fix?.lat ?? 0, lon: fix?.lon ?? 0, hae: fix?.hae ?? UNKNOWN, ce: fix === undefined ? UNKNOWN : 50, le: UNKNOWN, callsign: `${deviceId} ${condition}`,
      remarks: `${formatLabel(r.label)} — ${r.pipeline}: ${deviceId} ${condition} ${state}${fix === undefined ? ' (position unknown)' : ''}`, label: r.label,
    }];
  }
  return [];
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string);
const iso = (ms: number): string => new Date(ms).toISOString();

/** The event as CoT 2.0 XML (one line, no declaration: what TAK's streaming TCP input takes). */
export function cotXml(e: CotEvent): string {
  return (
    `<event version="2.0" uid="${esc(e.uid)}" type="${esc(e.type)}" how="${esc(e.how)}" time="${iso(e.timeMs)}" start="${iso(e.timeMs)}" stale="${iso(e.staleMs)}">` +
    `<point lat="${e.lat.toFixed(7)}" lon="${e.lon.toFixed(7)}" hae="${e.hae}" ce="${e.ce}" le="${e.le}"/>` +
    `<detail><contact callsign="${esc(e.callsign)}"/><remarks>${esc(e.remarks)}</remarks><__vigil label="${esc(formatLabel(e.label))}"/></detail></event>`
  );
}
